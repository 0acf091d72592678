from pathlib import Path

from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from claims.selectors import claims_discrepancies
from claims.services import claims_import, claims_recompute
from contracts.models import Contract, ContractYear
from core.commands import JsonCommand
from core.money import fmt


class Command(AsUser, JsonCommand):
    help = ("Import a claims file (CSV in UTF-8 or GB18030, or XLSX) for a contract and recompute every claim "
            "under the year's policy, in one transaction: refused whole on any bad row. The batch is prepared "
            "by the --as user and awaits review: another person posts it (approve_claims, or the admin).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")
        parser.add_argument("--contract", required=True, metavar="CODE")
        parser.add_argument("--dry-run", action="store_true", help="check every row; write nothing")

    def run(self, *, file, contract, dry_run, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("no such file: %(file)s") % {"file": file}, returncode=2)
        c = Contract.objects.filter(code=contract).first()
        if c is None:
            raise CommandError(_("no contract with code %(code)r") % {"code": contract}, returncode=2)
        if self.user is None and not dry_run:
            raise CommandError(_("a claims batch is prepared by a named person: give --as USERNAME (or LEDGER_USER)"),
                               returncode=2)
        self.authorize(c, "claims.add_claimbatch")
        payload = {"rows": 0, "claims_created": 0, "problems": [], "batch": None, "status": None,
                   "discrepancies": {}}
        # Import and recomputation land together or not at all: an interrupted run leaves no rows.
        with transaction.atomic():
            result = claims_import(path=path, contract=c, dry_run=dry_run, by=self.user)
            payload.update(rows=result.rows, claims_created=result.created, oop_total=result.oop_total,
                           paid_total=result.paid_total, problems=result.problems)
            out = [f"{path.name}: {result.rows} 行，合规自付 {fmt(result.oop_total)}，保险公司已付 {fmt(result.paid_total)}"]
            if dry_run:
                out.append("试运行（--dry-run）：全部行检查通过，未写入。")
                return True, payload, "\n".join(out)
            batch = result.batch
            payload.update(batch=batch.pk, status=batch.status)
            if result.created == 0:
                out.append(f"该文件已导入过（同一文件摘要），未新增赔案；批次 {batch.pk} 状态：{batch.get_status_display()}。")
            for cy in ContractYear.objects.filter(pk__in=result.years).order_by("year"):
                n = claims_recompute(contract_year=cy, batch=batch, imported=result)
                d = claims_discrepancies(contract_year=cy, limit=20, batch=batch)
                payload["discrepancies"][cy.year] = {"recomputed": n, "count": d["count"], "overpaid": d["overpaid"],
                                                     "underpaid": d["underpaid"]}
                out.append(f"{cy.year}年：按 {cy.benefit_policy} 重算 {n} 笔；本批与保险公司支付不一致 {d['count']} 笔，"
                           f"多付 {fmt(d['overpaid'])}，少付 {fmt(d['underpaid'])}")
        if batch.status == batch.Status.PREPARED:
            out.append(f"批次 {batch.pk} 待审核：由制单人以外的审核人员记账（approve_claims {batch.pk} --as 审核人，"
                       "或在管理后台“赔案批次”中审核记账）；审核前不计入任何报表和结算。")
        return True, payload, "\n".join(out)
