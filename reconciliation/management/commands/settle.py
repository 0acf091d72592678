from datetime import date
from decimal import Decimal

from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from contracts.models import ContractYear
from core.commands import JsonCommand
from core.text import ljust, rjust
from reconciliation.management.commands.settlement_calc import LABELS
from reconciliation.services import settlement_draft


class _DryRun(Exception):
    pass


class Command(AsUser, JsonCommand):
    help = ("Draft the settlement of a contract year from the books as of its cut-off (P, C, E, D, score); "
            "prepared by the --as user; a reviewer other than them reviews and posts it in the admin.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("contract")
        parser.add_argument("year", type=int)
        parser.add_argument("--as-of", metavar="YYYY-MM-DD", help="default today; must be after the cut-off")
        parser.add_argument("--dry-run", action="store_true", help="show the outcome; write nothing")
        parser.add_argument("--policy-loss", metavar="X", help="the policy-caused part of a loss")
        parser.add_argument("--reason", default="", help="why the loss splits as it does (required with X)")
        parser.add_argument("--unpaid-reason", default=None, metavar="TEXT",
                            help="premium still unpaid: the preparer's decision to settle on the premium owed, "
                                 "the unpaid part netted, and why")

    def run(self, *, contract, year, as_of=None, dry_run=False, policy_loss=None, reason="", unpaid_reason=None,
            **options):
        cy = ContractYear.objects.filter(contract__code=contract, year=year).first()
        if cy is None:
            raise CommandError(_("no contract year %(contract)s %(year)s") % {"contract": contract, "year": year},
                               returncode=2)
        if self.user is None:
            raise CommandError(_("a settlement is prepared by a named person: give --as USERNAME (or LEDGER_USER)"),
                               returncode=2)
        self.authorize(cy, "reconciliation.add_settlement")
        try:
            day = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise CommandError(_("--as-of: expected YYYY-MM-DD, found %(value)r") % {"value": as_of},
                               returncode=2) from None
        result = {}
        try:
            with transaction.atomic():
                s = settlement_draft(contract_year=cy, as_of=day, policy_loss=policy_loss, loss_reason=reason,
                                     user=self.user, unpaid_reason=unpaid_reason)
                result = {"status": s.status, "as_of": s.as_of, "premium": s.premium, "claims": s.claims,
                          "cost": s.cost, "deposit": s.deposit, "score": s.score, "outcome": s.outcome,
                          "premium_paid": s.premium_paid, "premium_unpaid": s.premium_unpaid,
                          "unpaid_reason": s.unpaid_reason}
                if dry_run:
                    raise _DryRun
        except _DryRun:
            result["status"] = "dry-run"
        out = [f"{cy.contract.name} {year}年度结算（截至 {result['as_of']}，状态 {result['status']}）"]
        out += [ljust(LABELS[k], 30) + rjust(f"{Decimal(v):,.2f}", 20)
                for k, v in result["outcome"].items()]
        return True, result, "\n".join(out)
