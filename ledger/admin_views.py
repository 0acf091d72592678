"""What the ledger and accounts admin pages share: refusals told in the user's language.

Each service writes its problems for translation where it raises them (core.errors.problem with
gettext_lazy parts), so the admin shows them through core.errors.describe in the active language;
the audit trail keeps them in English, the same in every language.
"""

from django import forms
from django.contrib import messages
from django.utils.translation import override

from core.errors import Refused
from core.errors import describe as describe
from core.forms import dry_run


def _english(problems) -> list[str]:
    with override("en"):
        return [describe(p) for p in problems]


def refusal_messages(request, exc: Refused, heading, *, action: str = "refused", obj=None) -> None:
    """A heading saying what did not happen, then every problem, each as its own message; and the refused
    attempt in the audit trail (the service's own transaction rolled back, this is written after it)."""
    from audit.services import audit_record

    audit_record(action=action, actor=request.user, request=request, obj=obj, outcome="refused",
                 detail={"what": str(heading), "path": request.path, "problems": _english(exc.problems)})
    messages.error(request, heading)
    for p in exc.problems:
        messages.error(request, describe(p))


def check(write, *args, **kwargs) -> None:
    """Validate a form by running its service and rolling back (core.forms.dry_run), in the user's language."""
    try:
        dry_run(write, *args, **kwargs)
    except forms.ValidationError as exc:
        refused = exc.__cause__
        if not isinstance(refused, Refused):
            raise
        raise forms.ValidationError([describe(p) for p in refused.problems]) from refused
