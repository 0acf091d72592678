from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from accounts.models import Book
from core.commands import JsonCommand
from reports.registry import KINDS
from reports.services import report_issue


class Command(AsUser, JsonCommand):
    help = ("Write one statement (a signed PDF, or an XLSX of the same figures) for a book and period, with a "
            "verification code tying it to the books.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("kind", choices=sorted(KINDS))
        parser.add_argument("--book", required=True, metavar="CODE")
        parser.add_argument("--year", required=True, type=int)
        parser.add_argument("--month", type=int)
        parser.add_argument("--out", required=True, metavar="FILE.pdf|FILE.xlsx")
        parser.add_argument("--format", choices=("pdf", "xlsx"), default=None,
                            help="pdf or xlsx (default: the suffix of --out, else pdf)")

    def run(self, *, kind, book, year, month=None, out, format=None, **options):
        b = Book.objects.filter(code=book).first()
        if b is None:
            raise CommandError(_("no book with code %(code)r") % {"code": book}, returncode=2)
        self.authorize(b, "reports.add_reportjob")
        record = report_issue(kind=kind, book=b, year=year, month=month, out=Path(out), format=format,
                              by=self.user.get_username() if self.user else "report command")
        payload = {"file": out, "kind": kind, "format": record.format, "code": record.code, "totals": record.totals}
        return True, payload, f"{KINDS[kind].title} → {out}（核验码 {record.code}）"
