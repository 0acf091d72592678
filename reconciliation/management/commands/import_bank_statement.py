from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from access.commands import AsUser
from accounts.models import Account
from core.commands import JsonCommand
from core.errors import Refused, problem
from core.values import BadValue, amount
from reconciliation.bank import (
    bank_match_auto,
    bank_reconciliation,
    bank_statement_import,
    bank_statement_import_mt940,
)


class Command(AsUser, JsonCommand):
    help = ("Import a bank statement for a book's bank account — CSV with a saved bank mapping (--bank, --year, "
            "--month, --opening, --closing) or MT940 — match it to the postings and show the 余额调节表. "
            "Exit 1 when the statement is refused, including an --opening or --closing that is not an amount "
            "(the problem names the option); exit 2 on bad usage (a missing option, no such book or file).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")
        parser.add_argument("--book", required=True, metavar="CODE")
        parser.add_argument("--account", required=True, metavar="CODE", help="the bank account, e.g. 1004")
        parser.add_argument("--mt940", action="store_true")
        parser.add_argument("--bank")
        parser.add_argument("--year", type=int)
        parser.add_argument("--month", type=int, choices=range(1, 13), metavar="1-12")
        parser.add_argument("--opening", metavar="AMOUNT", help="opening balance, e.g. 200000000.00 or -1,234.50")
        parser.add_argument("--closing", metavar="AMOUNT", help="closing balance, as --opening")

    def run(self, *, file, book, account, mt940, bank=None, year=None, month=None, opening=None, closing=None, **o):
        acc = Account.objects.filter(book__code=book, code=account).first()
        if acc is not None:
            self.authorize(acc, "reconciliation.add_bankstatement")
        if acc is None:
            raise CommandError(_("no account %(account)s in book %(book)s") % {"account": account, "book": book},
                               returncode=2)
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("no such file: %(file)s") % {"file": file}, returncode=2)
        if mt940:
            statement = bank_statement_import_mt940(path=path, account=acc, by=self.actor)
        else:
            if None in (bank, year, month, opening, closing):
                raise CommandError(_("CSV needs --bank, --year, --month, --opening and --closing"), returncode=2)
            opening, closing = _balances(opening=opening, closing=closing)
            statement = bank_statement_import(path=path, account=acc, bank=bank, year=year, month=month,
                                              opening=opening, closing=closing, by=self.actor)
        matched = bank_match_auto(statement=statement, by=str(self.actor))
        r = bank_reconciliation(statement=statement)
        payload = {"statement": statement.pk, "lines": statement.lines.count(), "matched": matched,
                   "adjusted_book": r.adjusted_book, "adjusted_bank": r.adjusted_bank, "balanced": r.balanced,
                   "bank_in_not_booked": len(r.bank_in_not_booked), "bank_out_not_booked": len(r.bank_out_not_booked),
                   "booked_in_not_in_bank": len(r.booked_in_not_in_bank),
                   "booked_out_not_in_bank": len(r.booked_out_not_in_bank)}
        text = (f"{acc} {statement.year}-{statement.month:02d}：{payload['lines']} 行，自动匹配 {matched} 组；"
                f"调节后余额 账面 {r.adjusted_book} / 银行 {r.adjusted_bank}（{'相等' if r.balanced else '不相等'}）")
        return True, payload, text


def _balances(**given: str):
    """Both balances as amounts, or a refusal naming each option that is not one (exit 1)."""
    values, problems = [], []
    for option, text in given.items():
        try:
            values.append(amount(text, signed=True, limit=settings.BANK_AMOUNT_LIMIT, limit_name="BANK_AMOUNT_LIMIT"))
        except BadValue as exc:
            problems.append(problem(_("command line"), f"--{option}", exc.expected, exc.found))
    if problems:
        raise Refused(problems)
    return values
