"""省级汇总表 (province): where several insurers serve one province-wide pool (Shandong), per insurer and per
assigned region the insured, the premium owed and paid, the claims and the settlement's outcome, the
province's totals, and each figure tied to the books it came from. Built from reconciliation.province,
the same selector quickstart prints; the statement of a fund's book (the province's pool)."""

from django.utils.translation import gettext_lazy as _

from accounts.models import Book
from core.errors import Refused, lazy_format, problem
from core.money import cn_upper
from reconciliation.province import LABELS, province_statement

from .figures import two_places as _s

# The columns of the insurers' table, in order.
TABLE = ("premium", "paid", "shortfall", "claims", "claims_c", "retained", "surplus_returned", "loss",
         "loss_insurer", "loss_fund")


def province_data(book: Book, year: int, month: int | None) -> dict:
    if book.kind != Book.Kind.FUND or not book.fund.contracts.filter(years__year=year).exists():
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("year"),
                               _("a fund's book with contract years in that year"), year)])
    st = province_statement(fund=book.fund, year=year)
    if len(st.insurers) < 1:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("year"),
                               _("a fund's book with contract years in that year"), year)])
    insurers = []
    for i in st.insurers:
        # Amounts sit under "amount" (a row's cells in TABLE order), as the workbook and the PDF show them.
        insurers.append({
            "contract": i.contract_year.contract.code, "insurer": i.insurer.name, "insured": f"{i.insured:,}",
            "status": i.settlement_status, "cells": [{"amount": _s(i.figures[k])} for k in TABLE],
            "regions": [{"code": r.code, "name": r.name, "insured": f"{r.insured:,}",
                         "cells": [{"amount": _s(v)} for v in (r.premium, r.paid, r.shortfall)],
                         "days_late": str(r.days_late or "")} for r in i.regions],
            "checks": [{"label": c.label, "source": c.source, "expected": _s(c.expected), "found": _s(c.found),
                        "ok": "一致" if c.ok else "不一致"} for c in i.checks]})
    premium, paid = _s(st.totals["premium"]), _s(st.totals["paid"])
    return {"title": "省级多家承办机构汇总表", "period_label": f"{year}年度（截至 {st.as_of.isoformat()}）",
            "fund": st.fund.name, "as_of": st.as_of.isoformat(), "insurers": insurers,
            "heads": [LABELS[k] for k in TABLE], "total_cells": [{"amount": _s(st.totals[k])} for k in TABLE],
            "totals": {"insured": f"{st.totals['insured']:,}", "premium_total": premium, "paid_total": paid,
                       "insurers": str(len(insurers))},
            "checks": [{"label": c.label, "source": c.source, "expected": _s(c.expected), "found": _s(c.found),
                        "ok": "一致" if c.ok else "不一致"} for c in st.checks],
            "reconciles": "是" if st.reconciles else "否",
            "upper": {"premium": cn_upper(premium), "paid": cn_upper(paid)}}


def province_xlsx(wb, data: dict, ctx: dict) -> None:
    from .xlsx import Sheet

    n = len(data["heads"])
    s = Sheet(wb, "汇总", ctx, ncols=n + 3)
    s.heading(f"{data['fund']}：各承办机构及全省合计（截至 {data['as_of']}）")
    s.head(["合同", "承办机构", "参保人数", *data["heads"]], freeze=True)
    money = range(3, 3 + n)
    for i in data["insurers"]:
        s.line([i["contract"], i["insurer"], i["insured"], *[c["amount"] for c in i["cells"]]], money=money)
    s.line(["全省合计", "", data["totals"]["insured"], *[c["amount"] for c in data["total_cells"]]], money=money,
           bold=True)
    s.merged(f"应拨保费合计（大写）：{data['upper']['premium']}；已拨付合计（大写）：{data['upper']['paid']}。")
    for i in data["insurers"]:
        s.gap()
        s.heading(f"{i['contract']} {i['insurer']}：承办地市（{i['status']}）")
        s.head(["地市", "参保人数", "应拨保费", "已拨付", "差额", "逾期天数"])
        for r in i["regions"]:
            s.line([f"{r['code']} {r['name']}", r["insured"], *[c["amount"] for c in r["cells"]], r["days_late"]],
                   money={2, 3, 4})
        s.head(["账簿核对", "依据", "应为", "账簿", "结果"])
        for c in i["checks"]:
            s.line([c["label"], c["source"], c["expected"], c["found"], c["ok"]], money={2, 3})
    s.gap()
    s.head(["全省核对", "依据", "应为", "账簿", "结果"])
    for c in data["checks"]:
        s.line([c["label"], c["source"], c["expected"], c["found"], c["ok"]], money={2, 3})
    s.merged(f"全省合计与各账簿之和一致：{data['reconciles']}。")
    s.finish({1: 16, 2: 30, **{k: 16 for k in range(3, n + 4)}})
