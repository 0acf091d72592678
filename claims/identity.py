"""Resident ID numbers (GB 11643-1999): checked, then kept only as a keyed pseudonym.

The contracts oblige confidentiality, so the clear number is never stored: a claim
carries HMAC-SHA256(PSEUDONYM_KEY, ID), which joins one person's claims across files
without revealing who the person is. Messages show a masked number, never the whole.
"""

import hashlib
import hmac
from datetime import date
from operator import mul

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.errors import lazy_format

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    if len(first17) != len(_WEIGHTS):
        raise ValueError(f"17 digits expected, found {len(first17)}")
    return _CHECK[sum(map(mul, map(int, first17), _WEIGHTS)) % 11]


def id_problem(number: str):
    """Why this is not a valid 18-character resident ID number (what was expected, translatable), or None."""
    if len(number) != 18:
        return lazy_format(_("18 characters, found %(n)s"), n=len(number))
    body, last = number[:17], number[17].upper()
    if not body.isascii() or not body.isdigit():
        return _("17 digits and a check character")
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return _("a valid birth date in characters 7–14")
    if born.year < 1890 or born > date.today():
        return _("a plausible birth date in characters 7–14")
    if check_digit(body) != last:
        return _("the GB 11643 check character")
    return None


def mask(number: str) -> str:
    """Enough to find the row in the source file, not enough to identify anyone."""
    return number[:4] + "*" * max(0, len(number) - 8) + number[-4:] if len(number) > 8 else "*" * len(number)


class Pseudonymizer:
    """HMAC under the configured key; built once per import (the key is read once)."""

    def __init__(self, key: str | None = None):
        self._mac = hmac.new((key or settings.PSEUDONYM_KEY).encode(), digestmod=hashlib.sha256)

    def __call__(self, number: str) -> str:
        mac = self._mac.copy()
        mac.update(number.upper().encode())
        return mac.hexdigest()
