"""保费划拨对账单: a contract year's premium obligations against the payments, the service deposit as the
assessment and the settlement left it, and the year's premium reconciled in figures to the settlement's.

Definitions (printed on the statement):
- 应拨 (amount): what the terms require of each obligation (tranche, service deposit, top-up);
- 考核扣留 (withheld): the part of the service deposit the annual assessment withheld (no longer owed);
- 已到账 (received): paid and confirmed by the receiving side — the insurer's voucher for it posted, the
  money arrived by the statement date;
- 在途 (in transit): paid by the fund (its voucher posted), not yet confirmed by the insurer;
- 差额 (shortfall) = 应拨 − 考核扣留 − 已到账 − 在途: what the fund has not paid at all.
A payment whose vouchers both still await review counts in none of these; it is listed apart.

The statement stands on a date: the settlement's posting date once the year's settlement is posted (the
premium is final then), else the cut-off; or the end of a month asked for. The same date every time, so
a statement issued and verified later rebuilds the same figures from the same books.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from contracts.models import ContractYear, PremiumObligation, PremiumTransfer
from contracts.selectors import ObligationStatus, premium_status
from core.money import from_fen, to_fen

from .models import Settlement
from .settlement import _band_for, terms_from_dict

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# Printed statements are in Chinese whatever the reader's language (their figures are digested).
SETTLEMENT_STATES = {"draft": "草稿", "reviewed": "已复核", "posted": "已过账"}
COLUMNS = ("amount", "withheld", "required", "received", "in_transit", "shortfall")


def _d(money) -> Decimal:
    if money is None:
        return ZERO
    return money.amount if hasattr(money, "amount") else Decimal(str(money))


def num(x) -> str:
    """A percentage or score as written: 10, 80, 85.5 (no trailing zeros)."""
    return format(Decimal(str(x)).normalize(), "f")


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * HUNDRED).quantize(Decimal("0.01")) if whole else ZERO


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def statement_date(cy: ContractYear) -> tuple[date, str]:
    """The date a year's statement stands on, and why: the settlement's posting, else the cut-off."""
    s = Settlement.objects.filter(contract_year=cy, status=Settlement.Status.POSTED).first()
    if s is not None and s.posted_on is not None and s.posted_on > cy.cutoff:
        return s.posted_on, f"年度结算过账日 {s.posted_on.isoformat()}"
    return cy.cutoff, f"结算时点 {cy.cutoff.isoformat()}"


@dataclass
class Check:
    label: str
    expected: Decimal
    found: Decimal
    source: str

    @property
    def ok(self) -> bool:
        return self.expected == self.found

    @property
    def difference(self) -> Decimal:
        return self.found - self.expected


@dataclass
class DepositStatus:
    obligation: PremiumObligation
    base: Decimal  # the contract premium the percentage applies to
    pct: Decimal
    required: Decimal  # 应留保证金
    released: Decimal
    withheld: Decimal
    received: Decimal
    in_transit: Decimal
    shortfall: Decimal
    score: Decimal | None
    assessed_on: date | None
    assessor: str
    band: str  # the band the score reached, in words
    bands: list[str]  # every band of the terms, highest first
    basis: str  # where released / withheld come from

    @property
    def released_of_deposit_pct(self) -> Decimal:
        return _pct(self.released, self.required)

    @property
    def released_of_premium_pct(self) -> Decimal:
        return _pct(self.released, self.base)

    @property
    def withheld_of_deposit_pct(self) -> Decimal:
        return _pct(self.withheld, self.required)

    @property
    def withheld_of_premium_pct(self) -> Decimal:
        return _pct(self.withheld, self.base)


@dataclass
class PremiumStatement:
    contract_year: ContractYear | None
    as_of: date
    as_of_basis: str
    rows: list[ObligationStatus]
    totals: dict  # COLUMNS → Decimal
    deposit: DepositStatus | None = None
    lines: list = field(default_factory=list)  # (label, amount, kind): the reconciliation in figures
    checks: list[Check] = field(default_factory=list)
    pending: list[PremiumTransfer] = field(default_factory=list)  # vouchers both awaiting review
    unbooked_by_fund: Decimal = ZERO  # confirmed by the insurer, the fund's own voucher not yet posted
    settlement: Settlement | None = None
    settled: bool = False  # the settlement was posted by the statement's date

    @property
    def reconciles(self) -> bool:
        return all(c.ok for c in self.checks)


def totals_of(rows: list[ObligationStatus]) -> dict:
    return {k: sum((_d(getattr(r, k)) for r in rows), ZERO) for k in COLUMNS}


def _band_words(min_score, pct) -> str:
    return f"得分≥{num(min_score)}：支付{num(pct)}%"


def _deposit(cy: ContractYear, row: ObligationStatus | None, settlement: Settlement | None,
             as_of: date) -> DepositStatus | None:
    """The deposit on `as_of`: as the posted settlement decided it; before that, estimated from an assessment
    score on record by then and the contract's bands; else awaiting the assessment."""
    if row is None:
        return None
    ob = row.obligation
    assessment = getattr(cy, "assessment", None)
    if assessment is not None and assessment.assessed_on > as_of:
        assessment = None
    score = settlement.score if settlement is not None and settlement.score is not None else (
        assessment.score if assessment is not None else None)
    try:
        terms = terms_from_dict(cy.settlement_terms) if cy.settlement_terms else None
    except Exception:  # terms that do not read are the settlement's problem; the statement shows none
        terms = None
    bands = list(terms.deposit_release) if terms is not None else []
    words = [_band_words(b.min_score, b.pct) for b in bands]
    if bands:
        words.append(f"低于{num(bands[-1].min_score)}分：全部扣留")
    required = _d(ob.amount)
    band = _band_for(tuple(bands), score) if score is not None else None
    if settlement is not None:
        released = Decimal(settlement.outcome["deposit_released"])
        withheld = _d(row.withheld)
        basis = f"年度结算（已过账，{settlement.posted_on.isoformat() if settlement.posted_on else '—'}）"
        by_settlement = Decimal(settlement.outcome["deposit_forfeited"])
        if by_settlement != withheld:
            basis += f"；结算扣除 {by_settlement:,.2f} 与义务记录的扣留 {withheld:,.2f} 不一致"
    elif not bands:
        released, withheld, basis = required, ZERO, "合同未约定考核档次：全额支付"
    elif score is not None:
        released = (required * band.pct / HUNDRED).quantize(Decimal("0.01")) if band else ZERO
        withheld, basis = required - released, "按考核得分与合同档次测算（对账日年度结算尚未过账）"
    else:
        released, withheld, basis = ZERO, ZERO, "待考核（对账日尚无考核得分）"
    if score is None:
        band_text = "—"
    elif band is None:
        band_text = f"低于{num(bands[-1].min_score)}分：全部扣留" if bands else "—"
    else:
        band_text = _band_words(band.min_score, band.pct)
    return DepositStatus(
        obligation=ob, base=_d(cy.premium), pct=Decimal(cy.deposit_pct), required=required, released=released,
        withheld=withheld, received=_d(row.received), in_transit=_d(row.in_transit), shortfall=_d(row.shortfall),
        score=score, assessed_on=assessment.assessed_on if assessment is not None else None,
        assessor=assessment.assessor if assessment is not None else "", band=band_text, bands=words, basis=basis)


def _before_settlement(row: ObligationStatus) -> None:
    """A deposit seen on a date before the settlement that withheld part of it was posted: all of it owed."""
    withheld = _d(row.withheld)
    if not withheld:
        return
    row.required = from_fen(to_fen(row.required) + to_fen(withheld))
    row.shortfall = from_fen(to_fen(row.shortfall) + to_fen(withheld))
    row.withheld = from_fen(0)
    if row.state in ("paid_on_time", "paid_late", "in_transit"):
        row.state, row.days_late = "awaiting_assessment", None


def _pending(transfers) -> list[PremiumTransfer]:
    return [t for t in transfers if not t.counts]


def premium_statement(*, contract_year: ContractYear, as_of: date | None = None) -> PremiumStatement:
    """The year's obligations (its tranches and deposit, and the top-ups the same fund owes the same insurer
    for the year) on `as_of` (default: statement_date), the deposit, and the reconciliation in figures:
    contract premium → obligations → P → less the deposit withheld → the premium the settlement earned
    → less received and in transit → the shortfall; each step checked against the settlement.

    Seen on a date before the settlement was posted, nothing of the deposit is withheld yet (the
    assessment's estimate is shown apart), so a statement of a past date says what was true then."""
    cy = contract_year
    contract = cy.contract
    if as_of is None:
        as_of, basis = statement_date(cy)
    else:
        basis = f"截至 {as_of.isoformat()}"
    rows = [r for r in premium_status(fund=contract.fund, insurer=contract.insurer, year=cy.year, as_of=as_of)
            if r.obligation.contract_year_id in (cy.pk, None)]
    settlement = Settlement.objects.filter(contract_year=cy).first()
    settled = (settlement is not None and settlement.status == Settlement.Status.POSTED
               and (settlement.posted_on or settlement.as_of) <= as_of)
    if not settled:
        for r in rows:
            _before_settlement(r)
    totals = totals_of(rows)
    st = PremiumStatement(cy, as_of, basis, rows, totals, settlement=settlement, settled=settled)
    own = [r for r in rows if r.obligation.contract_year_id == cy.pk]
    topups = [r for r in rows if r.obligation.contract_year_id is None]
    deposit_row = next((r for r in own if r.obligation.kind == PremiumObligation.Kind.DEPOSIT), None)
    st.deposit = _deposit(cy, deposit_row, settlement if settled else None, as_of)

    K = PremiumObligation.Kind
    tranches = sum((_d(r.amount) for r in own if r.obligation.kind == K.TRANCHE), ZERO)
    # A surplus the prior year's settlement carried into this year's fund is part of P, paid by carry (no
    # cash); the fund's share of the prior year's policy loss is owed with this year's premium, not part of P.
    carried = sum((_d(r.amount) for r in own if r.obligation.kind == K.CARRIED), ZERO)
    loss_share = sum((_d(r.amount) for r in own if r.obligation.kind == K.LOSS), ZERO)
    deposit_amount = _d(deposit_row.amount) if deposit_row else ZERO
    topup_amount = sum((_d(r.amount) for r in topups), ZERO)
    premium = _d(cy.premium)
    if cy.basis == ContractYear.Basis.PER_CAPITA and cy.per_capita is not None:
        what = f"合同保费（{_d(cy.per_capita):,.2f}元/人 × {cy.insured_count:,}人）"
    else:
        what = "合同保费（固定总额）"
    n_tranches = sum(1 for r in own if r.obligation.kind == K.TRANCHE)
    p = totals["amount"] - loss_share
    earned = p - totals["withheld"]
    st.lines = [
        (what, premium, "head"),
        (f"其中：各期保费（{n_tranches}期）", tranches, "part"),
        (f"其中：服务保证金（合同保费的{num(_d(cy.deposit_pct))}%）", deposit_amount, "part"),
        *([("加：上年度结转结余（以结转方式拨付，非现金）", carried, "add")] if carried else []),
        ("加：补缴（同一基金、承办机构、年度）", topup_amount, "add"),
        ("应拨保费合计 P", p, "sum"),
        ("减：服务保证金考核扣留" + ("" if settled else "（对账日年度结算尚未过账，尚无扣留）"),
         -totals["withheld"], "less"),
        ("扣减后保费（结算口径：已实现保费）" if settled else "扣减后保费（待年度结算确定）", earned, "sum"),
        *([("加：上年度政策性亏损基金分担（随本年保费拨付，不计入 P）", loss_share, "add")] if loss_share else []),
        ("减：已到账", -totals["received"], "less"),
        ("减：在途", -totals["in_transit"], "less"),
        ("差额（基金尚未拨付）", totals["shortfall"], "sum"),
    ]
    if not settled and st.deposit is not None and st.deposit.withheld:
        st.lines.append(("附：按考核得分测算的保证金扣留（未计入上列）", st.deposit.withheld, "note"))
    st.checks.append(Check("各期保费与服务保证金之和 = 合同保费", premium, tranches + deposit_amount, "合同年度条款"))
    if settlement is not None:
        where = f"年度结算（{SETTLEMENT_STATES[settlement.status]}，{settlement.as_of.isoformat()}）"
        st.checks.append(Check("应拨保费合计 P = 结算所用保费 P", _d(settlement.premium), p, where))
        st.checks.append(Check("服务保证金 = 结算所用保证金 D", _d(settlement.deposit), deposit_amount, where))
        if settled:
            st.checks.append(Check("考核扣留 = 结算扣除的服务保证金",
                                   Decimal(settlement.outcome["deposit_forfeited"]), totals["withheld"], where))
            st.checks.append(Check("扣减后保费 = 结算已实现保费", Decimal(settlement.outcome["premium"]), earned,
                                   where))
    transfers = list(PremiumTransfer.objects.filter(fund=contract.fund, insurer=contract.insurer, year=cy.year,
                                                    paid_on__lte=as_of).select_related("fund_entry", "insurer_entry",
                                                                                       "obligation"))
    mine = [t for t in transfers if t.contract_year_id == cy.pk or (
        t.obligation is not None and t.obligation.contract_year_id in (cy.pk, None))]
    st.pending = _pending(mine)
    st.unbooked_by_fund = sum((_d(t.amount) for t in mine if t.insurer_confirmed and not t.fund_confirmed), ZERO)
    return st


def topups_statement(*, year: int, fund=None, insurer=None, as_of: date | None = None,
                     exclude: set = frozenset()) -> PremiumStatement | None:
    """Top-ups (补缴) owed outside any contract year (the Jilin table), on `as_of` (default: the year's end),
    but for the (fund id, insurer id) pairs in `exclude` (shown with their contract year); None when none."""
    as_of = as_of or date(year, 12, 31)
    filters = {"year": year}
    if fund is not None:
        filters["fund"] = fund
    if insurer is not None:
        filters["insurer"] = insurer
    rows = [r for r in premium_status(as_of=as_of, **filters)
            if r.obligation.contract_year_id is None and r.obligation.kind == PremiumObligation.Kind.TOPUP
            and (r.obligation.fund_id, r.obligation.insurer_id) not in exclude]
    if not rows:
        return None
    transfers = PremiumTransfer.objects.filter(obligation__in=[r.obligation for r in rows], paid_on__lte=as_of
                                               ).select_related("fund_entry", "insurer_entry")
    st = PremiumStatement(None, as_of, f"截至 {as_of.isoformat()}", rows, totals_of(rows))
    st.pending = _pending(transfers)
    st.unbooked_by_fund = sum((_d(t.amount) for t in transfers if t.insurer_confirmed and not t.fund_confirmed),
                              ZERO)
    return st
