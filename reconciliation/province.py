"""Province totals where several insurers serve one pool (Shandong: 全省统筹, each 统筹地区 paying the insurer
assigned to it): per insurer (contract year) and per assigned region, the insured, the premium owed and
paid, the claims and the settlement's outcome; the province's totals; and each insurer's figures tied to
the books they came from (the fund book's 5101 by counterparty, the insurer book's 6031 and 6511).
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum

from accounts.models import Book, Fund
from claims.selectors import counted_claims
from contracts.models import ContractYear, PremiumTransfer
from contracts.selectors import premium_status
from ledger.models import JournalEntry, Posting

from .models import Settlement

# The settlement's outcome, as the statement shows it per insurer (keys of Settlement.outcome).
OUTCOME = ("retained", "surplus_returned", "surplus_carried", "loss", "loss_insurer", "loss_fund", "loss_deferred")
# Per insurer and in the province's totals.
# claims: every claim of the policy year posted by then (6511); claims_c: the settlement's C (paid by the cut-off).
COLUMNS = ("premium", "paid", "shortfall", "received", "claims", "claims_c", *OUTCOME)
ZERO = Decimal("0.00")


@dataclass
class RegionLine:
    """One assigned region of an insurer: its agency's part of the premium, what it paid, how late."""

    code: str
    name: str
    insured: int
    premium: Decimal
    paid: Decimal
    shortfall: Decimal
    days_late: int  # the most days any of its parts was (or is) late; 0 when always on time


@dataclass
class BookCheck:
    label: str
    expected: Decimal  # from the records (transfers, claims, the settlement)
    found: Decimal  # summed from the book's postings
    source: str

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class InsurerLine:
    contract_year: ContractYear
    insured: int
    figures: dict  # COLUMNS → Decimal
    settlement_status: str
    regions: list[RegionLine] = field(default_factory=list)
    checks: list[BookCheck] = field(default_factory=list)

    @property
    def insurer(self):
        return self.contract_year.contract.insurer


@dataclass
class ProvinceStatement:
    fund: Fund
    year: int
    as_of: date
    insurers: list[InsurerLine]
    totals: dict  # COLUMNS → Decimal, plus "insured"
    checks: list[BookCheck]

    @property
    def reconciles(self) -> bool:
        return all(c.ok for c in self.checks) and all(c.ok for i in self.insurers for c in i.checks)


def _d(value) -> Decimal:
    return getattr(value, "amount", value) if value is not None else ZERO


def book_sum(*, book: Book, account: str, side: str, until: date, counterparty: str | None = None,
             sources: tuple[str, ...] | None = None, source_prefix: str | None = None) -> Decimal:
    """Σ of one side of the posted postings of an account (and its sub-accounts) in a book up to a date,
    optionally only those naming a counterparty, or from given sources; never the year-end close."""
    q = Q(book=book, account__code__startswith=account, entry__status=JournalEntry.Status.POSTED,
          entry__date__lte=until)
    if counterparty is not None:
        q &= Q(counterparty=counterparty)
    if sources is not None:
        q &= Q(entry__source__in=sources)
    if source_prefix is not None:
        q &= Q(entry__source__startswith=source_prefix)
    total = Posting.objects.filter(q).exclude(entry__source="year-end close").aggregate(s=Sum(side))["s"]
    return _d(total).quantize(Decimal("0.01"))


def _transfers(cy: ContractYear, as_of: date):
    return (PremiumTransfer.objects.filter(Q(contract_year=cy) | Q(obligation__contract_year=cy), paid_on__lte=as_of)
            .select_related("fund_entry", "insurer_entry"))


def _insurer_line(cy: ContractYear, as_of: date) -> InsurerLine:
    rows = premium_status(contract_year=cy, fund=cy.contract.fund_id, insurer=cy.contract.insurer_id, year=cy.year,
                          as_of=as_of)
    figures = dict.fromkeys(COLUMNS, ZERO)
    by_region: dict = {}
    for r in rows:
        required = _d(r.amount) - _d(r.withheld)
        paid = _d(r.received) + _d(r.in_transit)
        figures["premium"] += required
        figures["paid"] += paid
        figures["shortfall"] += _d(r.shortfall)
        region = r.obligation.region
        if region is not None:
            line = by_region.setdefault(region.pk, RegionLine(region.code, region.name, 0, ZERO, ZERO, ZERO, 0))
            line.premium += required
            line.paid += paid
            line.shortfall += _d(r.shortfall)
            line.days_late = max(line.days_late, r.days_late or 0)
    for assigned in cy.regions.select_related("region"):
        if assigned.region_id in by_region:
            by_region[assigned.region_id].insured = assigned.insured_count
    transfers = list(_transfers(cy, as_of))
    received = [t for t in transfers if t.insurer_confirmed and (t.received_on or t.paid_on) <= as_of]
    figures["received"] = sum((_d(t.amount) for t in received), ZERO)
    figures["claims"] = _d(counted_claims().filter(contract_year=cy, settled_on__lte=as_of).aggregate(s=Sum("paid"))["s"])
    settlement = Settlement.objects.filter(contract_year=cy, status=Settlement.Status.POSTED,
                                           posted_on__lte=as_of).first()
    if settlement is not None:
        figures["claims_c"] = _d(settlement.claims)
        for k in OUTCOME:
            figures[k] = Decimal(settlement.outcome.get(k, "0.00"))
    line = InsurerLine(cy, cy.insured_count or 0, figures,
                       settlement.get_status_display() if settlement is not None else "未结算",
                       regions=sorted(by_region.values(), key=lambda x: x.code))
    line.checks = _book_checks(cy, as_of, transfers, received, figures)
    return line


def _book_checks(cy: ContractYear, as_of: date, transfers, received, figures) -> list[BookCheck]:
    contract = cy.contract
    fund_book = Book.objects.get(fund=contract.fund)
    insurer_book = Book.objects.get(insurer=contract.insurer)
    fund_paid = sum((_d(t.amount) for t in transfers if t.fund_confirmed), ZERO)
    insurer_name, fund_name = contract.insurer.name, contract.fund.name
    claims_posted = _d(counted_claims().filter(book=insurer_book, summary__entry__date__lte=as_of)
                       .aggregate(s=Sum("paid"))["s"])
    return [
        BookCheck("基金拨付保费 + 分担亏损（借 5101）", fund_paid + figures["loss_fund"],
                  book_sum(book=fund_book, account="5101", side="debit", until=as_of, counterparty=insurer_name),
                  f"{fund_book.code} 5101 借方，对方 {insurer_name}"),
        BookCheck("返还结余（贷 5101）", figures["surplus_returned"],
                  book_sum(book=fund_book, account="5101", side="credit", until=as_of, counterparty=insurer_name),
                  f"{fund_book.code} 5101 贷方，对方 {insurer_name}"),
        BookCheck("承办机构确认收到的保费（贷 6031、2203）", figures["received"],
                  book_sum(book=insurer_book, account="6031", side="credit", until=as_of, counterparty=fund_name,
                           sources=("premium-transfer",))
                  + book_sum(book=insurer_book, account="2203", side="credit", until=as_of, counterparty=fund_name,
                             sources=("premium-transfer",)),
                  f"{insurer_book.code} 6031、2203 贷方（保费划拨），对方 {fund_name}"),
        BookCheck("已记账赔款（借 6511）", claims_posted,
                  book_sum(book=insurer_book, account="6511", side="debit", until=as_of),
                  f"{insurer_book.code} 6511 借方"),
    ]


def province_statement(*, fund: Fund, year: int, as_of: date | None = None) -> ProvinceStatement:
    """Every contract year of the fund for the policy year, with its regions, and the province's totals.

    `as_of` defaults to the day after the last settlement due date of the year (everything settled by then).
    """
    years = list(ContractYear.objects.filter(contract__fund=fund, year=year)
                 .select_related("contract__fund", "contract__insurer").order_by("contract__code"))
    if as_of is None:
        as_of = max((cy.settle_due for cy in years), default=date(year + 1, 6, 30))
    insurers = [_insurer_line(cy, as_of) for cy in years]
    totals = {k: sum((i.figures[k] for i in insurers), ZERO) for k in COLUMNS}
    totals["insured"] = sum(i.insured for i in insurers)
    fund_book = Book.objects.filter(fund=fund).first()
    checks = []
    if fund_book is not None:
        names = [i.insurer.name for i in insurers]
        debit = sum((book_sum(book=fund_book, account="5101", side="debit", until=as_of, counterparty=n)
                     for n in names), ZERO)
        credit = sum((book_sum(book=fund_book, account="5101", side="credit", until=as_of, counterparty=n)
                      for n in names), ZERO)
        fund_paid = sum((c.expected for i in insurers for c in i.checks[:1]), ZERO)
        checks = [
            BookCheck("全省拨付保费 + 分担亏损（借 5101）", fund_paid, debit, f"{fund_book.code} 5101 借方，各承办机构合计"),
            BookCheck("全省返还结余（贷 5101）", totals["surplus_returned"], credit,
                      f"{fund_book.code} 5101 贷方，各承办机构合计"),
        ]
    return ProvinceStatement(fund, year, as_of, insurers, totals, checks)


LABELS = {"premium": "应拨保费", "paid": "已拨付", "shortfall": "差额", "received": "承办机构已确认",
          "claims": "已付赔款（含结算时点后）", "claims_c": "结算赔款 C", "retained": "承办机构留存", "surplus_returned": "返还基本医保基金",
          "surplus_carried": "结转下年", "loss": "亏损", "loss_insurer": "承办机构承担",
          "loss_fund": "基金分担", "loss_deferred": "转下年政策解决"}


def province_text(st: ProvinceStatement) -> list[str]:
    """The statement as quickstart prints it: per insurer, its regions, and the province's totals."""
    from core.money import fmt
    from core.text import ljust, rjust

    def figures(f: dict) -> str:
        return "；".join(f"{LABELS[k]} {fmt(f[k])}" for k in COLUMNS if k in ("premium", "paid", "claims", "claims_c")
                        or f[k] != ZERO)

    out = [f"{st.fund.region}{st.year}年度多家承办机构汇总（{st.fund.name}，截至 {st.as_of}）："]
    for i in st.insurers:
        cy = i.contract_year
        out.append(f"  {cy.contract.code} {i.insurer.name}：参保 {i.insured:,} 人，{len(i.regions)} 个地市，"
                   f"{i.settlement_status}；" + figures(i.figures))
        for r in i.regions:
            late = f"  逾期 {r.days_late} 天" if r.days_late else ""
            out.append("    " + ljust(f"{r.code} {r.name}", 14) + rjust(f"{r.insured:,} 人", 14)
                       + rjust(fmt(r.premium), 18) + rjust(fmt(r.paid), 18) + late)
        out += ["    账簿核对：" + "；".join(f"{c.label} {fmt(c.found)}{'' if c.ok else '（应为 ' + fmt(c.expected) + '）'}"
                                         for c in i.checks)]
    out.append(f"  全省合计：参保 {st.totals['insured']:,} 人；" + figures(st.totals))
    out.append("  全省核对：" + "；".join(f"{c.label} {fmt(c.found)}" for c in st.checks)
               + ("；与各账簿之和一致" if st.reconciles else "；与账簿不一致"))
    return out


def province_json(st: ProvinceStatement) -> dict:
    def amounts(f: dict) -> dict:
        return {k: f"{f[k]:.2f}" for k in COLUMNS}

    return {
        "fund": st.fund.code, "year": st.year, "as_of": st.as_of.isoformat(),
        "insurers": [{"contract": i.contract_year.contract.code, "insurer": i.insurer.code, "insured": i.insured,
                      "settlement": i.contract_year.settlement.status if hasattr(i.contract_year, "settlement")
                      else None, **amounts(i.figures),
                      "regions": [{"code": r.code, "name": r.name, "insured": r.insured, "premium": f"{r.premium:.2f}",
                                   "paid": f"{r.paid:.2f}", "shortfall": f"{r.shortfall:.2f}",
                                   "days_late": r.days_late} for r in i.regions],
                      "checks": [{"label": c.label, "expected": f"{c.expected:.2f}", "found": f"{c.found:.2f}",
                                  "ok": c.ok} for c in i.checks]}
                     for i in st.insurers],
        "totals": {"insured": st.totals["insured"], **amounts(st.totals)},
        "reconciles": st.reconciles,
    }
