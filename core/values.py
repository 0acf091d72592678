"""Strict readers for the figures and dates in uploaded tables.

Python's Decimal and date parsers accept far more than a ledger should: Decimal("1e30"),
Decimal("Infinity"), Decimal("sNaN"), and a date sliced from "2020-03-01garbage". Every
import reads its cells through these instead, so a cell either is a plain figure or date
or is refused with a reason the caller reports with its row and field.
"""

import re
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from .errors import lazy_format

# Digits in groups of three when commas are used: "1,00" (a decimal comma) is refused, not read as 100.
# ASCII digits only: \d and Decimal also take full-width and other scripts' digits.
_AMOUNT = re.compile(r"([+-]?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?")
_EXPONENT = re.compile(r"[+-]?[0-9,]*\.?[0-9]*[eE][+-]?[0-9]+")
_NOT_FINITE = re.compile(r"[+-]?(s?nan|inf|infinity)", re.IGNORECASE)
_DATE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})|([0-9]{4})([0-9]{2})([0-9]{2})")
_TIME = re.compile(r" [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$")
_MIDNIGHT = " 00:00:00"  # how iter_table shows an XLSX date cell


class BadValue(ValueError):
    """A cell that is not the figure or date expected: `expected` says what would do, `found` what is there."""

    def __init__(self, expected, found):
        super().__init__(f"expected {expected}, found {found}")
        self.expected, self.found = expected, found


def amount(text: str, *, limit: Decimal | None = None, signed: bool = False, limit_name: str = "") -> Decimal:
    """Yuan with at most 2 decimals: digits, optional thousands commas, a sign only when `signed`.

    Refused: empty, exponent notation, Infinity/NaN, more than 2 decimals, a sign where none is
    allowed, and a magnitude above `limit` (named by `limit_name`, the setting that holds it).
    """
    base = _("an amount with at most 2 decimals") if signed else _("an amount ≥ 0 with at most 2 decimals")
    value = _figure(text.strip(), base, signed=signed)
    return within(value, limit=limit, limit_name=limit_name, found=text.strip())


def _figure(text: str, base, *, signed: bool) -> Decimal:
    if not text:
        raise BadValue(base, _("(empty)"))
    match = _AMOUNT.fullmatch(text)
    if match is None:
        if _NOT_FINITE.fullmatch(text):
            raise BadValue(lazy_format(_("%(base)s, a finite figure (not Infinity or NaN)"), base=base), text)
        if _EXPONENT.fullmatch(text):
            raise BadValue(lazy_format(_("%(base)s, written out in digits (no exponent notation)"), base=base), text)
        raise BadValue(lazy_format(_("%(base)s (digits, thousands commas optional)"), base=base), text)
    sign, whole, decimals = match.groups()
    if (sign == "-" and not signed) or (decimals is not None and len(decimals) > 2):
        raise BadValue(base, text)
    # Built with exactly two places rather than quantized: quantize fails beyond 28 digits.
    return Decimal(f"{sign}{whole.replace(',', '')}.{(decimals or '').ljust(2, '0')}")


def within(value: Decimal, *, limit: Decimal | None, limit_name: str = "", found: str | None = None) -> Decimal:
    """The amount, if its magnitude is plausible; also for figures a parser other than ours produced."""
    if not value.is_finite():
        raise BadValue(_("a finite amount"), found or str(value))
    if limit is not None and abs(value) > limit:
        if limit_name:
            expected = lazy_format(_("an amount of at most %(limit)s (setting %(setting)s)"), limit=f"{limit:,.2f}",
                                   setting=limit_name)
        else:
            expected = lazy_format(_("an amount of at most %(limit)s"), limit=f"{limit:,.2f}")
        raise BadValue(expected, found or f"{value:,.2f}")
    return value


def whole_number(text: str, *, limit: int | None = None, what=None) -> int:
    """A count: digits, thousands commas optional; "240346.00" is accepted, "240346.5" and "-1" are not."""
    text = text.strip()
    what = _("a whole number ≥ 0") if what is None else what
    value = _figure(text, what, signed=False)
    if value != value.to_integral_value():
        raise BadValue(what, text)
    if limit is not None and value > limit:
        raise BadValue(lazy_format(_("%(what)s, at most %(limit)s"), what=what, limit=f"{limit:,}"), text)
    return int(value)


def date_value(text: str) -> date:
    """A calendar date: YYYY-MM-DD, YYYY/MM/DD (month and day may be one digit), YYYYMMDD, or an
    XLSX date cell (YYYY-MM-DD 00:00:00). Anything after the date is refused, not cut off."""
    text = text.strip()
    expected = _("a date YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD)")
    if not text:
        raise BadValue(expected, _("(empty)"))
    core = text[: -len(_MIDNIGHT)] if text.endswith(_MIDNIGHT) else text
    match = _DATE.fullmatch(core)
    if match is None:
        if _TIME.search(core) and _DATE.fullmatch(_TIME.sub("", core)):
            raise BadValue(lazy_format(_("%(expected)s, without a time of day"), expected=expected), text)
        raise BadValue(expected, text)
    g = match.groups()
    y, m, d = (g[0], g[2], g[3]) if g[0] else (g[4], g[5], g[6])
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        raise BadValue(_("a date that exists in the calendar"), text) from None
