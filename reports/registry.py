"""What each statement shows, read from the books by the selectors: the same function builds the PDF
and, later, verifies it. Every figure is a string with two decimals, so the digest is exact.
"""

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from accounts.models import Book
from claims.selectors import counted_claims
from contracts.models import ContractYear
from contracts.selectors import premium_status
from core.errors import Refused, problem
from core.money import cn_upper
from core.people import person_name
from ledger.models import JournalEntry
from ledger.selectors import account_statement, trial_balance
from reconciliation.management.commands.settlement_calc import LABELS
from reconciliation.models import Settlement


def _s(money) -> str:
    amount = money.amount if hasattr(money, "amount") else Decimal(money)
    return f"{amount:.2f}"


def _period(year: int, month: int | None) -> tuple[date, date, int, int]:
    if month is None:
        return date(year, 1, 1), date(year, 12, 31), 1, 12
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), month, month


def trial_balance_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    _, _, m1, m2 = _period(year, month)
    tb = trial_balance(book=book, year=year, month_from=1 if month is None else m1, month_to=m2, upto=upto)
    rows = [{"code": r.account.code, "name": r.account.name, "depth": r.depth, "leaf": r.is_leaf,
             "od": _s(r.opening_debit), "oc": _s(r.opening_credit), "pd": _s(r.period_debit),
             "pc": _s(r.period_credit), "cd": _s(r.closing_debit), "cc": _s(r.closing_credit)} for r in tb.rows]
    t = tb.totals
    totals = {"od": _s(t.opening_debit), "oc": _s(t.opening_credit), "pd": _s(t.period_debit),
              "pc": _s(t.period_credit), "cd": _s(t.closing_debit), "cc": _s(t.closing_credit)}
    return {"title": "科目余额表", "rows": rows, "totals": totals, "balanced": tb.balanced,
            "upper": {"pd": cn_upper(totals["pd"]), "cd": cn_upper(totals["cd"])}}


def ledger_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    start, end, _, _ = _period(year, month)
    accounts = []
    for account in book.accounts.filter(children__isnull=True).order_by("code"):
        opening, lines = account_statement(account=account, date_from=start, date_to=end, upto=upto)
        if not lines and not opening.amount:
            continue
        accounts.append({"code": account.code, "name": account.name, "opening": _s(opening), "lines": [
            {"date": ln.date.isoformat(), "voucher": ln.voucher, "memo": ln.memo, "debit": _s(ln.debit),
             "credit": _s(ln.credit), "balance": _s(ln.balance)} for ln in lines],
            "debit": _s(sum((ln.debit.amount for ln in lines), Decimal(0))),
            "credit": _s(sum((ln.credit.amount for ln in lines), Decimal(0))),
            "closing": _s(lines[-1].balance if lines else opening)})
    return {"title": "明细账", "accounts": accounts,
            "totals": {"debit": _s(sum(Decimal(a["debit"]) for a in accounts)),
                       "credit": _s(sum(Decimal(a["credit"]) for a in accounts))}}


def vouchers_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    start, end, _, _ = _period(year, month)
    entries = JournalEntry.objects.filter(book=book, status="posted", date__gte=start, date__lte=end)
    if upto is not None:
        entries = entries.filter(seq__lte=upto)
    entries = (entries
               .select_related("made_by", "reviewed_by").prefetch_related("postings__account")
               .order_by("fiscal_year", "number"))
    vouchers, total = [], Decimal(0)
    for e in entries:
        lines = [{"account": f"{p.account.code} {p.account.name}", "memo": p.memo or e.memo,
                  "debit": _s(p.debit), "credit": _s(p.credit)} for p in e.postings.all()]
        amount = sum((p.debit.amount for p in e.postings.all()), Decimal(0))
        total += amount
        vouchers.append({"voucher": e.voucher, "date": e.date.isoformat(), "memo": e.memo, "lines": lines,
                         "amount": _s(amount), "upper": cn_upper(amount), "hash": e.hash[:16],
                         "made_by": person_name(e.made_by), "reviewed_by": person_name(e.reviewed_by)})
    return {"title": "记账凭证", "vouchers": vouchers, "totals": {"count": str(len(vouchers)), "amount": _s(total)},
            "upper": cn_upper(total)}


def _contract_years(book: Book):
    owner = {"contract__fund": book.fund} if book.kind == Book.Kind.FUND else {"contract__insurer": book.insurer}
    return ContractYear.objects.filter(**owner).select_related("contract").order_by("year")


def premium_status_data(book: Book, year: int, month: int | None) -> dict:
    years = [cy for cy in _contract_years(book) if cy.year == year]
    blocks = []
    for cy in years:
        rows = premium_status(contract_year=cy, as_of=cy.cutoff)
        blocks.append({"contract": cy.contract.name, "cutoff": cy.cutoff.isoformat(), "rows": [
            {"what": r.obligation.description, "due": r.obligation.due_date.isoformat() if r.obligation.due_date
             else "考核后", "required": _s(r.required), "received": _s(r.received), "shortfall": _s(r.shortfall),
             "state": r.state_label + (f" {r.days_late}天" if r.days_late else "")} for r in rows],
            "required": _s(sum((r.required.amount for r in rows), Decimal(0))),
            "received": _s(sum((r.received.amount for r in rows), Decimal(0)))})
    if not blocks:
        raise Refused([problem(f"book {book.code}", "year", "a year with a contract of this book's owner", year)])
    return {"title": "保费划拨对账单", "blocks": blocks,
            "totals": {"required": _s(sum(Decimal(b["required"]) for b in blocks)),
                       "received": _s(sum(Decimal(b["received"]) for b in blocks))}}


def settlement_data(book: Book, year: int, month: int | None) -> dict:
    settlements = Settlement.objects.filter(contract_year__in=[cy for cy in _contract_years(book) if cy.year == year])
    if not settlements:
        raise Refused([problem(f"book {book.code}", "year", "a year with a settlement", year)])
    blocks = []
    for s in settlements:
        blocks.append({"contract": s.contract_year.contract.name, "status": s.get_status_display(),
                       "as_of": s.as_of.isoformat(), "score": str(s.score) if s.score is not None else "—",
                       "lines": [{"label": LABELS[k], "amount": v} for k, v in s.outcome.items()],
                       "upper": [{"label": LABELS[k], "words": cn_upper(s.outcome[k])}
                                 for k in ("surplus_returned", "surplus_carried", "loss_fund", "deposit_released")
                                 if Decimal(s.outcome[k])],
                       "reason": s.loss_reason, "prepared_by": person_name(s.prepared_by),
                       "reviewed_by": person_name(s.reviewed_by), "posted_by": person_name(s.posted_by)})
    return {"title": "年度结算报告", "blocks": blocks, "totals": {"count": str(len(blocks))}}


def operations_data(book: Book, year: int, month: int | None) -> dict:
    rows = []
    for cy in _contract_years(book).filter(year=year):
        claims = counted_claims().filter(charged_to=cy)
        total = claims.aggregate(s=Sum("paid"))["s"]
        paid = int(total.amount * 100) if total is not None else 0
        persons = claims.values("person").distinct().count()
        premium = sum((o.amount.amount for o in cy.obligations.all()), Decimal(0))
        rows.append({"contract": cy.contract.name, "premium": _s(premium), "claims": _s(Decimal(paid) / 100),
                     "beneficiaries": str(persons), "episodes": str(claims.count()),
                     "loss_ratio": f"{(Decimal(paid) / 100 / premium * 100) if premium else 0:.2f}%"})
    return {"title": "年度运行分析", "rows": rows,
            "totals": {"premium": _s(sum(Decimal(r["premium"]) for r in rows)),
                       "claims": _s(sum(Decimal(r["claims"]) for r in rows))}}


def bank_reconciliation_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    from reconciliation.bank import bank_reconciliation
    from reconciliation.models import BankStatement

    if month is None:
        raise Refused([problem(f"book {book.code}", "month", "a month (a statement is monthly)", "none")])
    statements = BankStatement.objects.filter(account__book=book, year=year, month=month).select_related("account")
    if not statements:
        raise Refused([problem(f"book {book.code}", "month", "a month with an imported bank statement",
                               f"{year}-{month:02d}")])
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
    "vouchers": Kind("记账凭证", vouchers_data, "reports/vouchers.html", vouchers_split, from_chain=True),
    "premium-status": Kind("保费划拨对账单", premium_status_data, "reports/premium_status.html"),
    "settlement": Kind("年度结算报告", settlement_data, "reports/settlement.html"),
    "operations": Kind("年度运行分析", operations_data, "reports/operations.html"),
    "bank-reconciliation": Kind("银行存款余额调节表", bank_reconciliation_data, "reports/bank_reconciliation.html",
                                from_chain=True),
}
