from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from contracts.topup import topup_import
from core.commands import JsonCommand
from core.money import cn_upper
from core.values import BadValue, date_value
from core.values import amount as parse_amount


class Command(AsUser, JsonCommand):
    help = ("Import a Jilin-style top-up table (CSV in UTF-8 or GB18030, or XLSX): check every row and "
            "subtotal, then create one premium obligation per paying region. Rows are counted as a "
            "spreadsheet shows them: the header is row 1. Each row names its region, found by name among the "
            "regions loaded from data/regions/ (quickstart loads them); an unknown name refuses the table.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")
        parser.add_argument("--year", type=int, default=2019)
        parser.add_argument("--per-capita", default="15", metavar="AMOUNT")
        parser.add_argument("--due", default="2019-11-30", metavar="YYYY-MM-DD")
        parser.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
        parser.add_argument("--accept-discrepancies", action="store_true",
                            help="import although totals or 15 × count do not hold (they are kept as warnings)")

    def run(self, *, file, year, per_capita, due, dry_run, accept_discrepancies, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("no such file: %(file)s") % {"file": file}, returncode=2)
        try:
            due_date = date_value(due)
            parse_amount(per_capita)
        except BadValue:
            raise CommandError(_("--due takes YYYY-MM-DD and --per-capita an amount such as 15 or 15.50"),
                               returncode=2) from None
        if self.user is not None and not self.user.has_perm("contracts.add_premiumobligation"):
            self.authorize(self.user, "contracts.add_premiumobligation")
        result = topup_import(by=self.actor, path=path, year=year, per_capita=per_capita, due=due_date, dry_run=dry_run,
                              accept_discrepancies=accept_discrepancies)
        out = [f"补缴表 {path.name}：{result.rows} 行，合计 {result.total_amount:,.2f} 元"
               f"（{cn_upper(result.total_amount)}），2019年参保人数 {result.total_insured:,} 人"]
        for name, amount in sorted(result.by_insurer.items()):
            out.append(f"  上缴 {name}：{amount:,.2f} 元")
        if result.problems:
            out.append(f"拒绝导入，未写入任何数据。{len(result.problems)} 处问题：")
            out += [_line(p) for p in result.problems]
            if not any(p["field"] in ("columns", "header", "encoding", "file") for p in result.problems):
                out.append("如核对后确认按原表导入，请加 --accept-discrepancies（差异将作为警告保留）。")
        else:
            verb = "试运行（--dry-run），未写入" if dry_run else "已导入"
            out.append(f"{verb}：新建补缴义务 {result.obligations} 笔。")
        if result.warnings:
            out.append(f"警告 {len(result.warnings)} 条：")
            out += [_line(p) for p in result.warnings]
        return not result.problems, result.payload(), "\n".join(out)


def _line(p: dict) -> str:
    note = f"（{p['note']}）" if p.get("note") else ""
    return f"  - 第{p['row']}行 {p['region']} {p['field']}：应为 {p['expected']}，实为 {p['found']}{note}"
