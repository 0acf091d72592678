from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from claims.selectors import claims_discrepancies, claims_totals
from contracts.models import ContractYear
from core.commands import JsonCommand
from core.money import fmt
from core.text import ljust, rjust


class Command(AsUser, JsonCommand):
    help = "Claims of a contract year paid other than the policy pays, with totals per hospital and month."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--contract", required=True, metavar="CODE")
        parser.add_argument("--year", required=True, type=int)
        parser.add_argument("--limit", type=int, default=200, help="discrepant claims listed (default 200)")

    def run(self, *, contract, year, limit, **options):
        cy = ContractYear.objects.filter(contract__code=contract, year=year).first()
        if cy is None:
            raise CommandError(_("no contract year %(contract)s %(year)s") % {"contract": contract, "year": year},
                               returncode=2)
        self.authorize(cy, "claims.view_claim")
        d = claims_discrepancies(contract_year=cy, limit=limit)
        t = claims_totals(contract_year=cy)
        payload = {"contract": contract, "year": year, "discrepancies": d, "totals": t}
        out = [f"{cy.contract.name} {year}年赔案核对（{cy.benefit_policy}）：{t['total']['claims']} 笔，"
               f"不一致 {d['count']} 笔，多付 {fmt(d['overpaid'])}，少付 {fmt(d['underpaid'])}"]
        if d["not_recomputed"]:
            out.append(f"注意：{d['not_recomputed']} 笔尚未重算")
        for c in d["claims"]:
            out.append(f"  {c['claim_no']} {c['settled_on']} {c['hospital']} 应付 {fmt(c['expected'])} "
                       f"实付 {fmt(c['paid'])} 差额 {fmt(c['difference'])}")
        out.append(ljust("按月", 12) + "".join(rjust(h, 18) for h in ("笔数", "合规自付", "应付", "实付")))
        for m in t["months"]:
            out.append(ljust(m["month"], 12) + rjust(str(m["claims"]), 18)
                       + "".join(rjust(fmt(m[k]) if m[k] is not None else "-", 18) for k in ("oop", "expected", "paid")))
        carried = t["carried"]
        if carried["claims"]:
            out.append(f"结算时点后结算、计入下一年度的赔案：{carried['claims']} 笔，实付 {fmt(carried['paid'])}")
        return True, payload, "\n".join(out)
