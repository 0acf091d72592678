"""Commands run as a named user: `--as USERNAME` (or LEDGER_USER) limits a command to that user's
role and scope and records what it does as theirs. Without it a command runs as the server's
operator, who can reach every book anyway (shell access to the machine)."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from core.errors import Refused, lazy_format, problem

from .scope import in_scope


class AsUser:
    user = None

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                            help="run as this user, within their role and scope (default: LEDGER_USER, else the operator)")

    def handle(self, *args, **options):
        name = options.get("as_user") or os.environ.get("LEDGER_USER")
        self.user = None
        if name:
            self.user = get_user_model().objects.filter(username=name, is_active=True).first()
            if self.user is None:
                raise CommandError(_g("no active user %(name)r") % {"name": name}, returncode=2)
        return super().handle(*args, **options)

    @property
    def actor(self):
        return self.user or f"command {type(self).__module__.rsplit('.', 1)[-1]}"

    def authorize(self, obj, perm: str) -> None:
        """Refuse (exit 1, recorded in the audit trail) unless the user's role allows `perm` on `obj` in their scope."""
        if self.user is None:
            return
        if self.user.has_perm(perm) and in_scope(self.user, obj):
            return
        from audit.services import audit_record

        audit_record(action="access_refused", actor=self.user, obj=obj, outcome="refused",
                     detail={"command": self._name, "permission": perm})
        raise _NotAllowed([problem(str(obj), _("user"), lazy_format(_("a user whose role and scope allow %(perm)s"),
                                                                      perm=perm),
                                   self.user.get_username())])

    @property
    def _name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def refused(self, exc: Refused) -> None:
        # A refused command is an attempt the audit trail keeps (a refusal by role is recorded already).
        super().refused(exc)
        if isinstance(exc, _NotAllowed):
            return
        from audit.services import audit_record

        with override("en"):  # the trail keeps refusals in English, the same in every language
            problems = [Refused.describe(p) for p in exc.problems[:50]]
        audit_record(action="refused", actor=self.actor, outcome="refused",
                     detail={"command": self._name, "problems": problems})


class _NotAllowed(Refused):
    """Refused by the user's role or scope (recorded as access_refused where it is raised)."""
