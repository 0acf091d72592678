"""Writes for the annual settlement and the year-end close.

A settlement is drafted from the books as of the cut-off (P from the year's obligations,
C from the claims charged to the year, E and the score from the contract year), reviewed
by someone other than its preparer, and posted in both books. Posting twice changes
nothing; a surplus returned is booked as such, never netted against next year's premium.

What the settlement leaves to the next contract year Y+1 is an obligation of that year: a surplus
carried into the next year's fund (part of Y+1's P, paid by carry in both books), and, where the terms
say so, the fund's share of a policy loss (paid with Y+1's premium, not part of its P). The premium P is
what was owed; what was still unpaid by the as-of date is settled only on the preparer's recorded
decision, and netted in the settlement report.
"""

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, models, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.roles import is_administrator
from access.scope import in_scope, scope_filter
from access.sides import party_side
from accounts.models import Book
from audit.services import audit_record
from claims.selectors import counted_claims
from contracts.models import ContractYear, PremiumObligation, PremiumTransfer
from contracts.selectors import premium_status
from contracts.services import (
    carry_transfer_confirm,
    carry_transfer_post,
    deposit_release_post,
    settlement_obligation_add,
)
from core.errors import Refused, lazy_format, problem
from core.people import person_name, person_of, signer_problems
from ledger.closing import year_end_close, year_end_prepare  # noqa: F401 - scheduled and demo work call them here
from ledger.models import JournalEntry
from ledger.services import Line, entry_draft_post, entry_draft_save, entry_post, fiscal_year_open

from .models import Deadline, Settlement
from .settlement import settlement_compute, terms_from_dict

# Obligations of a contract year that are not its premium: the prior year's policy-loss share.
NOT_PREMIUM = (PremiumObligation.Kind.LOSS,)


def _sum(qs, field) -> Decimal:
    total = qs.aggregate(s=Sum(field))["s"]
    return total.amount if total is not None else Decimal("0.00")


def settlement_figures(*, contract_year: ContractYear, as_of: date | None = None) -> dict:
    """P, C, E, D and the score, as the books hold them; and what of P (the deposit apart, which the
    settlement itself releases) the fund had paid by `as_of` (default today) and still owes.

    P counts every obligation of the year but a prior year's policy-loss share (it compensates that
    year): tranches, top-ups, the deposit, and a surplus the prior year carried into this year's fund.
    Paid counts transfers a reviewer posted on either side (received or in transit), as premium_status."""
    cy = contract_year
    as_of = as_of or timezone.localdate()
    obligations = PremiumObligation.objects.filter(contract_year=cy).exclude(kind__in=NOT_PREMIUM)
    topups = PremiumObligation.objects.filter(contract_year__isnull=True, fund=cy.contract.fund,
                                              insurer=cy.contract.insurer, year=cy.year)
    assessment = getattr(cy, "assessment", None)
    rows = [r for r in premium_status(fund=cy.contract.fund, insurer=cy.contract.insurer, year=cy.year, as_of=as_of)
            if r.obligation.contract_year_id in (cy.pk, None)
            and r.obligation.kind not in (PremiumObligation.Kind.DEPOSIT, *NOT_PREMIUM)]
    zero = Decimal("0.00")
    return {
        "premium": _sum(obligations, "amount") + _sum(topups, "amount"),
        # Claims of batches still awaiting review count nowhere until a reviewer posts them.
        "claims": _sum(counted_claims().filter(charged_to=cy, settled_on__lte=_claims_until(cy)), "paid"),
        "cost": cy.operating_cost.amount,
        "deposit": _sum(obligations.filter(kind=PremiumObligation.Kind.DEPOSIT), "amount"),
        "score": assessment.score if assessment is not None else None,
        "premium_paid": sum((r.received.amount + r.in_transit.amount for r in rows), zero),
        "premium_unpaid": sum((r.shortfall.amount for r in rows), zero),
    }


def _claims_until(cy: ContractYear) -> date:
    # Claims charged to year Y are those settled by Y's cut-off, plus Y−1's settled after its own.
    return cy.cutoff


@transaction.atomic
def settlement_draft(*, contract_year: ContractYear, user, as_of: date | None = None, policy_loss=None,
                     loss_reason: str = "", only_new: bool = False, unpaid_reason: str | None = None
                     ) -> Settlement | None:
    """Draft (or re-draft) the settlement of a contract year whose cut-off has passed.

    Prepared by a named person (a scheduled task acts for one); whoever re-drafts it with new
    figures (the loss split) becomes its preparer, so the reviewer is never the one who decided
    them. The contract year's row lock orders concurrent callers; with `only_new` a caller that
    finds a settlement already there gets None (the scheduled task counts what it made).

    Premium still unpaid by `as_of` (the deposit apart) is refused unless the preparer decides, with a
    reason (`unpaid_reason`), to settle on the premium owed with the unpaid part netted (settlement_netting);
    a re-draft without a new reason keeps the draft's, decided again by whoever re-drafts it.
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
    f = settlement_figures(contract_year=cy, as_of=as_of)
    unpaid = f["premium_unpaid"]
    if unpaid_reason is None:
        unpaid_reason = existing.unpaid_reason if existing is not None else ""
    if not unpaid:
        unpaid_reason = ""
    elif not unpaid_reason.strip():
        raise Refused([problem(label, _("unpaid_premium"),
                               lazy_format(_("premium paid in full by %(date)s, or the preparer's decision with a "
                                             "reason to settle on the premium owed, the unpaid part netted"),
                                           date=as_of),
                               lazy_format(_("owed %(owed)s, paid %(paid)s, unpaid %(unpaid)s"),
                                           owed=f"{f['premium_paid'] + unpaid:,.2f}", paid=f"{f['premium_paid']:,.2f}",
                                           unpaid=f"{unpaid:,.2f}"))])
    terms = terms_from_dict(cy.settlement_terms)
    outcome = settlement_compute(terms=terms, premium=f["premium"], claims=f["claims"], cost=f["cost"],
                                 deposit=f["deposit"], score=f["score"], policy_loss=policy_loss)
    values = dict(status=Settlement.Status.DRAFT, as_of=as_of, premium=f["premium"], claims=f["claims"],
                  cost=f["cost"], deposit=f["deposit"], score=f["score"],
                  policy_loss=Decimal(str(policy_loss)) if policy_loss is not None else None,
                  loss_reason=loss_reason, terms=cy.settlement_terms, outcome=outcome.as_json(),
                  premium_paid=f["premium_paid"], premium_unpaid=unpaid, unpaid_reason=unpaid_reason.strip())
    if existing is not None:
        for k, v in values.items():
            setattr(existing, k, v)
        existing.prepared_by = user
        existing.save()
        audit_record(action="settlement_drafted", actor=user, obj=existing, book=_book("fund", cy.contract.fund),
                     detail={"recomputed": True, "outcome": values["outcome"], **_unpaid_detail(values)})
        return existing
    try:
        with transaction.atomic():
            created = Settlement.objects.create(contract_year=cy, prepared_by=user, **values)
            audit_record(action="settlement_drafted", actor=user, obj=created, book=_book("fund", cy.contract.fund),
                         detail={"outcome": values["outcome"], **_unpaid_detail(values)})
            return created
    except IntegrityError:  # another worker drafted it a moment ago
        return Settlement.objects.get(contract_year=cy)


def _unpaid_detail(values: dict) -> dict:
    if not values["premium_unpaid"]:
        return {}
    return {"premium_paid": f"{values['premium_paid']:.2f}", "premium_unpaid": f"{values['premium_unpaid']:.2f}",
            "unpaid_decision": "settle on the premium owed; the unpaid part netted",
            "unpaid_reason": values["unpaid_reason"]}


def settlement_draft_pending(*, contract_year: ContractYear, as_of: date, user) -> Settlement | None:
    """The scheduled draft: like settlement_draft, but one that needs the accountants' loss split, or the
    assessment score that releases the deposit, or a decision on premium still unpaid, waits for them (None)."""
    try:
        return settlement_draft(contract_year=contract_year, as_of=as_of, user=user, only_new=True)
    except Refused as exc:
        if any(p["field"] in ("policy_loss", "score", "unpaid_premium") for p in exc.problems):
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
        # Carried into Y+1's fund: the insurer owes it to the fund until it is applied as Y+1's premium
        # (carry_transfer_post / carry_transfer_confirm); the fund holds it as an advance with the insurer.
        amt = o["surplus_carried"]
        sides["insurer"].append(("surplus-carried", f"{year}年度结算：超额结余结转{year + 1}年度大病保险资金（应付医保基金）",
                                 [Line("6031", debit=amt), Line("224101", credit=amt, counterparty=fund)]))
        sides["fund"].append(("surplus-carried", f"{year}年度结算：超额结余留存承办机构，结转{year + 1}年度大病保险资金",
                              [Line("1101", debit=amt),  # no counterparty: see contracts.services._carry_lines
                               Line("5101", credit=amt, counterparty=insurer)]))
    if o["loss_fund"] > 0 and _loss_paid_now(s):
        amt = o["loss_fund"]
        sides["fund"].append(("loss-share-paid", f"{year}年度结算：分担政策性亏损",
                              [Line("5101", debit=amt, counterparty=insurer), Line("1004", credit=amt)]))
        sides["insurer"].append(("loss-share-received", f"{year}年度结算：收到基金分担的政策性亏损",
                                 [Line("1002", debit=amt), Line("6031", credit=amt, counterparty=fund)]))
    return sides


def _loss_paid_now(s: Settlement) -> bool:
    """The fund pays its loss share at the settlement (terms `policy_loss_settled_by` paid, the default)."""
    return s.terms.get("policy_loss_settled_by", "paid") == "paid"


def next_contract_year(cy: ContractYear) -> ContractYear | None:
    """The contract year Y+1 of the same fund and insurer (the same contract's first), or None."""
    return (ContractYear.objects.filter(contract__fund=cy.contract.fund, contract__insurer=cy.contract.insurer,
                                        year=cy.year + 1)
            .order_by(models.Case(models.When(contract=cy.contract, then=0), default=1), "pk").first())


def _carry_reference(s: Settlement) -> str:
    cy = s.contract_year
    return f"{cy.contract.code}-{cy.year}-结转结余"


def _loss_due(nxt: ContractYear, day: date) -> date:
    """The fund's loss share is due with Y+1's first tranche due on or after the posting date (else Dec 31)."""
    dues = sorted(date.fromisoformat(str(t["due"])) for t in nxt.tranches)
    return next((d for d in dues if d >= day), date(nxt.year, 12, 31))


def _next_year_obligations(s: Settlement, day: date) -> list[str]:
    """What the settlement leaves to Y+1: the carried surplus (paid by carry at once) and the fund's loss share
    owed with Y+1's premium. Refused, writing nothing, when Y+1 has no contract year to take them."""
    o = {k: Decimal(v) for k, v in s.outcome.items()}
    carried = o["surplus_carried"]
    loss = o["loss_fund"] if not _loss_paid_now(s) else Decimal(0)
    if not carried and not loss:
        return []
    cy = s.contract_year
    nxt = next_contract_year(cy)
    if nxt is None:
        what = _("the surplus carried into next year's fund") if carried else _("the fund's loss share owed "
                                                                                "with next year's premium")
        raise Refused([problem(lazy_format(_("settlement %(year)s"), year=cy), _("next contract year"),
                               lazy_format(_("a contract year %(year)s of %(fund)s × %(insurer)s to take %(what)s"),
                                           year=cy.year + 1, fund=cy.contract.fund, insurer=cy.contract.insurer,
                                           what=what),
                               _("none"))])
    y, code, keys = cy.year, cy.contract.code, []
    source = f"{y}年度结算（{code}）"
    if carried:
        ob = settlement_obligation_add(
            contract_year=nxt, kind=PremiumObligation.Kind.CARRIED, key=f"{nxt.contract.code}/{nxt.year}/carried/{y}",
            amount=carried, due_date=day, source=source,
            description=f"{y}年度结转结余计入{nxt.year}年度大病保险资金（以结转方式拨付，非现金）")
        reference = _carry_reference(s)
        carry_transfer_post(obligation=ob, reference=reference, on=day, made_by=s.prepared_by,
                            reviewed_by=s.reviewed_by)
        keys += [f"obligation {ob.key}", f"transfer {reference}"]
    if loss:
        ob = settlement_obligation_add(
            contract_year=nxt, kind=PremiumObligation.Kind.LOSS, key=f"{nxt.contract.code}/{nxt.year}/loss/{y}",
            amount=loss, due_date=_loss_due(nxt, day), source=source,
            description=f"{y}年度政策性亏损基金分担部分，随{nxt.year}年度保费拨付（不计入{nxt.year}年度保费）")
        keys.append(f"obligation {ob.key}")
    return keys


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
    keys += _next_year_obligations(s, day)
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
    carry = _carry_transfer(s)
    if carry is not None:  # the carried surplus applied as next year's premium, on the insurer's side
        drafts.append(carry_transfer_confirm(transfer=carry, user=user).insurer_entry)
    return drafts


def _carry_transfer(s: Settlement) -> PremiumTransfer | None:
    return PremiumTransfer.objects.filter(reference=_carry_reference(s)).first()


@transaction.atomic
def settlement_insurer_approve(*, settlement: Settlement, user) -> list[JournalEntry]:
    """The insurer's reviewer posts the settlement's drafts in the insurer's book (never their own)."""
    s = Settlement.objects.select_related("contract_year__contract").get(pk=settlement.pk)
    book = _book("insurer", s.contract_year.contract.insurer)
    carry = _carry_transfer(s)
    keys = models.Q(idempotency_key__startswith=f"settlement:{s.contract_year_id}:")
    if carry is not None:
        keys |= models.Q(pk=carry.insurer_entry_id)
    drafts = JournalEntry.objects.filter(keys, book=book, status=JournalEntry.Status.DRAFT).order_by("pk")
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
