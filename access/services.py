"""Roles as groups, and users with a role and a scope."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import Insurer, Region
from core.errors import Refused, lazy_format, problem

from .models import Scope
from .roles import ROLES


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create or refresh one group per role with exactly its permissions; how many each holds."""
    # Every permission read once, as ids by (app, codename): it runs for each person added, so it stays cheap.
    everything = {(app, codename): pk for pk, app, codename in
                  Permission.objects.values_list("pk", "content_type__app_label", "codename")}
    counts = {}
    for role in ROLES.values():
        group, _created = Group.objects.get_or_create(name=role.group)
        if role.permissions == ("*",):
            perms = list(everything.values())
        else:
            wanted = {tuple(p.split(".", 1)) for p in role.permissions}
            perms = [pk for key, pk in everything.items() if key in wanted]
        group.permissions.set(perms)
        counts[role.code] = len(perms)
    return counts


@transaction.atomic
def user_create(*, username: str, password: str, role: str, regions=(), insurers=(), everything: bool = False,
                full_name: str = ""):
    """A staff user in one role, scoped to regions (codes, each with its sub-regions) and insurers (codes).

    Administrators see every book. Any other role needs at least one region or insurer.
    """
    problems = []
    if role not in ROLES:
        problems.append(problem(_("user"), _("role"), lazy_format(_("one of %(names)s"), names=", ".join(ROLES)), role))
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        problems.append(problem(_("user"), _("username"), _("a new username"), username))
    found_regions = list(Region.objects.filter(code__in=regions))
    found_insurers = list(Insurer.objects.filter(code__in=insurers))
    for code in set(regions) - {r.code for r in found_regions}:
        problems.append(problem(_("user"), _("region"), _("a region code"), code))
    for code in set(insurers) - {i.code for i in found_insurers}:
        problems.append(problem(_("user"), _("insurer"), _("an insurer code"), code))
    everything = everything or role == "administrator"
    if role in ROLES and not everything and not (regions or insurers):
        problems.append(problem(_("user"), _("scope"), _("at least one region or insurer"), _("none")))
    user = User(username=username, first_name=full_name, is_staff=True)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        problems.append(problem(_("user"), _("password"), _("a strong password"), "; ".join(exc.messages)))
    if problems:
        raise Refused(problems)
    roles_sync()
    user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name=ROLES[role].group))
    scope = Scope.objects.create(user=user, everything=everything)
    scope.regions.set(found_regions)
    scope.insurers.set(found_insurers)
    return user
