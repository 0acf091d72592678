"""The people who sign for the books: whoever prepares (制单) or approves (审核) money is a named user.

A voucher names real people, never a service or "系统导入"; so a user without a name on record
cannot sign for money until an administrator enters it.
"""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from .errors import lazy_format, problem


def person_name(user) -> str:
    """The name printed where a person signs: family name then given name, as Chinese names are written."""
    if user is None:
        return ""
    return f"{user.last_name}{user.first_name}".strip()


def person_of(value):
    """A user from a user or a user id; None stays None."""
    if value is None or hasattr(value, "get_username"):
        return value
    return get_user_model().objects.filter(pk=value).first()


def signer_problems(label: str, *, made_by, reviewed_by=None, need_reviewer: bool = True) -> list[dict]:
    """What keeps these people from signing a document that moves money: nobody, no name, one person twice."""
    problems = []
    maker, reviewer = person_of(made_by), person_of(reviewed_by)
    # Each role's three texts written out whole, so each is one phrase for the translators.
    roles = (
        (maker, "made_by", _("made_by"), _("a preparer (制单): a named person"),
         _("a preparer (制单): an active user"), _("a preparer (制单): a user with a name on record")),
        (reviewer, "reviewed_by", _("reviewed_by"), _("a reviewer (审核): a named person"),
         _("a reviewer (审核): an active user"), _("a reviewer (审核): a user with a name on record")),
    )
    for who, key, field, named, active, on_record in roles:
        if who is None:
            if key == "made_by" or need_reviewer:
                problems.append(problem(label, field, named, _("nobody")))
        elif not who.is_active:
            problems.append(problem(label, field, active, who.get_username()))
        elif not person_name(who):
            problems.append(problem(label, field, on_record,
                                    lazy_format(_("%(user)s (no name)"), user=who.get_username())))
    if maker is not None and reviewer is not None and maker.pk == reviewer.pk:
        problems.append(problem(label, _("reviewed_by"), _("a reviewer other than the maker (制单)"), _("the same person")))
    return problems
