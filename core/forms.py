"""Admin forms check a write by running its service in a savepoint that is always rolled back.

A refusal becomes form errors that name every problem, with what the user typed kept;
the real write happens later in save_model, so an invalid form leaves nothing behind.
"""

from django import forms
from django.db import transaction

from .errors import Refused


class _Rollback(Exception):
    pass


def dry_run(write, *args, **kwargs):
    """Run `write` and undo it; raise forms.ValidationError listing each problem when it is refused."""
    try:
        with transaction.atomic():
            write(*args, **kwargs)
            raise _Rollback
    except _Rollback:
        pass
    except Refused as exc:
        raise forms.ValidationError([Refused.describe(p) for p in exc.problems]) from exc
