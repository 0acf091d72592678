"""The strict readers every import uses: what they take, what they refuse and why."""

from datetime import date
from decimal import Decimal

import pytest

from core.values import BadValue, amount, date_value, whole_number, within


@pytest.fixture(autouse=True)
def _in_english():
    """What was expected, as the --json output and the audit trail keep it (in English)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.mark.parametrize("text, value", [
    ("325.04", Decimal("325.04")), ("1,234,567.5", Decimal("1234567.50")), ("0", Decimal("0.00")),
    ("+7", Decimal("7.00")), (" 12 ", Decimal("12.00")),
])
def test_plain_amounts(text, value):
    assert amount(text) == value and amount(text).as_tuple().exponent == -2


@pytest.mark.parametrize("text, reason", [
    ("1e30", "no exponent notation"), ("3e4", "no exponent notation"), ("1.5E+11", "no exponent notation"),
    ("Infinity", "not Infinity or NaN"), ("inf", "not Infinity or NaN"), ("-Infinity", "not Infinity or NaN"),
    ("NaN", "not Infinity or NaN"), ("sNaN", "not Infinity or NaN"),
    ("", "at most 2 decimals"), ("1.234", "at most 2 decimals"), ("-5", "≥ 0"),
    ("1,00", "thousands commas optional"),  # a decimal comma is not read as a hundred
    ("１２", "thousands commas optional"), ("12.", "thousands commas optional"), ("¥12", "thousands commas optional"),
])
def test_refused_amounts(text, reason):
    with pytest.raises(BadValue) as info:
        amount(text)
    assert reason in info.value.expected and info.value.found == (text or "(empty)")


def test_signs_and_limits():
    assert amount("-1,234.50", signed=True) == Decimal("-1234.50")
    assert amount("5000000", limit=Decimal(5000000)) == Decimal("5000000.00")
    with pytest.raises(BadValue) as info:
        amount("-5000000.01", signed=True, limit=Decimal(5000000), limit_name="X_LIMIT")
    assert info.value.expected == "an amount of at most 5,000,000.00 (setting X_LIMIT)"
    with pytest.raises(BadValue):
        amount("9" * 60, limit=Decimal(10))  # far beyond any Decimal context precision, still a clean refusal
    with pytest.raises(BadValue):
        within(Decimal("NaN"), limit=None)


@pytest.mark.parametrize("text, value", [("240346", 240346), ("240,346", 240346), ("240346.00", 240346)])
def test_counts(text, value):
    assert whole_number(text) == value


@pytest.mark.parametrize("text", ["240346.5", "-1", "3e4", "", "1,5"])
def test_refused_counts(text):
    with pytest.raises(BadValue):
        whole_number(text)


@pytest.mark.parametrize("text", ["2020-03-01", "2020/03/01", "2020/3/1", "20200301", "2020-03-01 00:00:00"])
def test_dates(text):
    assert date_value(text) == date(2020, 3, 1)


@pytest.mark.parametrize("text, expected", [
    ("2020-03-01garbage", "a date YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD)"),
    ("2020-03-01 10:30:00", "a date YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD), without a time of day"),
    ("2019-02-29", "a date that exists in the calendar"), ("2020-13-01", "a date that exists in the calendar"),
    ("2020-03/01", "a date YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD)"), ("20200301x", "a date YYYY-MM-DD"),
    ("01/03/2020", "a date YYYY-MM-DD"), ("", "a date YYYY-MM-DD"),
])
def test_refused_dates(text, expected):
    with pytest.raises(BadValue) as info:
        date_value(text)
    assert info.value.expected.startswith(expected)
