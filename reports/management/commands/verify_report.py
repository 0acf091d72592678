from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from core.commands import JsonCommand
from reports.labels import kind_title
from reports.services import english, report_verify


class Command(AsUser, JsonCommand):
    help = "Whether a statement (PDF or XLSX) is one we issued and the books still say what it says (exit 0) or not (exit 1)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")

    def run(self, *, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("no such file: %(file)s") % {"file": file}, returncode=2)
        v = report_verify(path=path, by=self.actor)
        if v.record is not None:
            self.authorize(v.record, "reports.view_reportrecord")
        payload = {"ok": v.ok, "code": v.code, "differences": english(v.differences),
                   "kind": v.record.kind if v.record else None, "book": v.record.book.code if v.record else None}
        if v.ok:
            text = (f"核对一致：{path.name} 是本系统出具的{kind_title(v.record.kind)}（{v.record.book.code}，核验码 {v.code}），"
                    "账簿至今未变。")
        else:
            text = "核对不一致：\n" + "\n".join(f"  - {d}" for d in v.differences)
        return v.ok, payload, text
