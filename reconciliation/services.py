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

from accounts.models import Account, Book
from audit.services import audit_record
from claims.models import Claim
from contracts.models import ContractYear, PremiumObligation
from contracts.services import transfer_record
from core.errors import Refused, problem
from core.money import to_fen
from ledger.models import AccountBalance, JournalEntry, Period
from ledger.services import Line, entry_post, fiscal_year_open, year_close

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
        "claims": _sum(Claim.objects.filter(charged_to=cy, settled_on__lte=_claims_until(cy)), "paid"),
        "cost": cy.operating_cost.amount,
        "deposit": _sum(obligations.filter(kind=PremiumObligation.Kind.DEPOSIT), "amount"),
        "score": assessment.score if assessment is not None else None,
    }


def _claims_until(cy: ContractYear) -> date:
    # Claims charged to year Y are those settled by Y's cut-off, plus Y−1's settled after its own.
    return cy.cutoff


@transaction.atomic
def settlement_draft(*, contract_year: ContractYear, as_of: date | None = None, policy_loss=None,
                     loss_reason: str = "", user=None, only_new: bool = False) -> Settlement | None:
    """Draft (or re-draft) the settlement of a contract year whose cut-off has passed.

    The contract year's row lock orders concurrent callers; with `only_new` a caller that
    finds a settlement already there gets None (the scheduled task counts what it made).
    """
    cy = ContractYear.objects.select_for_update().get(pk=contract_year.pk)
    label = f"settlement {cy}"
    as_of = as_of or timezone.localdate()
    if as_of <= cy.cutoff:
        raise Refused([problem(label, "as_of", f"a date after the cut-off {cy.cutoff}", as_of)])
    existing = Settlement.objects.filter(contract_year=cy).first()
    if existing is not None and only_new:
        return None
    if existing is not None and existing.status != Settlement.Status.DRAFT:
        return existing
    if policy_loss is not None and not loss_reason.strip():
        raise Refused([problem(label, "loss_reason", "the reason for the policy / management split", "none")])
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


def settlement_draft_pending(*, contract_year: ContractYear, as_of: date, user=None) -> Settlement | None:
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
    s = Settlement.objects.select_for_update().get(pk=settlement.pk)
    if s.status != Settlement.Status.DRAFT:
        return s
    if user is None or (s.prepared_by_id is not None and s.prepared_by_id == user.pk):
        raise Refused([problem(f"settlement {s.contract_year}", "reviewed_by", "a reviewer other than the preparer",
                               "the preparer" if user else "nobody")])
    s.status, s.reviewed_by = Settlement.Status.REVIEWED, user
    s.save(update_fields=["status", "reviewed_by"])
    audit_record(action="settlement_reviewed", actor=user, obj=s, book=_book("fund", s.contract_year.contract.fund))
    return s


def _book(owner_field: str, owner) -> Book:
    return Book.objects.get(**{owner_field: owner})


@transaction.atomic
def settlement_post(*, settlement: Settlement, on: date | None = None, user=None) -> Settlement:
    """Post a reviewed settlement in both books; posting again changes nothing."""
    s = Settlement.objects.select_for_update().select_related("contract_year__contract").get(pk=settlement.pk)
    if s.status == Settlement.Status.POSTED:
        return s
    if s.status != Settlement.Status.REVIEWED:
        raise Refused([problem(f"settlement {s.contract_year}", "status", "reviewed before posting", s.status)])
    cy = s.contract_year
    contract = cy.contract
    o = {k: Decimal(v) for k, v in s.outcome.items()}
    day = on or s.as_of
    fund_book, insurer_book = _book("fund", contract.fund), _book("insurer", contract.insurer)
    for book in (fund_book, insurer_book):
        fiscal_year_open(book=book, year=day.year)
    keys = []
    base = f"settlement:{cy.pk}"

    def post(book, key, memo, lines):
        entry_post(book=book, date=day, memo=memo, lines=lines, idempotency_key=f"{base}:{key}",
                   source="settlement", made_by=s.prepared_by, reviewed_by=s.reviewed_by)
        keys.append(f"{book.code}:{base}:{key}")

    year = cy.year
    if o["surplus_returned"] > 0:
        amt = o["surplus_returned"]
        post(insurer_book, "surplus-owed", f"{year}年度结算：超额结余应返还医保基金",
             [Line("6031", debit=amt), Line("224101", credit=amt, counterparty=contract.fund.name)])
        post(insurer_book, "surplus-paid", f"{year}年度结算：返还医保基金结余",
             [Line("224101", debit=amt, counterparty=contract.fund.name), Line("1002", credit=amt)])
        post(fund_book, "surplus-received", f"{year}年度结算：收到承办机构返还结余（冲减大病保险支出）",
             [Line("1003", debit=amt), Line("5101", credit=amt, counterparty=contract.insurer.name)])
    if o["surplus_carried"] > 0:
        amt = o["surplus_carried"]
        post(insurer_book, "surplus-carried", f"{year}年度结算：超额结余结转下年度大病保险资金",
             [Line("6031", debit=amt), Line("2203", credit=amt, counterparty=contract.fund.name)])
    if o["loss_fund"] > 0:
        amt = o["loss_fund"]
        post(fund_book, "loss-share-paid", f"{year}年度结算：分担政策性亏损",
             [Line("5101", debit=amt, counterparty=contract.insurer.name), Line("1004", credit=amt)])
        post(insurer_book, "loss-share-received", f"{year}年度结算：收到基金分担的政策性亏损",
             [Line("1002", debit=amt), Line("6031", credit=amt, counterparty=contract.fund.name)])
    deposit = PremiumObligation.objects.filter(contract_year=cy, kind=PremiumObligation.Kind.DEPOSIT).first()
    if deposit is not None:
        if o["deposit_forfeited"] > 0 and deposit.forfeited.amount != o["deposit_forfeited"]:
            deposit.forfeited = o["deposit_forfeited"]
            deposit.save(update_fields=["forfeited"])
        if o["deposit_released"] > 0:
            transfer_record(reference=f"{base}:deposit", obligation=deposit, insurer=contract.insurer,
                            amount=o["deposit_released"], paid_on=day, side="fund", user=user)
            keys.append(f"transfer {base}:deposit")
    s.status, s.posted_at, s.entry_keys = Settlement.Status.POSTED, timezone.now(), keys
    s.save(update_fields=["status", "posted_at", "entry_keys"])
    audit_record(action="settlement_posted", actor=user, obj=s, book=fund_book, detail={"entries": keys})
    return s


# -- scheduled work ------------------------------------------------------------------


def settlements_due_draft(*, today: date) -> int:
    """Draft every settlement whose cut-off passed; returns how many were newly drafted."""
    made = 0
    for cy in ContractYear.objects.filter(cutoff__lt=today, settlement__isnull=True):
        with transaction.atomic():
            made += settlement_draft_pending(contract_year=cy, as_of=today) is not None
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


# -- year-end close ------------------------------------------------------------------


@transaction.atomic
def year_end_close(*, book: Book, year: int, by=None) -> JournalEntry | None:
    """Move the year's income and expenditure into net assets, close the year for good, open the next.

    Fund books close into 3001 一般基金结余, insurer books into 4103 本年利润. The next year's
    opening balances are the closing ones (balances carry by construction). Running it
    again changes nothing.
    """
    book = Book.objects.select_for_update().get(pk=book.pk)
    periods = Period.objects.filter(book=book, year=year)
    if periods.exists() and not periods.exclude(status=Period.Status.FINAL).exists():
        return JournalEntry.objects.filter(book=book, idempotency_key=f"year-end:{year}").first()
    target = "3001" if book.kind == Book.Kind.FUND else "4103"
    leaves = Account.objects.filter(book=book, children__isnull=True, type__in=["income", "expense"])
    sums = {a: (0, 0) for a in leaves}
    for row in AccountBalance.objects.filter(book=book, period__year=year, account__in=leaves).values(
            "account").annotate(dr=Sum("debit"), cr=Sum("credit")):
        acc = next(a for a in leaves if a.pk == row["account"])
        sums[acc] = (to_fen(row["dr"]), to_fen(row["cr"]))
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
    entry = None
    if lines:
        if net > 0:
            lines.append(Line(target, credit=Decimal(net) / 100, memo="年末结转"))
        elif net < 0:
            lines.append(Line(target, debit=Decimal(-net) / 100, memo="年末结转"))
        entry = entry_post(book=book, date=date(year, 12, 31), memo=f"{year}年末结转收支至净资产", lines=lines,
                           idempotency_key=f"year-end:{year}", source="year-end close", made_by=by)
    year_close(book=book, year=year, by=by)
    fiscal_year_open(book=book, year=year + 1)
    return entry
