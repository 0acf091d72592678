"""A contract year's tranche schedule and settlement terms as the admin shows them: in words, not JSON."""

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from core.display import rows_table, yes_no

# The keys of the settlement terms (reconciliation.settlement.terms_from_dict) and their values.
TERMS = {
    "retained_cap_pct": _("insurer's retained share, at most (percent of premium earned)"),
    "cost_deducted": _("operating cost deducted before the surplus"),
    "surplus_to": _("surplus beyond the cap goes to"),
    "insurer_loss_band_pct": _("loss the insurer bears, up to (percent of premium earned)"),
    "beyond_band": _("loss beyond that band"),
    "policy_loss_fund_share_pct": _("fund's share of a policy-caused loss (percent)"),
    "incentive": _("incentive by assessment score"),
    "deposit_release": _("service deposit released by assessment score"),
    "policy_loss_settled_by": _("fund's share of a policy loss settled by"),
    "cost_release": _("operating cost allowed by assessment score"),
}
VALUES = {
    "basic_fund": _("returned to the basic medical insurance fund"),
    "next_year_fund": _("carried to next year's critical-illness fund"),
    "deferred": _("settled by next year's policy (noted)"),
    "shared": _("shared by the fund"),
    "paid": _("payment at the settlement"),
    "next_year_premium": _("next year's premium (a separate obligation, not part of its premium P)"),
}


def _pct(value) -> str:
    try:
        return f"{Decimal(str(value)).normalize():f}%"
    except (InvalidOperation, ValueError):
        return str(value)


def _bands(bands, key: str):
    if not bands:
        return _("none")
    return rows_table([(f"≥ {b.get('min_score')}", _pct(b.get(key))) for b in bands],
                      head=[_("score"), _("percentage")])


def _value(key: str, value):
    if key == "cost_deducted":
        return yes_no(value)
    if key in ("incentive", "deposit_release", "cost_release"):
        return _bands(value, {"incentive": "extra_pct", "deposit_release": "release_pct"}.get(key, "pct"))
    if key.endswith("_pct"):
        return "-" if value is None else _pct(value)
    return VALUES.get(value, value)


def terms_table(terms: dict):
    """Settlement terms as rows of words; keys this list does not know are shown as stored."""
    return rows_table((TERMS.get(k, k), _value(k, v)) for k, v in (terms or {}).items())


def tranches_table(tranches: list):
    """The tranche schedule: each tranche, when it is due and the share paid by then."""
    return rows_table([(n, t.get("due", "-"), _pct(t.get("cumulative_pct")))
                       for n, t in enumerate(tranches or [], start=1)],
                      head=[_("tranche"), _("due"), _("cumulative share")])
