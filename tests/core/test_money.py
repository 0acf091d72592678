"""Money: CNY in fen, exact sums on every database, and 人民币大写."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum
from djmoney.money import Money

from core.money import AmountError, cn_upper, from_fen, to_fen
from ledger.models import Posting
from ledger.services import EntrySpec, Line, entries_post_many


@pytest.mark.parametrize("value, fen", [("325.04", 32504), (Decimal("0.01"), 1), (Money("182541735.00", "CNY"),
                                        18254173500), ("1,000.5", 100050), (7, 700)])
def test_amounts_become_fen(value, fen):
    assert to_fen(value) == fen
    assert from_fen(fen) == Money(Decimal(fen) / 100, "CNY")


@pytest.mark.parametrize("value", ["1.001", 1.5, "abc", "NaN", Money("1", "USD")])
def test_bad_amounts_are_refused(value):
    with pytest.raises(AmountError):
        to_fen(value)


@pytest.mark.parametrize("value, words", [
    ("325.04", "人民币叁佰贰拾伍元零肆分"),
    ("182541735.00", "人民币壹亿捌仟贰佰伍拾肆万壹仟柒佰叁拾伍元整"),
])
def test_chinese_uppercase_amounts(value, words):
    assert cn_upper(value) == words


def test_ten_thousand_two_decimal_amounts_sum_exactly(fund_book, signed):
    # SQLite keeps decimals as floating point: this sum once came back 33950617749.9984.
    # Contributions received into the 收入户 (Dr 1002 / Cr 4001): a bank account that only fills.
    specs = [EntrySpec(date(2015, 1 + i % 12, 1 + i % 28),
                       [Line("1002", debit=f"{i * 67.89 + 0.01:.2f}"), Line("4001", credit=f"{i * 67.89 + 0.01:.2f}")],
                       f"第{i}笔", f"sum-{i}") for i in range(1, 10001)]
    entries_post_many(book=fund_book, entries=specs, **signed)
    expected = sum(Decimal(f"{i * 67.89 + 0.01:.2f}") for i in range(1, 10001))
    total = Posting.objects.filter(book=fund_book, account__code__in=["1002", "4001"]).aggregate(
        dr=Sum("debit"), cr=Sum("credit"))
    assert total["dr"] == total["cr"] == Money(expected, "CNY")
