"""Reading the books: 科目余额表, balances at a date, 明细账 with a running balance.

The insurer's 2015 Shandong book: opened (建账) with 100,000,000.00 of working capital from its head
office (1002 银行存款 / 224199 其他), premium of 320,000,000.00 (32 yuan × 10,000,000 insured) received
in two tranches, claims accrued to hospitals and paid, and the year's surplus owed back to the fund
booked to 224101 应返还医保基金.
"""

from datetime import date

import pytest
from djmoney.money import Money

from ledger.selectors import account_balance, account_statement, trial_balance
from ledger.services import Line, entry_post


def cny(x):
    return Money(x, "CNY")


@pytest.fixture
def insurer_year(insurer_book, insurer_signed):
    b = insurer_book
    entry_post(book=b, date=date(2015, 4, 29), memo="收到首期保费80%",
               lines=[Line("1002", debit="256000000.00"), Line("6031", credit="256000000.00")], **insurer_signed)
    entry_post(book=b, date=date(2015, 5, 31), memo="5月医院赔款",
               lines=[Line("6511", debit="18250340.27"), Line("224102", credit="18250340.27")], **insurer_signed)
    entry_post(book=b, date=date(2015, 6, 10), memo="支付5月医院赔款",
               lines=[Line("224102", debit="18250340.27"), Line("1002", credit="18250340.27")], **insurer_signed)
    entry_post(book=b, date=date(2015, 12, 28), memo="收到尾款20%",
               lines=[Line("1002", debit="64000000.00"), Line("6031", credit="64000000.00")], **insurer_signed)
    entry_post(book=b, date=date(2015, 12, 31), memo="超额结余应返还基金",
               lines=[Line("6031", debit="1500000.00"), Line("224101", credit="1500000.00")], **insurer_signed)
    return b


def _row(tb, code):
    return next(r for r in tb.rows if r.account.code == code)


def test_trial_balance_for_the_year(insurer_year):
    tb = trial_balance(book=insurer_year, year=2015)
    bank = _row(tb, "1002")
    # The opening balance is 期初, not a movement of the year: 100,000,000.00 + 320,000,000.00 − 18,250,340.27.
    assert (bank.opening_debit, bank.period_debit, bank.period_credit, bank.closing_debit) == (
        cny("100000000.00"), cny("320000000.00"), cny("18250340.27"), cny("401749659.73"))
    premium = _row(tb, "6031")
    assert (premium.period_debit, premium.period_credit, premium.closing_credit) == (
        cny("1500000.00"), cny("320000000.00"), cny("318500000.00"))
    # 2241 其他应付款 shows the sum of its sub-accounts, indented one level up.
    payable = _row(tb, "2241")
    assert not payable.is_leaf and payable.depth == 0 and _row(tb, "224101").depth == 1
    assert (payable.opening_credit, payable.period_debit, payable.period_credit, payable.closing_credit) == (
        cny("100000000.00"), cny("18250340.27"), cny("19750340.27"), cny("101500000.00"))
    assert tb.balanced
    assert (tb.totals.opening_debit, tb.totals.opening_credit) == (cny("100000000.00"), cny("100000000.00"))
    assert (tb.totals.period_debit, tb.totals.closing_debit) == (cny("358000680.54"), cny("420000000.00"))


def test_trial_balance_for_a_later_range_opens_with_what_came_before(insurer_year):
    tb = trial_balance(book=insurer_year, year=2015, month_from=6, month_to=12)
    bank = _row(tb, "1002")
    assert (bank.opening_debit, bank.period_debit, bank.period_credit, bank.closing_debit) == (
        cny("356000000.00"), cny("64000000.00"), cny("18250340.27"), cny("401749659.73"))
    hospitals = _row(tb, "224102")
    assert (hospitals.opening_credit, hospitals.period_debit, hospitals.closing_credit) == (
        cny("18250340.27"), cny("18250340.27"), cny(0))
    assert tb.balanced


def test_balance_of_an_account_at_a_date(insurer_year):
    bank = insurer_year.accounts.get(code="1002")
    assert account_balance(account=bank, as_of=date(2015, 1, 1)) == cny("100000000.00")
    assert account_balance(account=bank, as_of=date(2015, 4, 28)) == cny("100000000.00")
    assert account_balance(account=bank, as_of=date(2015, 6, 9)) == cny("356000000.00")
    assert account_balance(account=bank, as_of=date(2015, 6, 10)) == cny("337749659.73")
    assert account_balance(account=bank, as_of=date(2016, 1, 1)) == cny("401749659.73")


def test_account_statement_runs_the_balance_line_by_line(insurer_year):
    bank = insurer_year.accounts.get(code="1002")
    opening, lines = account_statement(account=bank, date_from=date(2015, 5, 1), date_to=date(2015, 12, 31))
    assert opening == cny("356000000.00")
    assert [(ln.voucher, ln.memo, ln.debit, ln.credit, ln.balance) for ln in lines] == [
        ("记-2015-06-0001", "支付5月医院赔款", cny(0), cny("18250340.27"), cny("337749659.73")),
        ("记-2015-12-0001", "收到尾款20%", cny("64000000.00"), cny(0), cny("401749659.73")),
    ]
