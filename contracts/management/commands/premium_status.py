from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Fund, Insurer
from contracts.models import ContractYear
from contracts.selectors import premium_status
from contracts.text import premium_status_text
from core.commands import JsonCommand


class Command(JsonCommand):
    help = ("Premium obligations against payments on a date: required, withheld, received (confirmed by the "
            "insurer), in transit, shortfall, on time or days late.")

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
            raise CommandError(_("--as-of: expected YYYY-MM-DD, found %(value)r") % {"value": as_of},
                               returncode=2) from None
        filters = {"year": year}
        if contract:
            cys = ContractYear.objects.filter(contract__code=contract, **({"year": year} if year else {}))
            if not cys.exists():
                raise CommandError(_("no contract year for contract %(code)r") % {"code": contract}, returncode=2)
            # The statement's selector, as the PDF and the admin page read it (deposit as of the date).
            from reconciliation.premium import premium_statement

            rows = [r for cy in cys for r in premium_statement(contract_year=cy, as_of=day).rows]
        else:
            if fund:
                filters["fund"] = Fund.objects.filter(code=fund).first() or self._unknown("fund", fund)
            if insurer:
                filters["insurer"] = Insurer.objects.filter(code=insurer).first() or self._unknown("insurer", insurer)
            rows = premium_status(as_of=day, **filters)
        payload = {"as_of": day, "obligations": [
            {"fund": r.obligation.fund.name, "insurer": r.obligation.insurer.name, "year": r.obligation.year,
             "kind": r.obligation.kind, "description": r.obligation.description, "due": r.obligation.due_date,
             "amount": r.amount, "withheld": r.withheld, "required": r.required, "received": r.received,
             "in_transit": r.in_transit, "shortfall": r.shortfall,
             "state": r.state, "days_late": r.days_late} for r in rows]}
        totals = {k: sum((getattr(r, k).amount for r in rows), 0)
                  for k in ("amount", "withheld", "required", "received", "in_transit", "shortfall")}
        payload["totals"] = {k: f"{v:.2f}" for k, v in totals.items()}
        out = [f"保费划拨情况（截至 {day}）", *premium_status_text(rows, with_fund=True)]
        return True, payload, "\n".join(out)

    @staticmethod
    def _unknown(what, code):
        text = {"fund": _("no fund with code %(code)r"), "insurer": _("no insurer with code %(code)r")}[what]
        raise CommandError(text % {"code": code}, returncode=2)
