"""What every management command of ours shares: --json and the exit statuses.

0 success; 1 the input or the books were refused (every problem listed); 2 bad usage.
"""

import json
import sys
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from .errors import Refused, problem_json


def _default(value):
    if isinstance(value, Money):
        return f"{value.amount:.2f}"
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JsonCommand(BaseCommand):
    """Subclasses implement run(**options) -> (ok: bool, payload: dict, text: str)."""

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def refused(self, exc: Refused) -> None:
        """Called once the command's input was refused (its writes already rolled back)."""

    def handle(self, *args, **options):
        try:
            ok, payload, text = self.run(**options)
        except Refused as exc:
            self.refused(exc)
            ok, payload, text = False, {"ok": False, "problems": [problem_json(p) for p in exc.problems]}, "\n".join(
                [str(_("Refused:"))] + [f"  - {Refused.describe(p)}" for p in exc.problems])
        except CommandError:
            raise
        if options.get("json"):
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=_default))
        else:
            self.stdout.write(text)
        if not ok:
            sys.exit(1)
