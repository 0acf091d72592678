from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Fund, Insurer
from contracts.models import ContractYear
from contracts.selectors import premium_status
from contracts.text import premium_status_text
from core.commands import JsonCommand


class Command(JsonCommand):
    help = "Premium obligations against payments on a date: required, received, shortfall, on time or days late."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--contract", metavar="CODE")
        parser.add_argument("--fund", metavar="CODE")
        parser.add_argument("--insurer", metavar="CODE")
        parser.add_argument("--year", type=int)
        parser.add_argument("--as-of", metavar="YYYY-MM-DD", help="default today")

    def run(self, *, contract=None, fund=None, insurer=None, year=None, as_of=None, **options):
        try:
            day = date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError:
            raise CommandError(f"--as-of: expected YYYY-MM-DD, found {as_of!r}", returncode=2) from None
        filters = {"year": year}
        if contract:
            cys = ContractYear.objects.filter(contract__code=contract, **({"year": year} if year else {}))
            if not cys.exists():
                raise CommandError(f"no contract year for contract {contract!r}", returncode=2)
            rows = [r for cy in cys for r in premium_status(contract_year=cy, as_of=day)]
        else:
            if fund:
                filters["fund"] = Fund.objects.filter(code=fund).first() or self._unknown("fund", fund)
            if insurer:
                filters["insurer"] = Insurer.objects.filter(code=insurer).first() or self._unknown("insurer", insurer)
            rows = premium_status(as_of=day, **filters)
        payload = {"as_of": day, "obligations": [
            {"fund": r.obligation.fund.name, "insurer": r.obligation.insurer.name, "year": r.obligation.year,
             "kind": r.obligation.kind, "description": r.obligation.description, "due": r.obligation.due_date,
             "required": r.required, "received": r.received, "shortfall": r.shortfall, "in_transit": r.in_transit,
             "state": r.state, "days_late": r.days_late} for r in rows]}
        totals = {k: sum((getattr(r, k).amount for r in rows), 0) for k in ("required", "received", "shortfall")}
        payload["totals"] = {k: f"{v:.2f}" for k, v in totals.items()}
        out = [f"保费划拨情况（截至 {day}）", *premium_status_text(rows, with_fund=True)]
        return True, payload, "\n".join(out)

    @staticmethod
    def _unknown(what, code):
        raise CommandError(f"no {what} with code {code!r}", returncode=2)
