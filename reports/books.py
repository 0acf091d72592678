"""The figures of the account-book statements (明细账, 总分类账, 银行存款日记账), read by ledger.books and
written as strings with two decimals, as every statement's data is (reports.registry): the same function
builds the PDF and, later, verifies it. reports.canvas_ledger draws them; docs/books.md says how to read them.
"""

import calendar
from datetime import date
from decimal import Decimal

from accounts.models import Book
from ledger.books import AccountBook, account_ledger, cash_journal, general_ledger


def _f(fen: int) -> str:
    return f"{Decimal(fen).scaleb(-2):.2f}"


def _months(year: int, month: int | None) -> tuple[int, int]:
    return (1, 12) if month is None else (month, month)


def _block(book: AccountBook, **extra) -> dict:
    return {"code": book.account.code, "name": book.account.name, **extra, "rows": [
        {"kind": r.kind, "date": r.date.isoformat(), "voucher": r.voucher, "memo": r.memo,
         "debit": _f(r.debit), "credit": _f(r.credit), "dc": r.direction, "balance": _f(r.balance),
         "cum_debit": _f(r.cum_debit), "cum_credit": _f(r.cum_credit), **({"counter": r.counter} if r.counter else {})}
        for r in book.rows]}


def ledger_books_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    m1, m2 = _months(year, month)
    books = account_ledger(book=book, year=year, month_from=m1, month_to=m2, upto=upto)
    return {"title": "明细账", "accounts": [_block(b) for b in books],
            "totals": {"debit": _f(sum(b.period_debit for b in books)),
                       "credit": _f(sum(b.period_credit for b in books))}}


def general_ledger_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    m1, m2 = _months(year, month)
    books = general_ledger(book=book, year=year, month_from=m1, month_to=m2, upto=upto)
    return {"title": "总分类账", "accounts": [_block(b) for b in books],
            "totals": {"debit": _f(sum(b.period_debit for b in books)),
                       "credit": _f(sum(b.period_credit for b in books))}}


def cash_journal_data(book: Book, year: int, month: int | None, upto: int | None = None) -> dict:
    m1, m2 = _months(year, month)
    books = cash_journal(book=book, year=year, month_from=m1, month_to=m2, upto=upto)
    return {"title": "银行存款日记账", "accounts": [
        _block(b, journal="现金日记账" if b.account.code.startswith("1001") else "银行存款日记账") for b in books],
        "totals": {"receipts": _f(sum(b.period_debit for b in books)),
                   "payments": _f(sum(b.period_credit for b in books)),
                   "closing": _f(sum(b.closing.net for b in books))},
        "as_of": date(year, m2, calendar.monthrange(year, m2)[1]).isoformat()}
