"""运行分析 (operations): per contract year of the book's owner, annual or quarterly.

`report operations --book B --year Y` is the year: the claims charged to contract year Y (the settlement's
C, run-off to the cut-off included), per quarter with the run-off apart. `--month 3|6|9|12` is the quarter
ending that month: the claims of the year settled in its three months, and the year to date. Either way:
premium earned, claims by channel, beneficiary group, hospital and month, persons and episodes, the
benefit-payout ratio (赔付率 = claims ÷ premium earned) for the period and the year to date, and the claims
reconciled to account 6511 赔付支出 of the insurer's book(s) for the same months, every difference named.
A fund's book reads the contract's insurer book(s) for 6511.
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

from accounts.models import Book
from claims.operations import (
    claims_breakdown,
    claims_ledger_reconciliation,
    claims_of,
    claims_quarters,
    ratio,
)
from contracts.models import ContractYear
from core.errors import Refused, lazy_format, problem
from reconciliation.premium import premium_statement

from .figures import two_places as _s

QUARTER_END = {3: 1, 6: 2, 9: 3, 12: 4}
TOP_HOSPITALS = 10

NOTES = [
    "赔款口径：已审核入账批次中计入本合同年度的赔案（即年度结算所用赔款 C）；本年度赔案在次年结算时点后结算的，计入下一年度。",
    "赔付率 = 赔款 ÷ 本年度扣减后保费（合同保费减服务保证金考核扣留；年度结算过账后即结算已实现保费）；季度赔付率为该季度赔款与全年扣减后保费之比，累计赔付率为年初至期末。",
    "受益人数：获得赔付（金额大于0）的参保人，按化名去重；赔付人次：赔付金额大于0的赔案数。",
    "6511 核对：报告赔款与承办机构账簿 6511 赔付支出同期发生额（科目余额表，不含年末结转）逐项核对，未解释差异应为 0.00。待审核批次不计入报告，也未入账，不构成差异。",
    "季度报告：按截至3、6、9、12月末的第1–4季度出具；全年出具即为年度报告。",
]



def _pct(x: Decimal) -> str:
    return f"{x:.2f}%"


def _lines(lines, total: Decimal) -> list[dict]:
    return [{"label": x.label, "episodes": f"{x.episodes:,}", "persons": "" if x.persons is None else f"{x.persons:,}",
             "amount": _s(x.amount), "share": _pct(ratio(x.amount, total))} for x in lines]


def _premium(cy: ContractYear, as_of: date | None) -> dict:
    """The premium the ratio divides by, as it stood on the date: the settlement's earned premium once it was
    posted, else the contract premium (nothing of the deposit withheld yet)."""
    st = premium_statement(contract_year=cy, as_of=as_of)
    contract, withheld = st.totals["amount"], st.totals["withheld"]
    earned = contract - withheld
    if st.settled:
        s = st.settlement
        basis = f"年度结算已实现保费（{(s.posted_on or s.as_of).isoformat()} 过账）"
        if Decimal(s.outcome["premium"]) != earned:
            basis += f"；结算为 {Decimal(s.outcome['premium']):,.2f}，与义务不一致"
    else:
        basis = f"合同保费（截至 {st.as_of.isoformat()} 年度结算尚未过账，服务保证金尚无扣留）"
    return {"contract": contract, "withheld": withheld, "earned": earned, "basis": basis,
            "received": st.totals["received"], "in_transit": st.totals["in_transit"], "as_of": st.as_of}


def _block(cy: ContractYear, quarter: int | None) -> dict:
    y = cy.year
    if quarter is None:
        start, end = date(y, 1, 1), date(y, 12, 31)
        claims = claims_of(contract_year=cy)
        ytd = claims
        period = f"{y}年度（1–12月；赔款计至结算时点 {cy.cutoff.isoformat()}）"
        premium = _premium(cy, None)
    else:
        start = date(y, 3 * quarter - 2, 1)
        end = date(y, 3 * quarter, 31 if quarter in (1, 4) else 30)
        claims = claims_of(contract_year=cy, date_from=start, date_to=end)
        ytd = claims_of(contract_year=cy, date_to=end)
        period = f"{y}年第{quarter}季度（{start.month}–{end.month}月）"
        premium = _premium(cy, end)
    earned = premium["earned"]
    b = claims_breakdown(claims, top=TOP_HOSPITALS)
    ytd_total = claims_breakdown(ytd).total if quarter is not None else b.total
    books = list(Book.objects.filter(insurer=cy.contract.insurer).order_by("code"))
    rec = claims_ledger_reconciliation(contract_year=cy, claims=claims, date_from=start, date_to=end, books=books)

    quarters, running = [], Decimal("0.00")
    for q in claims_quarters(contract_year=cy, upto_quarter=quarter or 4, run_off=quarter is None):
        running += q["amount"]
        quarters.append({"label": q["label"], "episodes": f"{q['episodes']:,}", "amount": _s(q["amount"]),
                         "ratio": _pct(ratio(q["amount"], earned)), "cumulative": _s(running),
                         "cumulative_ratio": _pct(ratio(running, earned))})
    recon = [{"label": "报告赔款（计入本合同年度、已审核入账）", "amount": _s(rec.claims), "detail": "", "kind": "head"}]
    recon += [{"label": d.label, "amount": _s(d.amount), "detail": d.detail, "kind": "item"} for d in rec.differences]
    recon += [
        {"label": "= 按上列差异调整后的赔款", "amount": _s(rec.explained), "detail": "", "kind": "sum"},
        {"label": f"6511 赔付支出 本期发生额（{'、'.join(x.code for x in books)}，不含年末结转）",
         "amount": _s(rec.ledger),
         "detail": f"科目余额表 {start.month}–{end.month}月：借方 {rec.tb_debit:,.2f}，贷方 {rec.tb_credit:,.2f}；"
                   f"加回年末结转 {rec.closing:,.2f}", "kind": "sum"},
        {"label": "未解释差异", "amount": _s(rec.unexplained), "detail": "", "kind": "sum"},
    ]
    money, text = True, False
    summary = [
        ("合同保费 P", _s(premium["contract"]), money),
        ("减：服务保证金考核扣留", _s(-premium["withheld"]), money),
        ("扣减后保费（赔付率分母）", _s(earned), money),
        (f"保费已到账（截至 {premium['as_of'].isoformat()}）", _s(premium["received"]), money),
        (f"保费在途（截至 {premium['as_of'].isoformat()}）", _s(premium["in_transit"]), money),
        ("本期赔款", _s(b.total), money),
        ("本期赔付率", _pct(ratio(b.total, earned)), text),
        ("年初至期末累计赔款", _s(ytd_total), money),
        ("年初至期末累计赔付率", _pct(ratio(ytd_total, earned)), text),
        ("受益人数", f"{b.persons:,}", text),
        ("赔付人次", f"{b.episodes:,}", text),
        ("人均赔付", _s((b.total / b.persons).quantize(Decimal("0.01"), ROUND_HALF_UP) if b.persons else 0), money),
        ("次均赔付", _s((b.total / b.episodes).quantize(Decimal("0.01"), ROUND_HALF_UP) if b.episodes else 0), money),
    ]
    return {
        "contract": f"{cy.contract.name}（{cy.contract.fund.name} → {cy.contract.insurer.name}）",
        "period": period, "date_from": start.isoformat(), "date_to": end.isoformat(),
        "premium_basis": premium["basis"],
        "summary": [{"label": label, "value": value, "money": is_money} for label, value, is_money in summary],
        "quarters": quarters, "channels": _lines(b.by_channel, b.total), "groups": _lines(b.by_group, b.total),
        "hospitals": _lines(b.by_hospital, b.total), "hospital_count": str(b.hospitals),
        "months": _lines(b.by_month, b.total), "unpaid": str(b.unpaid),
        "recon": recon, "unexplained": _s(rec.unexplained),
        "pending": {"batches": str(rec.pending["batches"]), "claims": str(rec.pending["claims"]),
                    "amount": _s(rec.pending["amount"])},
        "totals": {"premium": _s(earned), "claims": _s(b.total), "ledger_6511": _s(rec.ledger),
                   "unexplained": _s(rec.unexplained), "persons": f"{b.persons:,}", "episodes": f"{b.episodes:,}"},
    }


def operations_report_data(book: Book, year: int, month: int | None) -> dict:
    if month is not None and month not in QUARTER_END:
        raise Refused([problem(_("report"), _("month"),
                               _("3, 6, 9 or 12 (the quarter ending that month), or none for the year"), month)])
    quarter = QUARTER_END.get(month) if month else None
    owner = {"contract__fund": book.fund} if book.kind == Book.Kind.FUND else {"contract__insurer": book.insurer}
    years = ContractYear.objects.filter(year=year, **owner).select_related("contract__fund", "contract__insurer")
    blocks = [_block(cy, quarter) for cy in years.order_by("contract__code")]
    if not blocks:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("year"),
                               _("a year with a contract of this book's owner"), year)])
    keys = ("premium", "claims", "ledger_6511", "unexplained")
    totals = {k: _s(sum(Decimal(b["totals"][k]) for b in blocks)) for k in keys}
    title = "年度运行分析" if quarter is None else "季度运行分析"
    label = f"{year}年度" if quarter is None else f"{year}年第{quarter}季度（{3 * quarter - 2}–{3 * quarter}月）"
    return {"title": title, "period_label": label, "quarter": str(quarter or ""), "blocks": blocks,
            "totals": totals, "notes": NOTES}
