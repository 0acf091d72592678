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


class RecordForm(forms.ModelForm):
    """A form whose `record()` calls the service that writes the money document: checked by a dry run of it;
    a refusal is an attempt the audit trail keeps (who tried to record what, and why not), under
    `audit_action` with the fields named by `audit_fields` and `audit_kind` when set."""

    audit_action = "transfer_recorded"
    audit_kind = ""
    audit_fields = ("reference", "amount")

    def record(self):
        raise NotImplementedError

    def clean(self):
        from audit.services import audit_record  # audit sits beside core; imported when a form is checked

        data = super().clean()
        if self.instance.pk or self.errors:
            return data
        try:
            dry_run(self.record)
        except forms.ValidationError as exc:
            detail = {name: f"{getattr(data.get(name), 'amount', data.get(name))}" for name in self.audit_fields}
            if self.audit_kind:
                detail["kind"] = self.audit_kind
            audit_record(action=self.audit_action, actor=getattr(self, "user", None), outcome="refused",
                         detail={**detail, "problems": [str(m) for m in exc.messages]})
            raise
        return data
