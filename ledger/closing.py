"""The year-end close (年末结转): income and expenditure into net assets, prepared by one person and
approved by another, then the year closed for good and the next one opened.

Fund books close into 3001 一般基金结余, insurer books into 4103 本年利润.
"""

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from access.scope import in_scope
from accounts.models import Account, Book
from audit.services import audit_record
from core.errors import Refused, lazy_format, problem
from core.money import to_fen
from core.people import signer_problems

from . import chain
from .models import AccountBalance, JournalEntry, Period
from .services import Line, entry_draft_delete, entry_draft_post, entry_draft_save, fiscal_year_open, year_close


def _closing_lines(book: Book, year: int) -> list[Line]:
    """The year's income and expenditure moved into net assets: 3001 一般基金结余 (fund), 4103 本年利润 (insurer)."""
    target = "3001" if book.kind == Book.Kind.FUND else "4103"
    leaves = {a.pk: a for a in Account.objects.filter(book=book, children__isnull=True, type__in=["income", "expense"])}
    sums = {}
    for row in AccountBalance.objects.filter(book=book, period__year=year, account__in=leaves).values(
            "account").annotate(dr=Sum("debit"), cr=Sum("credit")):
        sums[leaves[row["account"]]] = (to_fen(row["dr"]), to_fen(row["cr"]))
    lines, net = [], 0  # net > 0: a credit to net assets
    for acc, (dr, cr) in sorted(sums.items(), key=lambda kv: kv[0].code):
        balance = cr - dr  # income normally credit, expense normally debit
        if balance == 0:
            continue
        if balance > 0:
            lines.append(Line(acc.code, debit=Decimal(balance) / 100, memo="年末结转"))
        else:
            lines.append(Line(acc.code, credit=Decimal(-balance) / 100, memo="年末结转"))
        net += balance
    if net > 0:
        lines.append(Line(target, credit=Decimal(net) / 100, memo="年末结转"))
    elif net < 0:
        lines.append(Line(target, debit=Decimal(-net) / 100, memo="年末结转"))
    # 借 before 贷, as a 记账凭证 is written and read.
    return sorted(lines, key=lambda line: line.debit is None)


def _year_final(book: Book, year: int) -> bool:
    periods = Period.objects.filter(book=book, year=year)
    return periods.exists() and not periods.exclude(status=Period.Status.FINAL).exists()


def _closing_key(year: int) -> str:
    return f"year-end:{year}"


@transaction.atomic
def year_end_prepare(*, book: Book, year: int, by) -> JournalEntry | None:
    """Prepare the year-end closing entry (年末结转) as a draft for a reviewer, by a named person
    (the scheduled close acts for one). None when the year is closed already or moved nothing.

    Preparing again brings the draft up to date with the books. Refused while other drafts are
    left in the year: they must be posted or withdrawn first.
    """
    book = Book.objects.select_for_update(no_key=True).get(pk=book.pk)
    if _year_final(book, year):
        return None
    problems = signer_problems(f"book {book.code} year {year}", made_by=by, need_reviewer=False)
    if not problems and not in_scope(by, book):
        problems.append(problem(lazy_format(_("book %(code)s year %(year)s"), code=book.code, year=year), _("made_by"),
                                lazy_format(_("someone who keeps book %(code)s (in their scope)"), code=book.code),
                                by.get_username()))
    if problems:
        raise Refused(problems)
    key = _closing_key(year)
    draft = JournalEntry.objects.filter(book=book, idempotency_key=key, status=JournalEntry.Status.DRAFT).first()
    others = JournalEntry.objects.filter(book=book, fiscal_year=year, status=JournalEntry.Status.DRAFT)
    if draft is not None:
        others = others.exclude(pk=draft.pk)
    left = list(others[:20])
    if left:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code),
                               lazy_format(_("year %(year)s"), year=year),
                               _("no draft entries left in it (post or delete them first)"),
                               lazy_format(_("draft #%(id)s dated %(date)s «%(memo)s»"), id=d.pk, date=d.date,
                                           memo=d.memo)) for d in left])
    lines = _closing_lines(book, year)
    if not lines:
        if draft is not None:
            entry_draft_delete(entry=draft, by=draft.made_by)
        return None
    fiscal_year_open(book=book, year=year)
    entry = entry_draft_save(book=book, date=date(year, 12, 31), memo=f"{year}年末结转收支至净资产", lines=lines,
                             made_by=by if draft is None else draft.made_by, entry=draft, source="year-end close",
                             idempotency_key=key)
    audit_record(action="year_end_prepared", actor=by, obj=entry, book=book, detail={"year": year})
    return entry


@transaction.atomic
def year_end_close(*, book: Book, year: int, by) -> JournalEntry | None:
    """The reviewer approves the year-end close: posts the prepared closing entry (never their own),
    closes the year for good and opens the next; balances carry into it by construction.

    Refused when the books moved since the entry was prepared (prepare it again), or when the
    year moved income or expenditure and nobody prepared its closing entry. Running it again
    changes nothing.
    """
    book = Book.objects.select_for_update(no_key=True).get(pk=book.pk)
    key = _closing_key(year)
    if _year_final(book, year):
        return JournalEntry.objects.filter(book=book, idempotency_key=key).first()
    label = lazy_format(_("book %(code)s year %(year)s"), code=book.code, year=year)
    problems = [p for p in signer_problems(label, made_by=None, reviewed_by=by) if p["field"] != "made_by"]
    if by is not None and not in_scope(by, book):
        problems.append(problem(label, _("reviewed_by"),
                                lazy_format(_("someone who keeps book %(code)s (in their scope)"), code=book.code),
                                by.get_username()))
    draft = JournalEntry.objects.filter(book=book, idempotency_key=key, status=JournalEntry.Status.DRAFT).first()
    lines = _closing_lines(book, year)
    if lines and draft is None:
        problems.append(problem(label, _("closing entry"), _("a closing entry prepared for review (year_end_prepare)"),
                                _("none")))
    elif draft is not None:
        wanted = chain.content_digest(entry_date=date(year, 12, 31), memo=draft.memo, lines=[
            chain.LineContent(ln.account, to_fen(ln.debit or 0), to_fen(ln.credit or 0), ln.memo, ln.counterparty)
            for ln in lines])
        if wanted != draft.content_digest:
            problems.append(problem(label, _("closing entry"), _("the balances it was prepared from"),
                                    _("the books moved since: prepare it again")))
    if problems:
        raise Refused(problems)
    entry = entry_draft_post(entry=draft, reviewed_by=by) if draft is not None else None
    year_close(book=book, year=year, by=by)
    fiscal_year_open(book=book, year=year + 1)
    return entry
