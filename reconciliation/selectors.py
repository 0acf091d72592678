"""Reads across the books: what awaits a person's review (their notice on the admin's front page)."""

from dataclasses import dataclass

from django.db.models import Prefetch
from django.urls import reverse
from django.utils.translation import gettext as _

from access.scope import scope_filter
from claims.models import ClaimBatch
from ledger.models import JournalEntry

from .models import Settlement


@dataclass(frozen=True)
class Awaiting:
    label: str
    count: int
    url: str


def awaiting_review(*, user) -> list[Awaiting]:
    """What someone else prepared and this user may approve, in the books of their scope; and, for whoever
    prepares, their own drafts still waiting for a reviewer. Scheduled drafts (settlements after March 31,
    year-end closing entries) show here the morning after the task ran."""
    items = []
    entries = scope_filter(JournalEntry.objects.filter(status=JournalEntry.Status.DRAFT), user)
    if user.has_perm("ledger.post_journalentry"):
        n = entries.exclude(made_by=user).count()
        items.append(Awaiting(_("Vouchers awaiting review (transfers, reversals and year-end closes included)"), n,
                              reverse("admin:ledger_journalentry_changelist") + "?status__exact=draft"))
        n = scope_filter(ClaimBatch.objects.filter(status=ClaimBatch.Status.PREPARED), user).exclude(
            prepared_by=user).count()
        items.append(Awaiting(_("Claims batches awaiting review"), n,
                              reverse("admin:claims_claimbatch_changelist") + "?status__exact=prepared"))
    if user.has_perm("reconciliation.approve_settlement"):
        settlements = scope_filter(Settlement.objects.exclude(status=Settlement.Status.POSTED), user)
        n = settlements.exclude(prepared_by=user).count()
        items.append(Awaiting(_("Settlements awaiting review or posting"), n, reverse("admin:reconciliation_settlement_changelist")))
    if user.has_perm("ledger.add_journalentry"):
        n = entries.filter(made_by=user).count()
        items.append(Awaiting(_("Vouchers I prepared, awaiting someone else's review"), n,
                              reverse("admin:ledger_journalentry_changelist") + "?status__exact=draft"))
    return [i for i in items if i.count]


# -- the bank reconciliation workspace -------------------------------------------------------------------

@dataclass(frozen=True)
class PostingRow:
    """A posting on the right side of the workspace. `selectable`: a candidate for matching; `counted`: in
    this month's 余额调节表 as 企业已记银行未记 (a posting carried from last month is selectable, not counted;
    one matched on another month's statement is counted, not selectable)."""

    posting: object
    selectable: bool
    counted: bool

    @property
    def fen(self) -> int:
        return int(self.posting.debit.amount * 100) - int(self.posting.credit.amount * 100)

    @property
    def amount(self):
        from core.money import from_fen

        return from_fen(self.fen)


@dataclass(frozen=True)
class MatchedGroup:
    lines: list
    postings: list
    by: str
    at: object

    @property
    def amount(self):
        return sum((ln.amount for ln in self.lines[1:]), self.lines[0].amount)


@dataclass(frozen=True)
class BankWorkspace:
    statement: object
    lines: list  # unmatched bank lines
    postings: list  # PostingRow
    suggestions: list
    matched: list  # MatchedGroup
    reconciliation: object  # bank.Reconciliation
    lines_in: object
    lines_out: object
    postings_in: object
    postings_out: object

    @property
    def difference(self):
        r = self.reconciliation
        return r.adjusted_bank - r.adjusted_book


def bank_workspace(*, statement) -> BankWorkspace:
    """Everything the workspace shows for one statement (one bank account × month), read in one go: the unmatched
    lines, the postings that may still be matched or that the 余额调节表 counts, the suggestions, the matches
    made (who, when) and the 余额调节表 itself — the same figures as `bank_reconciliation`."""
    from core.money import from_fen
    from ledger.models import Posting

    from .bank import bank_candidates, bank_match_suggest, bank_reconciliation
    from .models import BankLine

    r = bank_reconciliation(statement=statement)
    counted = {p.pk for p in r.booked_in_not_in_bank + r.booked_out_not_in_bank}
    pool = {p.pk: p for p in bank_candidates(statement=statement)}
    rows = [PostingRow(p, True, p.pk in counted) for p in pool.values()]
    rows += [PostingRow(p, False, True) for p in r.booked_in_not_in_bank + r.booked_out_not_in_bank
             if p.pk not in pool]
    rows.sort(key=lambda row: (row.posting.entry.date, row.posting.entry_id, row.posting.line))
    lines = sorted(r.bank_in_not_booked + r.bank_out_not_booked, key=lambda ln: ln.line)
    matched_lines = (BankLine.objects.filter(statement=statement, matched__isnull=False).distinct()
                     .prefetch_related(Prefetch("matched", Posting.objects.select_related("entry")))
                     .order_by("line"))
    groups: dict = {}
    for ln in matched_lines:
        key = frozenset(p.pk for p in ln.matched.all())
        g = groups.setdefault(key, {"lines": [], "postings": sorted(ln.matched.all(), key=lambda p: p.pk)})
        g["lines"].append(ln)
    matched = [MatchedGroup(g["lines"], g["postings"], g["lines"][0].matched_by_shown, g["lines"][0].matched_at)
               for g in groups.values()]

    def total(fens):
        return from_fen(sum(fens))

    return BankWorkspace(
        statement=statement, lines=lines, postings=rows, suggestions=bank_match_suggest(statement=statement),
        matched=matched, reconciliation=r,
        lines_in=total(int(ln.amount.amount * 100) for ln in r.bank_in_not_booked),
        lines_out=total(-int(ln.amount.amount * 100) for ln in r.bank_out_not_booked),
        postings_in=total(row.fen for row in rows if row.counted and row.fen > 0),
        postings_out=total(-row.fen for row in rows if row.counted and row.fen < 0))
