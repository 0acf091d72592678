"""建账: the Shandong fund takes over its 支出户 holding 400,000,000.00 on 2015-01-01.

Opening balances are entered per account, not posted as a voucher: 孙会计 prepares them, 周主管
approves them, the 科目余额表 shows them as 期初, and 2016 opens with 2015's closing balances without
any voucher (结转下年). Once approved, or once the book posts, nothing changes them — not the
service, not raw SQL; verify_ledger finds a line changed with the guards dropped.
"""

from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction
from djmoney.money import Money

from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import Opening, OpeningLine
from ledger.opening import opening_approve, opening_save
from ledger.selectors import account_balance, trial_balance
from ledger.services import entry_post, fiscal_year_open
from tests.conftest import person, premium_lines


def cny(x):
    return Money(x, "CNY")


@pytest.fixture
def preparer(shandong):
    return person("sun-kuaiji", "孙会计", "fund_accountant", regions=["37"])


@pytest.fixture
def approver(shandong):
    return person("zhou-zhuguan", "周主管", "reviewer", regions=["37"])


def _save(book, by, **balances):
    return opening_save(book=book, as_of=date(2015, 1, 1), balances=balances, by=by)


def _row(tb, code):
    return next(r for r in tb.rows if r.account.code == code)


def test_opening_balances_are_the_trial_balance_opening_and_carry_into_the_next_year(
        unopened_fund_book, preparer, approver, signed):
    book = unopened_fund_book
    _save(book, preparer, **{"1004": ("400,000,000.00", ""), "3001": ("", "400000000.00")})
    opening = opening_approve(book=book, by=approver)
    assert (opening.status, opening.prepared_by, opening.approved_by) == ("approved", preparer, approver)

    entry_post(book=book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%",
               lines=premium_lines("256000000.00"), **signed)
    tb = trial_balance(book=book, year=2015)
    bank, fund = _row(tb, "1004"), _row(tb, "3001")
    assert (bank.opening_debit, bank.period_credit, bank.closing_debit) == (
        cny("400000000.00"), cny("256000000.00"), cny("144000000.00"))
    assert (fund.opening_credit, fund.period_debit, fund.period_credit) == (cny("400000000.00"), cny(0), cny(0))
    # Only the premium is a movement of the year: no opening voucher inflates 本期发生额.
    assert (tb.totals.opening_debit, tb.totals.period_debit) == (cny("400000000.00"), cny("256000000.00"))
    assert tb.balanced

    # 结转下年: 2016's 期初 is 2015's 期末, and no voucher carried it.
    fiscal_year_open(book=book, year=2016)
    tb2016 = trial_balance(book=book, year=2016)
    assert _row(tb2016, "1004").opening_debit == cny("144000000.00")
    assert book.entries.count() == 1
    assert account_balance(account=book.accounts.get(code="1004"), as_of=date(2015, 1, 1)) == cny("400000000.00")


def test_opening_balances_that_do_not_balance_are_refused_with_both_totals(unopened_fund_book, preparer):
    with pytest.raises(Refused) as info:
        _save(unopened_fund_book, preparer, **{"1004": ("400000000.00", ""), "3001": ("", "399999999.99")})
    assert info.value.problems == [{"entry": "opening balances of book FUND-37", "field": "balance",
                                    "expected": "opening debits equal to opening credits",
                                    "found": "debits 400,000,000.00, credits 399,999,999.99"}]
    assert not Opening.objects.exists()


def test_income_and_expenditure_open_at_zero_and_every_bad_line_is_named(unopened_fund_book, preparer):
    with pytest.raises(Refused) as info:
        _save(unopened_fund_book, preparer, **{"5101": ("10.00", ""), "1004": ("1e3", ""), "9999": ("", "5.00"),
                                               "3001": ("", "-5.00")})
    found = {(p["field"], p["expected"]) for p in info.value.problems}
    assert found == {
        ("account 5101", "a balance-sheet account (income and expenditure open at zero)"),
        ("account 1004", "an amount with at most 2 decimals, written out in digits (no exponent notation)"),
        ("account 9999", "an account of book FUND-37"),
        ("account 3001 credit", "an amount ≥ 0 (put it on the other side)"),
    }
    assert not OpeningLine.objects.exists()


def test_the_preparer_cannot_approve_and_a_pending_opening_blocks_the_first_posting(
        unopened_fund_book, preparer, signed):
    book = unopened_fund_book
    _save(book, preparer, **{"1004": ("400000000.00", ""), "3001": ("", "400000000.00")})
    with pytest.raises(Refused) as info:
        opening_approve(book=book, by=preparer)
    assert info.value.problems[0]["expected"] == "a reviewer other than the maker (制单)"
    with pytest.raises(Refused) as info:
        entry_post(book=book, date=date(2015, 4, 28), memo="拨付保费", lines=premium_lines("1.00"), **signed)
    assert info.value.problems[0]["expected"] == "approved before the first voucher posts"
    assert book.entries.count() == 0


def test_approved_opening_balances_are_frozen_by_the_database(unopened_fund_book, preparer, approver):
    book = unopened_fund_book
    _save(book, preparer, **{"1004": ("400000000.00", ""), "3001": ("", "400000000.00")})
    opening = opening_approve(book=book, by=approver)
    with pytest.raises(Refused):
        _save(book, preparer, **{"1004": ("500000000.00", ""), "3001": ("", "500000000.00")})
    line = opening.lines.get(account__code="1004")
    statements = [
        ("UPDATE ledger_openingline SET debit_fen = 50000000000 WHERE id = %s", [line.pk]),
        ("DELETE FROM ledger_openingline WHERE id = %s", [line.pk]),
        ("INSERT INTO ledger_openingline (opening_id, account_id, debit_fen, credit_fen) VALUES (%s, %s, 100, 0)",
         [opening.pk, book.accounts.get(code="1001").pk]),
        ("UPDATE ledger_opening SET status = 'draft' WHERE id = %s", [opening.pk]),
        ("DELETE FROM ledger_opening WHERE id = %s", [opening.pk]),
    ]
    if connection.vendor == "sqlite":
        statements.append(("INSERT OR REPLACE INTO ledger_openingline (id, opening_id, account_id, debit_fen, "
                           "credit_fen) VALUES (%s, %s, %s, 1, 0)", [line.pk, opening.pk, line.account_id]))
    else:
        statements.append(("TRUNCATE ledger_openingline", []))
    for sql, params in statements:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    assert opening.lines.get(account__code="1004").debit == cny("400000000.00")


def test_an_opening_line_changed_behind_the_guards_fails_verification(fund_book):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER ledger_opening_line_guard ON ledger_openingline")
        else:
            cursor.execute("DROP TRIGGER ledger_opening_line_guard_update")
        cursor.execute("UPDATE ledger_openingline SET debit_fen = debit_fen + 100 WHERE account_id = %s",
                       [fund_book.accounts.get(code="1004").pk])
    result = ledger_verify(book=fund_book)
    assert not result.ok
    checks = {p["check"] for p in result.problems}
    assert "seal of the opening balances (changed after approval)" in checks
    assert "opening balances" in checks  # and it no longer balances


def test_nothing_is_dated_before_the_day_the_book_opened(unopened_fund_book, preparer, approver, signed):
    book = unopened_fund_book
    opening_save(book=book, as_of=date(2015, 3, 1), by=preparer,
                 balances={"1004": ("400000000.00", ""), "3001": ("", "400000000.00")})
    opening_approve(book=book, by=approver)
    with pytest.raises(Refused) as info:
        entry_post(book=book, date=date(2015, 2, 28), memo="二月拨款", lines=premium_lines("1.00"), **signed)
    assert info.value.problems[0]["expected"] == "a date on or after 2015-03-01, the day book FUND-37 opened (建账)"
    entry_post(book=book, date=date(2015, 3, 1), memo="三月拨款", lines=premium_lines("1.00"), **signed)
