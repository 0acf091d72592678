"""保费划拨对账单 (premium-status): per contract year of the book's owner, every obligation (tranches, the
service deposit, top-ups) with 应拨, 考核扣留, 已到账, 在途, 差额, its state and days late, totals of every
column; the service deposit as the assessment decided it; the premium reconciled in figures to the
settlement's; and a block for top-ups owed outside any contract year (the Jilin table).
Built from reconciliation.premium, the same selector the admin page and the premium_status command read.
"""

from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from accounts.models import Book
from contracts.models import ContractYear
from core.errors import Refused, lazy_format, problem
from core.money import cn_upper
from reconciliation.premium import COLUMNS, PremiumStatement, month_end, num, premium_statement, topups_statement

from .figures import two_places as _s

DEFINITIONS = [
    "应拨：合同条款（或补缴表）规定的各期应拨付金额；考核扣留：年度考核后不予支付的服务保证金。",
    "已到账：基金已拨付且承办机构已在其账簿中确认收款（其凭证已审核记账、到账日不晚于对账日）的金额。",
    "在途：基金已拨付（基金凭证已审核记账）但承办机构尚未确认收款的金额。",
    "差额 = 应拨 － 考核扣留 － 已到账 － 在途，即基金尚未拨付的金额；双方凭证均待审核的划拨不计入以上各栏，另列于表下。",
    "逾期天数：足额到账的，自到期日至足额到账日；足额在途的，至基金拨付日；未足额的，至对账日。",
]



def _row(r, with_fund: bool) -> dict:
    o = r.obligation
    return {"what": (f"{o.fund.name} " if with_fund else "") + o.description,
            "due": o.due_date.isoformat() if o.due_date else "考核后", "amount": _s(r.amount),
            "withheld": _s(r.withheld), "received": _s(r.received), "in_transit": _s(r.in_transit),
            "shortfall": _s(r.shortfall), "state": r.state_label,
            "days_late": str(r.days_late) if r.days_late else ""}


def _block(st: PremiumStatement, title: str, *, with_fund: bool = False) -> dict:
    block = {"contract": title, "as_of": st.as_of.isoformat(), "as_of_basis": st.as_of_basis,
             "rows": [_row(r, with_fund) for r in st.rows], "totals": {k: _s(v) for k, v in st.totals.items()},
             "pending": [{"reference": t.reference, "amount": _s(t.amount), "paid_on": t.paid_on.isoformat()}
                         for t in st.pending],
             "unbooked_by_fund": _s(st.unbooked_by_fund), "deposit": None, "lines": [], "checks": []}
    d = st.deposit
    if d is not None:
        block["deposit"] = {
            "base": _s(d.base), "pct": num(d.pct), "required": _s(d.required), "released": _s(d.released),
            "released_of_deposit": num(d.released_of_deposit_pct), "released_of_premium": num(d.released_of_premium_pct),
            "withheld": _s(d.withheld), "withheld_of_deposit": num(d.withheld_of_deposit_pct),
            "withheld_of_premium": num(d.withheld_of_premium_pct), "received": _s(d.received),
            "in_transit": _s(d.in_transit), "shortfall": _s(d.shortfall),
            "score": num(d.score) if d.score is not None else "—",
            "assessed": (f"{d.assessed_on.isoformat()}，{d.assessor}" if d.assessed_on else ""),
            "band": d.band, "bands": "；".join(d.bands) or "—", "basis": d.basis}
    block["lines"] = [{"label": label, "amount": _s(amount), "kind": kind} for label, amount, kind in st.lines]
    block["checks"] = [{"label": c.label, "expected": _s(c.expected), "found": _s(c.found),
                        "difference": _s(c.difference), "ok": "一致" if c.ok else "不一致", "source": c.source}
                       for c in st.checks]
    block["reconciles"] = "是" if st.reconciles else "否"
    return block


def premium_statement_data(book: Book, year: int, month: int | None) -> dict:
    """The statement of a book for a policy year: as the settlement left it (or at the cut-off before one is
    posted), or, with a month, as of that month's last day in the policy year."""
    as_of = month_end(year, month) if month else None
    owner = {"contract__fund": book.fund} if book.kind == Book.Kind.FUND else {"contract__insurer": book.insurer}
    years = list(ContractYear.objects.filter(year=year, **owner).select_related("contract__fund",
                                                                                "contract__insurer"))
    blocks = []
    for cy in years:
        st = premium_statement(contract_year=cy, as_of=as_of)
        blocks.append(_block(st, f"{cy.contract.name}（{cy.contract.fund.name} → {cy.contract.insurer.name}）"))
    # Top-ups of funds and insurers without a contract year here (the Jilin table): a block of their own.
    side = {"fund": book.fund} if book.kind == Book.Kind.FUND else {"insurer": book.insurer}
    covered = {(cy.contract.fund_id, cy.contract.insurer_id) for cy in years}
    topups = topups_statement(year=year, as_of=as_of, exclude=covered, **side)
    if topups is not None:
        blocks.append(_block(topups, f"{year}年补缴（不属于合同年度）", with_fund=book.kind == Book.Kind.INSURER))
    if not blocks:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("year"),
                               _("a year with premium obligations of this book's owner"), year)])
    totals = {k: _s(sum(Decimal(b["totals"][k]) for b in blocks)) for k in COLUMNS}
    label = f"{year}年度" + (f"（截至 {as_of.isoformat()}）" if as_of else "（对账日见各合同）")
    return {"title": "保费划拨对账单", "period_label": label, "blocks": blocks, "totals": totals,
            "definitions": DEFINITIONS,
            "upper": {"shortfall": cn_upper(totals["shortfall"]), "in_transit": cn_upper(totals["in_transit"])},
            "as_of": as_of.isoformat() if isinstance(as_of, date) else ""}
