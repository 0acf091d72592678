from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from contracts.models import ContractYear
from core.commands import JsonCommand
from core.money import fmt
from reconciliation.transfers import transfers_reconcile


def _item(i) -> dict:
    return {"date": i.date.isoformat(), "voucher": i.voucher, "memo": i.memo, "reference": i.reference,
            "amount": f"{i.amount:.2f}"}


class Command(AsUser, JsonCommand):
    help = ("Fund ↔ insurer: every premium transfer of a contract year matched between the fund's and the "
            "insurer's books; one-sided and differently keyed items listed. Exit 1 when they do not agree.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--contract", required=True, metavar="CODE")
        parser.add_argument("--year", required=True, type=int)

    def run(self, *, contract, year, **options):
        cy = ContractYear.objects.select_related("contract__fund", "contract__insurer").filter(
            contract__code=contract, year=year).first()
        if cy is None:
            raise CommandError(_("no contract year %(contract)s %(year)s") % {"contract": contract, "year": year},
                               returncode=2)
        self.authorize(cy, "contracts.view_contractyear")
        r = transfers_reconcile(fund=cy.contract.fund, insurer=cy.contract.insurer, year=year)
        agree = not (r.fund_only or r.insurer_only or r.mismatched) and r.difference == 0
        payload = {
            "agree": agree, "fund_total": f"{r.fund_total:.2f}", "insurer_total": f"{r.insurer_total:.2f}",
            "difference": f"{r.difference:.2f}", "explained": f"{r.explained:.2f}",
            "matched": [{"fund": _item(f), "insurer": _item(i)} for f, i in r.matched],
            "fund_only": [_item(i) for i in r.fund_only], "insurer_only": [_item(i) for i in r.insurer_only],
            "mismatched": [{"fund": _item(f), "insurer": _item(i)} for f, i in r.mismatched],
            "surplus_paid": f"{r.surplus_paid:.2f}", "surplus_received": f"{r.surplus_received:.2f}",
        }
        lines = [f"{cy.contract.fund} ↔ {cy.contract.insurer}，{year}年",
                 f"基金账已拨保费 {fmt(r.fund_total)}；承办机构账已收保费 {fmt(r.insurer_total)}；"
                 f"差额 {fmt(r.difference)}，下列未达及差错项目合计 {fmt(r.explained)}",
                 f"已核对一致 {len(r.matched)} 笔"]
        for title, items in (("基金已记、承办机构未记", r.fund_only), ("承办机构已记、基金未记", r.insurer_only)):
            lines += [f"{title} {len(items)} 笔"] + [f"  {i.date} {i.voucher} {i.reference} {fmt(i.amount)}"
                                                    for i in items]
        lines += [f"金额不符 {len(r.mismatched)} 笔"] + [
            f"  {f.reference}：基金 {fmt(f.amount)}，承办机构 {fmt(i.amount)}，差 {fmt(f.amount - i.amount)}"
            for f, i in r.mismatched]
        lines.append(f"结余返还：承办机构账 {fmt(r.surplus_paid)}；基金账 {fmt(r.surplus_received)}")
        return agree, payload, "\n".join(lines)
