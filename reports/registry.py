"""What each statement shows, read from the books by the selectors: the same function builds the PDF
and, later, verifies it. Every figure is a string with two decimals, so the digest is exact.
"""

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from accounts.models import Book
from contracts.models import ContractYear
from core.errors import Refused, lazy_format, problem
from core.money import cn_upper
from core.people import person_name
from ledger.models import JournalEntry
from ledger.selectors import trial_balance
from reconciliation.management.commands.settlement_calc import LABELS
from reconciliation.models import Settlement

from .books import cash_journal_data, general_ledger_data, ledger_books_data
from .figures import two_places as _s
from .province import province_data


def _period(year: int, month: int | None) -> tuple[date, date, int, int]:
    if month is None:
        return date(year, 1, 1), date(year, 12, 31), 1, 12
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), month, month


def trial_balance_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    _, _, m1, m2 = _period(year, month)
    tb = trial_balance(book=book, year=year, month_from=1 if month is None else m1, month_to=m2, upto=upto)
    rows = [{"code": r.account.code, "name": r.account.name, "depth": r.depth, "leaf": r.is_leaf,
             "od": _s(r.opening_debit), "oc": _s(r.opening_credit), "pd": _s(r.period_debit),
             "pc": _s(r.period_credit), "cd": _s(r.closing_debit), "cc": _s(r.closing_credit),
             **({"wrong": "1"} if r.wrong_side else {})} for r in tb.rows]
    t = tb.totals
    totals = {"od": _s(t.opening_debit), "oc": _s(t.opening_credit), "pd": _s(t.period_debit),
              "pc": _s(t.period_credit), "cd": _s(t.closing_debit), "cc": _s(t.closing_credit)}
    return {"title": "科目余额表", "rows": rows, "totals": totals, "balanced": tb.balanced,
            "upper": {"pd": cn_upper(totals["pd"]), "cd": cn_upper(totals["cd"])}}


def ledger_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    """明细账 of every leaf account (三栏式, with 本月合计 and 本年累计): reports.books, ledger.books."""
    return ledger_books_data(book, year, month, upto=upto)


def vouchers_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    start, end, _, _ = _period(year, month)
    entries = JournalEntry.objects.filter(book=book, status="posted", date__gte=start, date__lte=end)
    if upto is not None:
        entries = entries.filter(seq__lte=upto)
    entries = (entries
               .select_related("made_by", "reviewed_by", "supervisor").prefetch_related("postings__account")
               .annotate(attachment_count=Count("attachments"))
               .order_by("date", "month_number", "number"))
    vouchers, total = [], Decimal(0)
    for e in entries:
        # 借 lines first, then 贷, each in the order they were entered: how a 记账凭证 is read.
        postings = sorted(e.postings.all(), key=lambda p: (not p.debit.amount, p.line))
        lines = [{"account": f"{p.account.code} {p.account.name}", "memo": p.memo or e.memo,
                  "debit": _s(p.debit), "credit": _s(p.credit)} for p in postings]
        amount = sum((p.debit.amount for p in postings), Decimal(0))
        total += amount
        # 记账: the reviewer's approval is what posts the voucher into the books (one act, 审核记账).
        vouchers.append({"voucher": e.voucher, "date": e.date.isoformat(), "memo": e.memo, "lines": lines,
                         "amount": _s(amount), "upper": cn_upper(amount), "hash": e.hash[:16],
                         "attachments": str(e.attachment_count),
                         "made_by": person_name(e.made_by), "reviewed_by": person_name(e.reviewed_by),
                         "posted_by": person_name(e.reviewed_by), "supervisor": person_name(e.supervisor)})
    return {"title": "记账凭证", "vouchers": vouchers, "totals": {"count": str(len(vouchers)), "amount": _s(total)},
            "upper": cn_upper(total)}


def _contract_years(book: Book):
    owner = {"contract__fund": book.fund} if book.kind == Book.Kind.FUND else {"contract__insurer": book.insurer}
    return ContractYear.objects.filter(**owner).select_related("contract").order_by("year")


def premium_status_data(book: Book, year: int, month: int | None) -> dict:
    # 保费划拨对账单: 应拨, 考核扣留, 已到账 (confirmed by the insurer), 在途, 差额, the deposit and the
    # reconciliation to the settlement's premium (reports/premium.py, from reconciliation.premium).
    from .premium import premium_statement_data

    return premium_statement_data(book, year, month)


def settlement_data(book: Book, year: int, month: int | None) -> dict:
    settlements = Settlement.objects.filter(contract_year__in=[cy for cy in _contract_years(book) if cy.year == year])
    if not settlements:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("year"), _("a year with a settlement"),
                               year)])
    blocks = []
    for s in settlements:
        blocks.append({"contract": s.contract_year.contract.name, "status": s.get_status_display(),
                       "as_of": s.as_of.isoformat(), "score": str(s.score) if s.score is not None else "—",
                       "lines": [{"label": LABELS[k], "amount": v} for k, v in s.outcome.items()],
                       "upper": [{"label": LABELS[k], "words": cn_upper(s.outcome[k])}
                                 for k in ("surplus_returned", "surplus_carried", "loss_fund", "deposit_released")
                                 if Decimal(s.outcome[k])],
                       "reason": s.loss_reason, "prepared_by": person_name(s.prepared_by),
                       "reviewed_by": person_name(s.reviewed_by), "posted_by": person_name(s.posted_by),
                       **_settlement_netting_block(s)})
    return {"title": "年度结算报告", "blocks": blocks, "totals": {"count": str(len(blocks))}}


def _settlement_netting_block(s: Settlement) -> dict:
    """Premium owed and paid by the settlement's date, and what the fund still owes netted against what the
    settlement moves, every gross figure shown (reconciliation.settlement.settlement_netting); with the
    preparer's decision where premium was unpaid. Nothing for settlements drafted before these were kept."""
    from reconciliation.settlement import settlement_netting

    if s.premium_paid is None:
        return {"netting": [], "unpaid_reason": ""}
    paid, unpaid = s.premium_paid.amount, s.premium_unpaid.amount
    loss_paid_now = (s.terms or {}).get("policy_loss_settled_by", "paid") == "paid"
    n = settlement_netting(outcome=s.outcome, unpaid=unpaid, loss_paid_now=loss_paid_now)
    net = n["net"]
    lines = [("应拨保费（不含服务保证金）", paid + unpaid), ("截至结算日已拨付", paid), ("基金尚欠保费", unpaid),
             ("承办机构应返还结余", n["surplus_returned"]), ("基金应付政策性亏损分担", n["loss_fund"]),
             ("轧差净额：承办机构应付基金" if net >= 0 else "轧差净额：基金应付承办机构", abs(net))]
    return {"netting": [{"label": label, "amount": _s(amount)} for label, amount in lines],
            "net_words": cn_upper(_s(abs(net))), "unpaid_reason": s.unpaid_reason if unpaid else ""}


def operations_data(book: Book, year: int, month: int | None) -> dict:
    # 年度 / 季度运行分析 (--month 3, 6, 9 or 12: the quarter ending that month), claims reconciled to 6511
    # (reports/operations.py, from claims.operations).
    from .operations import operations_report_data

    return operations_report_data(book, year, month)


def bank_reconciliation_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    from reconciliation.bank import bank_reconciliation
    from reconciliation.models import BankStatement

    if month is None:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("month"), _("a month (a statement is monthly)"),
                               _("none"))])
    statements = BankStatement.objects.filter(account__book=book, year=year, month=month).select_related("account")
    if not statements:
        raise Refused([problem(lazy_format(_("book %(code)s"), code=book.code), _("month"),
                               _("a month with an imported bank statement"), f"{year}-{month:02d}")])
    blocks = []
    for st in statements:
        r = bank_reconciliation(statement=st, upto=upto)

        def lines(items, bank):
            return [{"date": (x.date if bank else x.entry.date).isoformat(),
                     "what": (x.description or x.reference) if bank else f"{x.entry.voucher} {x.entry.memo}",
                     "amount": _s(abs(x.amount.amount) if bank else abs(x.debit.amount - x.credit.amount))}
                    for x in items]

        blocks.append({"account": f"{st.account.code} {st.account.name}", "book_balance": _s(r.book_balance),
                       "bank_balance": _s(r.bank_balance), "bank_in": lines(r.bank_in_not_booked, True),
                       "bank_out": lines(r.bank_out_not_booked, True), "book_in": lines(r.booked_in_not_in_bank, False),
                       "book_out": lines(r.booked_out_not_in_bank, False), "adjusted_book": _s(r.adjusted_book),
                       "adjusted_bank": _s(r.adjusted_bank), "balanced": r.balanced})
    return {"title": "银行存款余额调节表", "blocks": blocks,
            "totals": {"adjusted": ",".join(b["adjusted_book"] for b in blocks)}}


def vouchers_split(data: dict, rows_per_part: int) -> list[dict]:
    parts, current, size = [], [], 0
    for v in data["vouchers"]:
        if current and size + len(v["lines"]) + 4 > rows_per_part:
            parts.append(current)
            current, size = [], 0
        current.append(v)
        size += len(v["lines"]) + 4
    if current or not parts:
        parts.append(current)
    return [dict(data, vouchers=vouchers) for vouchers in parts]


@dataclass(frozen=True)
class Kind:
    title: str
    build: object
    template: str
    # Long kinds can be cut into parts that workers lay out side by side (see reports.pdf) …
    split: object = None
    # … or drawn straight onto the canvas, a thousand pages in seconds (see reports.canvas_ledger).
    draw: object = None
    # Read from the book's postings: such a statement is rebuilt, to verify it, from the entries of the
    # chain up to the position it was issued at (build takes `upto`).
    from_chain: bool = False


KINDS = {
    "trial-balance": Kind("科目余额表", trial_balance_data, "reports/trial_balance.html", from_chain=True),
    "ledger": Kind("明细账", ledger_data, "", draw="reports.canvas_ledger.ledger_pdf", from_chain=True),
    "general-ledger": Kind("总分类账", general_ledger_data, "", draw="reports.canvas_ledger.general_ledger_pdf",
                           from_chain=True),
    "cash-journal": Kind("银行存款日记账", cash_journal_data, "", draw="reports.canvas_ledger.cash_journal_pdf",
                         from_chain=True),
    "vouchers": Kind("记账凭证", vouchers_data, "reports/vouchers.html", vouchers_split, from_chain=True),
    "premium-status": Kind("保费划拨对账单", premium_status_data, "reports/premium_status.html"),
    "settlement": Kind("年度结算报告", settlement_data, "reports/settlement.html"),
    "operations": Kind("年度运行分析", operations_data, "reports/operations.html"),
    "bank-reconciliation": Kind("银行存款余额调节表", bank_reconciliation_data, "reports/bank_reconciliation.html",
                                from_chain=True),
    "province": Kind("省级多家承办机构汇总表", province_data, "reports/province.html"),
}
