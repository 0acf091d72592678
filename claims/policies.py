"""Where policies come from: the database (edited in the admin) or the files shipped in data/policies."""

import json
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

from .models import BenefitPolicy
from .rules import Policy, policy_from_dict

POLICY_DIR = Path(settings.BASE_DIR) / "data" / "policies"


def shipped_policy_codes() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.json"))


def _definition(code: str) -> dict:
    """The stored (possibly edited) definition, else the shipped file's.

    A database without the tables (never migrated) is refused, not answered from the shipped
    file: the database the user meant may hold an edited policy that a wrong or new
    DATABASE_URL would silently bypass.
    """
    try:
        stored = BenefitPolicy.objects.filter(code=code).first()
    except DatabaseError as exc:
        raise Refused([problem(_("database"), _("benefit policies table"),
                               _("a migrated database (run: manage.py migrate)"),
                               str(exc).splitlines()[0] if str(exc) else type(exc).__name__)]) from None
    if stored is not None:
        return {**stored.definition, "code": stored.code, "year": stored.year}
    path = POLICY_DIR / f"{code}.json"
    if not path.exists():
        known = set(shipped_policy_codes()) | set(BenefitPolicy.objects.values_list("code", flat=True))
        names = ", ".join(sorted(known))
        raise Refused([problem(_("policy"), _("code"), lazy_format(_("one of %(names)s"), names=names), code)])
    return json.loads(path.read_text(encoding="utf-8"))


def policy_get(*, code: str, overrides: dict | None = None) -> Policy:
    """The policy by code: the stored (possibly edited) one, else the shipped file.

    A group whose rule waits for a figure its document leaves open is refused when asked for
    (Policy.rule), each such parameter named with its note, until `overrides` or the stored
    definition sets it; a group the policy neither lists nor maps is refused naming those it does.
    """
    return policy_from_dict(_definition(code), where=_("policy"), overrides=overrides)


def policy_groups_get(*, code: str) -> dict[str, str]:
    """The groups a policy pays, each to the listed group whose rule applies (itself, or the one the
    document maps it to), whether or not its parameters are set yet: what a claims file may name."""
    policy = policy_from_dict(_definition(code), where=_("policy"))
    return {g: policy.paid_as(g) for g in policy.accepted()}


def policy_from_file(*, path: Path, overrides: dict | None = None) -> Policy:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused([problem(str(path), _("file"), _("a readable JSON policy file"), exc)]) from None
    return policy_from_dict(data, where=str(path), overrides=overrides)


@transaction.atomic
def policies_load() -> list[BenefitPolicy]:
    """Store the shipped policies not yet in the database; edited ones are left as the user made them."""
    loaded = []
    for code in shipped_policy_codes():
        data = json.loads((POLICY_DIR / f"{code}.json").read_text(encoding="utf-8"))
        policy_from_dict(data)  # a shipped file must at least be well formed
        obj, _ = BenefitPolicy.objects.get_or_create(
            code=code, defaults={"year": data["year"], "name": data.get("name", code),
                                 "source": data.get("source", ""), "definition": data})
        loaded.append(obj)
    return loaded
