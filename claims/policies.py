"""Where policies come from: the database (edited in the admin) or the files shipped in data/policies."""

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

from .models import BenefitPolicy
from .rules import Policy, policy_from_dict

POLICY_DIR = Path(settings.BASE_DIR) / "data" / "policies"


def shipped_policy_codes() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.json"))


def policy_get(*, code: str, overrides: dict | None = None) -> Policy:
    """The policy by code: the stored (possibly edited) one, else the shipped file."""
    stored = BenefitPolicy.objects.filter(code=code).first()
    if stored is not None:
        data = {**stored.definition, "code": stored.code, "year": stored.year}
    else:
        path = POLICY_DIR / f"{code}.json"
        if not path.exists():
            known = sorted(set(shipped_policy_codes()) | set(BenefitPolicy.objects.values_list("code", flat=True)))
            raise Refused([problem(_("policy"), _("code"), lazy_format(_("one of %(names)s"), names=", ".join(known)),
                                   code)])
        data = json.loads(path.read_text(encoding="utf-8"))
    return policy_from_dict(data, where=_("policy"), overrides=overrides)


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
        policy_from_dict(data, allow_unset=True)  # a shipped file must at least be well formed
        obj, _ = BenefitPolicy.objects.get_or_create(
            code=code, defaults={"year": data["year"], "name": data.get("name", code),
                                 "source": data.get("source", ""), "definition": data})
        loaded.append(obj)
    return loaded
