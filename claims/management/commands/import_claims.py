from pathlib import Path

from django.core.management.base import CommandError

from access.commands import AsUser
from claims.selectors import claims_discrepancies
from claims.services import claims_import, claims_post, claims_recompute
from contracts.models import Contract
from core.commands import JsonCommand
from core.money import fmt


class Command(AsUser, JsonCommand):
    help = ("Import a claims file (CSV in UTF-8 or GB18030, or XLSX) for a contract into its insurer's book, "
            "recompute every claim under the year's policy and post the batch. Refused whole on any bad row.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")
        parser.add_argument("--contract", required=True, metavar="CODE")
        parser.add_argument("--dry-run", action="store_true", help="check every row; write nothing")
        parser.add_argument("--no-post", action="store_true", help="import and recompute only")

    def run(self, *, file, contract, dry_run, no_post, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no such file: {file}", returncode=2)
        c = Contract.objects.filter(code=contract).first()
        if c is None:
            raise CommandError(f"no contract with code {contract!r}", returncode=2)
        self.authorize(c, "claims.add_claimbatch")
        result = claims_import(path=path, contract=c, dry_run=dry_run, by=self.actor)
        payload = {"rows": result.rows, "claims_created": result.created, "oop_total": result.oop_total,
                   "paid_total": result.paid_total, "problems": result.problems, "entries_posted": 0,
                   "discrepancies": {}}
        out = [f"{path.name}: {result.rows} 行，合规自付 {fmt(result.oop_total)}，保险公司已付 {fmt(result.paid_total)}"]
        if dry_run:
            out.append("试运行（--dry-run）：全部行检查通过，未写入。")
            return True, payload, "\n".join(out)
        if result.created == 0:
            out.append("该文件已导入过（同一文件摘要），未新增赔案。")
        for cy in c.years.filter(claims__batch=result.batch).distinct():
            n = claims_recompute(contract_year=cy)
            d = claims_discrepancies(contract_year=cy, limit=20)
            payload["discrepancies"][cy.year] = {"recomputed": n, "count": d["count"], "overpaid": d["overpaid"],
                                                 "underpaid": d["underpaid"]}
            out.append(f"{cy.year}年：按 {cy.benefit_policy} 重算 {n} 笔；与保险公司支付不一致 {d['count']} 笔，"
                       f"多付 {fmt(d['overpaid'])}，少付 {fmt(d['underpaid'])}")
        if not no_post:
            payload["entries_posted"] = claims_post(batch=result.batch)
            out.append(f"记入保险公司大病保险专账：凭证 {payload['entries_posted']} 张（按月、按医院）")
        return True, payload, "\n".join(out)
