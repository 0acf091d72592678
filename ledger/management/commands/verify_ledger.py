from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from accounts.models import Book
from core.commands import JsonCommand
from ledger.integrity import ledger_verify


class Command(AsUser, JsonCommand):
    help = "Recompute every book's hash chain, voucher numbering and balances; exit 1 on any break."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--book", metavar="CODE", help="verify one book only")

    def run(self, *, book=None, **options):
        target = None
        if book:
            target = Book.objects.filter(code=book).first()
            if target is None:
                raise CommandError(_("no book with code %(code)r") % {"code": book}, returncode=2)
        if target is not None:
            self.authorize(target, "ledger.view_journalentry")
        elif self.user is not None and not self.user.is_superuser:
            self.authorize(self.user, "ledger.view_journalentry")  # every book: administrators only
        result = ledger_verify(book=target)
        payload = {"ok": result.ok, "books": result.books, "entries": result.entries,
                   "postings": result.postings, "problems": result.problems, "warnings": result.warnings}
        if result.ok:
            text = f"账套 {result.books} 本，凭证 {result.entries} 张，分录 {result.postings} 条：哈希链、凭证号和余额全部核对一致。"
        else:
            lines = [f"核对失败 / verification FAILED: {len(result.problems)} problem(s)"]
            for p in result.problems:
                lines.append(f"  - [{p['book']}] {p['entry']}: {p['check']} — expected {p['expected']}, found {p['found']}")
            text = "\n".join(lines)
        if result.warnings:
            text += "\n" + "\n".join([f"提示 / warnings: {len(result.warnings)}"] + [
                f"  - [{w['book']}] {w['entry']}: {w['check']} — expected {w['expected']}, found {w['found']}"
                for w in result.warnings])
        return result.ok, payload, text
