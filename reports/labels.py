"""How the admin and the verification results name what a statement holds: its kind by its Chinese
title (reports.registry.KINDS), its parameters and its totals by words, never by their keys."""

from django.utils.translation import gettext_lazy as _

from core.errors import lazy_format

# The keys of a statement's "totals" (reports.registry, reports.books, reports.premium, reports.operations).
TOTALS = {
    "od": _("opening debit"), "oc": _("opening credit"), "pd": _("debit in the period"),
    "pc": _("credit in the period"), "cd": _("closing debit"), "cc": _("closing credit"),
    "debit": _("debit"), "credit": _("credit"), "receipts": _("receipts"), "payments": _("payments"),
    "closing": _("closing balance"), "amount": _("contract amount"), "withheld": _("withheld by the assessment"),
    "required": _("required"), "received": _("received"), "in_transit": _("in transit"),
    "shortfall": _("shortfall"), "premium": _("premium"), "claims": _("claims"),
    "ledger_6511": _("claims booked (6511)"), "unexplained": _("unexplained difference"),
    "persons": _("persons"), "episodes": _("episodes"),
}


def kind_title(kind: str) -> str:
    """The statement's title as printed on it (科目余额表 …); an unknown kind as it is."""
    from .registry import KINDS

    return KINDS[kind].title if kind in KINDS else kind


def period_shown(params: dict) -> str:
    """The period a statement covers, as the statement prints it: 2019年, 2019年6月."""
    year, month = (params or {}).get("year"), (params or {}).get("month")
    if year is None:
        return "-"
    return f"{year}年{f'{month}月' if month else ''}"


def total_label(key: str):
    return TOTALS.get(key, key)


def total_changed(key: str, issued, now):
    return lazy_format(_("%(total)s: issued %(issued)s, books now %(now)s"), total=total_label(key), issued=issued,
                       now=now if now is not None else "-")
