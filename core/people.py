"""The people who sign for the books: whoever prepares (制单) or approves (审核) money is a named user.

A voucher names real people, never a service or "系统导入"; so a user without a name on record
cannot sign for money until an administrator enters it.
"""

from django.contrib.auth import get_user_model

from .errors import problem


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
    for who, role, field in ((maker, "a preparer (制单)", "made_by"), (reviewer, "a reviewer (审核)", "reviewed_by")):
        if who is None:
            if field == "made_by" or need_reviewer:
                problems.append(problem(label, field, f"{role}: a named person", "nobody"))
        elif not who.is_active:
            problems.append(problem(label, field, f"{role}: an active user", who.get_username()))
        elif not person_name(who):
            problems.append(problem(label, field, f"{role}: a user with a name on record",
                                    f"{who.get_username()} (no name)"))
    if maker is not None and reviewer is not None and maker.pk == reviewer.pk:
        problems.append(problem(label, "reviewed_by", "a reviewer other than the maker (制单)", "the same person"))
    return problems
