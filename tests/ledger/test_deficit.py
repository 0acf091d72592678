"""不允许赤字: a bank account is never overdrawn, and a fund balance on its wrong side is flagged.

The Shandong insurer's 专账 opens with 100,000,000.00 in 1002 银行存款. Paying hospitals more than that
before the premium arrives is refused at posting, naming the day and how far it would run; so is a
back-dated payment that would overdraw a day already booked. 3001 一般基金结余 may dip below zero (the
business allows it) but verify_ledger and the trial balance say so.
"""

from datetime import date

import pytest
from django.db import connection
from djmoney.money import Money

from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import AccountBalance, JournalEntry
from ledger.selectors import trial_balance
from ledger.services import Line, entry_post


def _pay(book, signed, day, amount, memo="支付定点医院赔款"):
    return entry_post(book=book, date=day, memo=memo, lines=[Line("224102", debit=amount), Line("1002", credit=amount)],
                      **signed)


def test_a_payment_that_would_overdraw_the_bank_account_is_refused(insurer_book, insurer_signed):
    _pay(insurer_book, insurer_signed, date(2015, 3, 31), "60000000.00")
    with pytest.raises(Refused) as info:
        _pay(insurer_book, insurer_signed, date(2015, 4, 15), "40000000.01")
    assert info.value.problems == [{
        "entry": "entry «支付定点医院赔款» of 2015-04-15", "field": "account 1002",
        "expected": "a balance that never ends a day on the credit side (银行存款: 不允许赤字)",
        "found": "2015-04-15 ends at credit 0.01"}]
    assert JournalEntry.objects.filter(book=insurer_book).count() == 1
    # The refused payment moved no balance.
    assert not AccountBalance.objects.filter(book=insurer_book, account__code="1002", period__month=4).exists()
    _pay(insurer_book, insurer_signed, date(2015, 4, 15), "40000000.00")  # to the fen: allowed


def test_a_back_dated_payment_that_overdraws_a_later_day_is_refused(insurer_book, insurer_signed):
    # The premium arrives on 04-29; on 05-10 the bank holds 100,000,000 + 256,000,000 − 350,000,000.
    entry_post(book=insurer_book, date=date(2015, 4, 29), memo="收到首期保费",
               lines=[Line("1002", debit="256000000.00"), Line("6031", credit="256000000.00")], **insurer_signed)
    _pay(insurer_book, insurer_signed, date(2015, 5, 10), "350000000.00")
    # 6,000,000.00 left; a 7,000,000.00 payment dated 04-30 would leave 04-30 at 349,000,000 but 05-10 at
    # −1,000,000.00. (April's numbering allows 04-30: it is after April's last voucher, 04-29.)
    with pytest.raises(Refused) as info:
        _pay(insurer_book, insurer_signed, date(2015, 4, 30), "7000000.00", memo="补记4月赔款")
    assert info.value.problems[0]["found"] == "2015-05-10 ends at credit 1,000,000.00"


def test_a_fund_balance_on_its_wrong_side_is_flagged_by_verification(fund_book, signed):
    # Spending 500,000,000 against a 400,000,000 opening: the 支出户 cannot, so the fund draws on 1003.
    entry_post(book=fund_book, date=date(2015, 2, 1), memo="财政专户调入", lines=[
        Line("1003", debit="200000000.00"), Line("3001", credit="200000000.00")], **signed)
    entry_post(book=fund_book, date=date(2015, 3, 1), memo="结余调整（演示：基金结余出现赤字）", lines=[
        Line("3001", debit="700000000.00"), Line("1003", credit="150000000.00"), Line("1004", credit="350000000.00"),
        Line("2001", credit="200000000.00")], **signed)
    result = ledger_verify(book=fund_book)
    assert result.ok  # flagged, not broken: the business allows a fund balance to run negative
    assert result.warnings == [{"book": "FUND-37", "entry": "3001 一般基金结余 2015-03", "check": "balance direction",
                                "expected": "a balance on its credit side",
                                "found": "100,000,000.00 on the other side at the month's end"}]
    tb = trial_balance(book=fund_book, year=2015)
    assert [r.account.code for r in tb.rows if r.wrong_side] == ["3001"]
    assert next(r for r in tb.rows if r.account.code == "3001").closing_debit == Money("100000000.00", "CNY")


def test_a_bank_account_overdrawn_behind_the_application_fails_verification(insurer_book, insurer_signed):
    _pay(insurer_book, insurer_signed, date(2015, 3, 31), "60000000.00")
    with connection.cursor() as cursor:  # the balance table edited by hand: the check must not trust it
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER ledger_balance_guard ON ledger_accountbalance")
        else:
            cursor.execute("DROP TRIGGER ledger_balance_guard_update")
        cursor.execute("UPDATE ledger_accountbalance SET credit_fen = credit_fen + 5000000000 WHERE account_id = %s",
                       [insurer_book.accounts.get(code="1002").pk])
    result = ledger_verify(book=insurer_book)
    assert not result.ok
    assert ("1002 银行存款 2015-03", "balance direction (不允许赤字)") in {(p["entry"], p["check"])
                                                                  for p in result.problems}
