"""Which side of a fund–insurer document a user acts for: it follows from their role and scope, never from a form."""

from .roles import FUND_ACCOUNTANT, INSURER_ACCOUNTANT
from .scope import scope_of

FUND, INSURER = "fund", "insurer"


def party_side(user, *, fund, insurer) -> str | None:
    """"fund" for a fund accountant whose scope holds the fund, "insurer" for the insurer's accountant;
    None for anyone else (reviewers, auditors, administrators, or someone who would be both)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    groups = set(user.groups.values_list("name", flat=True))
    s = scope_of(user)
    sides = set()
    if FUND_ACCOUNTANT.group in groups and (s.everything or fund.pk in s.fund_ids):
        sides.add(FUND)
    if INSURER_ACCOUNTANT.group in groups and (s.everything or insurer.pk in s.insurer_ids):
        sides.add(INSURER)
    return sides.pop() if len(sides) == 1 else None
