"""Writes for the annual settlement and the year-end close.

A settlement is drafted from the books as of the cut-off (P from the year's obligations,
C from the claims charged to the year, E and the score from the contract year), reviewed
by someone other than its preparer, and posted in both books. Posting twice changes
nothing; a surplus returned is booked as such, never netted against next year's premium.
"""

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.roles import is_administrator
from access.scope import in_scope, scope_filter
from access.sides import party_side
from accounts.models import Book
from audit.services import audit_record
from claims.selectors import counted_claims
from contracts.models import ContractYear, PremiumObligation
from contracts.services import deposit_release_post
from core.errors import Refused, lazy_format, problem
from core.people import person_name, person_of, signer_problems
from ledger.closing import year_end_close, year_end_prepare  # noqa: F401 - scheduled and demo work call them here
from ledger.models import JournalEntry
from ledger.services import Line, entry_draft_post, entry_draft_save, entry_post, fiscal_year_open

from .models import Deadline, Settlement
from .settlement import settlement_compute, terms_from_dict


def _sum(qs, field) -> Decimal:
    total = qs.aggregate(s=Sum(field))["s"]
    return total.amount if total is not None else Decimal("0.00")


def settlement_figures(*, contract_year: ContractYear) -> dict:
    """P, C, E, D and the score, as the books hold them."""
    cy = contract_year
    obligations = PremiumObligation.objects.filter(contract_year=cy)
    topups = PremiumObligation.objects.filter(contract_year__isnull=True, fund=cy.contract.fund,
                                              insurer=cy.contract.insurer, year=cy.year)
    assessment = getattr(cy, "assessment", None)
    return {
        "premium": _sum(obligations, "amount") + _sum(topups, "amount"),
        # Claims of batches still awaiting review count nowhere until a reviewer posts them.
        "claims": _sum(counted_claims().filter(charged_to=cy, settled_on__lte=_claims_until(cy)), "paid"),
        "cost": cy.operating_cost.amount,
        "deposit": _sum(obligations.filter(kind=PremiumObligation.Kind.DEPOSIT), "amount"),
        "score": assessment.score if assessment is not None else None,
    }


def _claims_until(cy: ContractYear) -> date:
    # Claims charged to year Y are those settled by Y's cut-off, plus Y−1's settled after its own.
    return cy.cutoff


@transaction.atomic
def settlement_draft(*, contract_year: ContractYear, user, as_of: date | None = None, policy_loss=None,
                     loss_reason: str = "", only_new: bool = False) -> Settlement | None:
    """Draft (or re-draft) the settlement of a contract year whose cut-off has passed.

    Prepared by a named person (a scheduled task acts for one); whoever re-drafts it with new
    figures (the loss split) becomes its preparer, so the reviewer is never the one who decided
    them. The contract year's row lock orders concurrent callers; with `only_new` a caller that
    finds a settlement already there gets None (the scheduled task counts what it made).
    """
    cy = ContractYear.objects.select_for_update().get(pk=contract_year.pk)
    label = lazy_format(_("settlement %(year)s"), year=cy)
    as_of = as_of or timezone.localdate()
    problems = signer_problems(label, made_by=user, need_reviewer=False)
    fund_book = _book("fund", cy.contract.fund)
    if not problems and not in_scope(user, fund_book):
        problems.append(problem(label, _("user"), lazy_format(_("someone who keeps book %(code)s (in their scope)"),
                                                               code=fund_book.code), user.get_username()))
    if problems:
        raise Refused(problems)
    if as_of <= cy.cutoff:
        raise Refused([problem(label, _("as_of"), lazy_format(_("a date after the cut-off %(date)s"), date=cy.cutoff),
                               as_of)])
    existing = Settlement.objects.filter(contract_year=cy).first()
    if existing is not None and only_new:
        return None
    if existing is not None and existing.status != Settlement.Status.DRAFT:
        return existing
    if policy_loss is not None and not loss_reason.strip():
        raise Refused([problem(label, _("loss_reason"), _("the reason for the policy / management split"), _("none"))])
    f = settlement_figures(contract_year=cy)
    terms = terms_from_dict(cy.settlement_terms)
    outcome = settlement_compute(terms=terms, premium=f["premium"], claims=f["claims"], cost=f["cost"],
                                 deposit=f["deposit"], score=f["score"], policy_loss=policy_loss)
    values = dict(status=Settlement.Status.DRAFT, as_of=as_of, premium=f["premium"], claims=f["claims"],
                  cost=f["cost"], deposit=f["deposit"], score=f["score"],
                  policy_loss=Decimal(str(policy_loss)) if policy_loss is not None else None,
                  loss_reason=loss_reason, terms=cy.settlement_terms, outcome=outcome.as_json())
    if existing is not None:
        for k, v in values.items():
            setattr(existing, k, v)
        existing.prepared_by = user
        existing.save()
        audit_record(action="settlement_drafted", actor=user, obj=existing, book=_book("fund", cy.contract.fund),
                     detail={"recomputed": True, "outcome": values["outcome"]})
        return existing
    try:
        with transaction.atomic():
            created = Settlement.objects.create(contract_year=cy, prepared_by=user, **values)
            audit_record(action="settlement_drafted", actor=user, obj=created, book=_book("fund", cy.contract.fund),
                         detail={"outcome": values["outcome"]})
            return created
    except IntegrityError:  # another worker drafted it a moment ago
        return Settlement.objects.get(contract_year=cy)


def settlement_draft_pending(*, contract_year: ContractYear, as_of: date, user) -> Settlement | None:
    """The scheduled draft: like settlement_draft, but one that needs the accountants' loss split, or the
    assessment score that releases the deposit, waits for them (None)."""
    try:
        return settlement_draft(contract_year=contract_year, as_of=as_of, user=user, only_new=True)
    except Refused as exc:
        if any(p["field"] in ("policy_loss", "score") for p in exc.problems):
            return None
        raise


@transaction.atomic
def settlement_review(*, settlement: Settlement, user) -> Settlement:
    """A reviewer other than its preparer checks the draft; reviewing again changes nothing."""
    s = Settlement.objects.select_for_update().get(pk=settlement.pk)
    if s.status != Settlement.Status.DRAFT:
        return s
    label = lazy_format(_("settlement %(year)s"), year=s.contract_year)
    problems = signer_problems(label, made_by=s.prepared_by_id, reviewed_by=user)
    problems += _keeps_fund_book(s, user, _("reviewed_by"))
    if problems:
        raise Refused(problems)
    s.status, s.reviewed_by = Settlement.Status.REVIEWED, user
    s.save(update_fields=["status", "reviewed_by"])
    audit_record(action="settlement_reviewed", actor=user, obj=s, book=_book("fund", s.contract_year.contract.fund))
    return s


def _keeps_fund_book(s: Settlement, user, field_name) -> list[dict]:
    book = _book("fund", s.contract_year.contract.fund)
    if user is None or in_scope(user, book):
        return []
    return [problem(lazy_format(_("settlement %(year)s"), year=s.contract_year), field_name,
                    lazy_format(_("someone who keeps book %(code)s (in their scope)"), code=book.code),
                    user.get_username())]


def _book(owner_field: str, owner) -> Book:
    return Book.objects.get(**{owner_field: owner})


def _settlement_entries(s: Settlement) -> dict[str, list[tuple[str, str, list[Line]]]]:
    """What the settlement books on each side: (key, memo, lines) for the fund's book and the insurer's."""
    cy, contract = s.contract_year, s.contract_year.contract
    o = {k: Decimal(v) for k, v in s.outcome.items()}
    year, fund, insurer = cy.year, contract.fund.name, contract.insurer.name
    sides = {"fund": [], "insurer": []}
    if o["surplus_returned"] > 0:
        amt = o["surplus_returned"]
        sides["insurer"] += [
            ("surplus-owed", f"{year}年度结算：超额结余应返还医保基金",
             [Line("6031", debit=amt), Line("224101", credit=amt, counterparty=fund)]),
            ("surplus-paid", f"{year}年度结算：返还医保基金结余",
             [Line("224101", debit=amt, counterparty=fund), Line("1002", credit=amt)])]
        sides["fund"].append(("surplus-received", f"{year}年度结算：收到承办机构返还结余（冲减大病保险支出）",
                              [Line("1003", debit=amt), Line("5101", credit=amt, counterparty=insurer)]))
    if o["surplus_carried"] > 0:
        amt = o["surplus_carried"]
        sides["insurer"].append(("surplus-carried", f"{year}年度结算：超额结余结转下年度大病保险资金",
                                 [Line("6031", debit=amt), Line("2203", credit=amt, counterparty=fund)]))
    if o["loss_fund"] > 0:
        amt = o["loss_fund"]
        sides["fund"].append(("loss-share-paid", f"{year}年度结算：分担政策性亏损",
                              [Line("5101", debit=amt, counterparty=insurer), Line("1004", credit=amt)]))
        sides["insurer"].append(("loss-share-received", f"{year}年度结算：收到基金分担的政策性亏损",
                                 [Line("1002", debit=amt), Line("6031", credit=amt, counterparty=fund)]))
    return sides


def _key(s: Settlement, key: str) -> str:
    return f"settlement:{s.contract_year_id}:{key}"


def _deposit_reference(s: Settlement) -> str:
    """The reference of the deposit payment a settlement releases, as people read it on the transfer and in
    its vouchers' 摘要 (its voucher's key is still the transfer's, transfer:<reference>)."""
    cy = s.contract_year
    return f"{cy.contract.code}-{cy.year}-保证金释放"


@transaction.atomic
def settlement_post(*, settlement: Settlement, user, on: date | None = None) -> Settlement:
    """Post a reviewed settlement in the fund's book (and pay the released deposit); posting again changes nothing.

    Its vouchers name the preparer (制单) and the reviewer (审核); whoever posts it is never its
    preparer. The insurer books its side in its own book (settlement_insurer_prepare), by its own people.
    """
    s = Settlement.objects.select_for_update(of=("self",)).select_related("contract_year__contract").get(pk=settlement.pk)
    if s.status == Settlement.Status.POSTED:
        return s
    label = lazy_format(_("settlement %(year)s"), year=s.contract_year)
    if s.status != Settlement.Status.REVIEWED:
        raise Refused([problem(label, _("status"), _("reviewed before posting"), s.get_status_display())])
    problems = signer_problems(label, made_by=s.prepared_by_id, reviewed_by=s.reviewed_by_id)
    poster = person_of(user)
    if poster is None or not person_name(poster):
        problems.append(problem(label, _("posted_by"), _("a named person"),
                                getattr(poster, "username", None) or _("nobody")))
    elif poster.pk == s.prepared_by_id:
        problems.append(problem(label, _("posted_by"), _("someone other than the preparer"), _("the preparer")))
    else:
        problems += _keeps_fund_book(s, poster, _("posted_by"))
    if problems:
        raise Refused(problems)
    cy = s.contract_year
    day = on or s.as_of
    fund_book = _book("fund", cy.contract.fund)
    fiscal_year_open(book=fund_book, year=day.year)
    keys = []
    for key, memo, lines in _settlement_entries(s)["fund"]:
        entry_post(book=fund_book, date=day, memo=memo, lines=lines, idempotency_key=_key(s, key),
                   source="settlement", made_by=s.prepared_by, reviewed_by=s.reviewed_by)
        keys.append(f"{fund_book.code}:{_key(s, key)}")
    deposit = PremiumObligation.objects.filter(contract_year=cy, kind=PremiumObligation.Kind.DEPOSIT).first()
    o = {k: Decimal(v) for k, v in s.outcome.items()}
    if deposit is not None:
        if o["deposit_forfeited"] > 0 and deposit.forfeited.amount != o["deposit_forfeited"]:
            deposit.forfeited = o["deposit_forfeited"]
            deposit.save(update_fields=["forfeited"])
        if o["deposit_released"] > 0:
            reference = _deposit_reference(s)
            deposit_release_post(obligation=deposit, reference=reference, amount=o["deposit_released"],
                                 on=day, made_by=s.prepared_by, reviewed_by=s.reviewed_by)
            keys.append(f"transfer {reference}")
    s.status, s.posted_at, s.posted_on, s.entry_keys, s.posted_by = (
        Settlement.Status.POSTED, timezone.now(), day, keys, poster)
    s.save(update_fields=["status", "posted_at", "posted_on", "entry_keys", "posted_by"])
    audit_record(action="settlement_posted", actor=user, obj=s, book=fund_book, detail={"entries": keys})
    return s


@transaction.atomic
def settlement_insurer_prepare(*, settlement: Settlement, user) -> list[JournalEntry]:
    """The insurer's accountant drafts the posted settlement's entries in the insurer's own book, dated as
    the fund posted it, for the insurer's reviewer (settlement_insurer_approve). Again: nothing new."""
    s = Settlement.objects.select_for_update(of=("self",)).select_related("contract_year__contract").get(pk=settlement.pk)
    label = lazy_format(_("settlement %(year)s"), year=s.contract_year)
    contract = s.contract_year.contract
    if s.status != Settlement.Status.POSTED:
        raise Refused([problem(label, _("status"), _("posted in the fund's book first"), s.get_status_display())])
    if party_side(user, fund=contract.fund, insurer=contract.insurer) != "insurer":
        raise Refused([problem(label, _("user"), lazy_format(_("an accountant of %(party)s"), party=contract.insurer),
                               getattr(user, "username", ""))])
    book = _book("insurer", contract.insurer)
    day = s.posted_on or s.as_of
    fiscal_year_open(book=book, year=day.year)
    drafts = []
    for key, memo, lines in _settlement_entries(s)["insurer"]:
        existing = JournalEntry.objects.filter(book=book, idempotency_key=_key(s, key)).first()
        drafts.append(existing or entry_draft_save(book=book, date=day, memo=memo, lines=lines, made_by=user,
                                                   source="settlement", idempotency_key=_key(s, key)))
    return drafts


@transaction.atomic
def settlement_insurer_approve(*, settlement: Settlement, user) -> list[JournalEntry]:
    """The insurer's reviewer posts the settlement's drafts in the insurer's book (never their own)."""
    s = Settlement.objects.select_related("contract_year__contract").get(pk=settlement.pk)
    book = _book("insurer", s.contract_year.contract.insurer)
    drafts = JournalEntry.objects.filter(book=book, idempotency_key__startswith=f"settlement:{s.contract_year_id}:",
                                         status=JournalEntry.Status.DRAFT).order_by("pk")
    if not drafts:
        raise Refused([problem(lazy_format(_("settlement %(year)s"), year=s.contract_year), _("status"),
                               _("insurer's entries awaiting review"), _("none"))])
    return [entry_draft_post(entry=e, reviewed_by=user) for e in drafts]


@transaction.atomic
def settlement_delete(*, settlement: Settlement, user) -> None:
    """Withdraw a draft settlement: its preparer's or an administrator's act, recorded with its figures."""
    s = Settlement.objects.select_for_update().get(pk=settlement.pk)
    label = lazy_format(_("settlement %(year)s"), year=s.contract_year)
    who = person_of(user)
    problems = []
    if s.status != Settlement.Status.DRAFT:
        problems.append(problem(label, _("status"), _("a draft"), s.get_status_display()))
    if who is None or not (who.pk == s.prepared_by_id or is_administrator(who)):
        problems.append(problem(label, _("user"), _("the preparer or an administrator"),
                                getattr(who, "username", None) or _("nobody")))
    if problems:
        raise Refused(problems)
    audit_record(action="deleted", actor=who, obj=s, book=_book("fund", s.contract_year.contract.fund),
                 detail={"status": s.status, "outcome": s.outcome, "prepared_by": _username(s.prepared_by)})
    s.delete()


def _username(user) -> str:
    return user.get_username() if user is not None else ""


# -- scheduled work ------------------------------------------------------------------


def settlements_due_draft(*, today: date, acts_for) -> int:
    """Draft every settlement whose cut-off passed, prepared for the named person the schedule acts for;
    returns how many were newly drafted (each waits for a reviewer)."""
    made = 0
    # A schedule acts for one person: the contract years of the funds whose books they keep (each region's
    # schedule names its own responsible accountant).
    due = scope_filter(ContractYear.objects.filter(cutoff__lt=today, settlement__isnull=True), acts_for)
    for cy in due:
        with transaction.atomic():
            made += settlement_draft_pending(contract_year=cy, as_of=today, user=acts_for) is not None
    return made


@transaction.atomic
def deadlines_check(*, today: date) -> int:
    """Record report-due and settle-due dates that passed with no posted settlement; returns new ones."""
    made = 0
    for cy in ContractYear.objects.filter(report_due__lt=today).exclude(settlement__status=Settlement.Status.POSTED):
        for kind, due in ((Deadline.Kind.REPORT, cy.report_due), (Deadline.Kind.SETTLE, cy.settle_due)):
            if due < today:
                made += int(Deadline.objects.get_or_create(contract_year=cy, kind=kind,
                                                           defaults={"due": due, "noticed_on": today})[1])
    return made
