"""建账: a book's opening balances (期初余额), entered per account, not posted as a voucher.

A book that takes over balances from earlier books (a fund's 支出户 holding 300,000,000.00 on the day
this ledger starts) records them here: one line per balance-sheet account, debits equal to credits.
The accountant prepares them, a reviewer approves them (the same two-person rule as a voucher), and
from then on — or from the book's first posting, whichever comes first — they are frozen by the
database. The trial balance shows them as 期初 of the first year; later years carry every closing
balance forward as their 期初 (结转下年) without any voucher, because a balance is the sum of what
came before.
"""

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Book
from audit.services import audit_record
from core import values
from core.errors import Refused, lazy_format, problem
from core.money import AmountError, from_fen, to_fen
from core.people import person_of, signer_problems
from core.seal import canonical, seal

from .models import JournalEntry, Opening, OpeningLine

# Income and expenditure start every year at zero: only balance-sheet accounts carry a balance in.
BALANCE_SHEET = (Account.Type.ASSET, Account.Type.LIABILITY, Account.Type.NET_ASSETS)


def opening_fen(book: Book) -> dict[int, tuple[int, int]]:
    """The approved opening balances of a book: {account id: (debit fen, credit fen)}; empty when none."""
    return {acc: (dr, cr) for acc, dr, cr in _rows(book, approved_only=True)}


def _rows(book: Book, *, approved_only: bool):
    lines = OpeningLine.objects.filter(opening__book=book)
    if approved_only:
        lines = lines.filter(opening__status=Opening.Status.APPROVED)
    for acc, dr, cr in lines.values_list("account_id", "debit", "credit"):
        yield acc, int(dr.amount * 100), int(cr.amount * 100)


def opening_digest_rows(book: Book) -> list[tuple]:
    """The approved lines as checkpoint rows (account code, "opening", debit fen, credit fen)."""
    rows = OpeningLine.objects.filter(opening__book=book, opening__status=Opening.Status.APPROVED)
    return [(code, "opening", int(dr.amount * 100), int(cr.amount * 100))
            for code, dr, cr in rows.values_list("account__code", "debit", "credit")]


def opening_seal(opening: Opening) -> str:
    """The seal over what an approval vouches for: book, date, both people and every line."""
    lines = sorted(
        (code, int(dr.amount * 100), int(cr.amount * 100))
        for code, dr, cr in opening.lines.values_list("account__code", "debit", "credit"))
    return seal(b"opening", canonical([opening.book.code, opening.as_of.isoformat(), opening.prepared_by_id,
                                       opening.approved_by_id, [list(x) for x in lines]]))


def _label(book: Book):
    return lazy_format(_("opening balances of book %(code)s"), code=book.code)


def _frozen_problems(book: Book, opening: Opening | None) -> list[dict]:
    label = _label(book)
    if book.chain_length > 0 or JournalEntry.objects.filter(book=book, status=JournalEntry.Status.POSTED).exists():
        return [problem(label, _("status"), _("a book that has not posted yet (opening balances are entered first)"),
                        _("the book has posted vouchers"))]
    if opening is not None and opening.status == Opening.Status.APPROVED:
        return [problem(label, _("status"), _("opening balances not yet approved"), _("already approved"))]
    return []


@transaction.atomic
def opening_save(*, book: Book, as_of: date, balances: dict[str, tuple], by) -> Opening:
    """Prepare (or re-prepare) a book's opening balances: {account code: (debit, credit)}, blanks as zero.

    Every line is checked (a leaf balance-sheet account of the book, one side above zero, at most two
    decimals) and the whole must balance; otherwise nothing is written and every problem is listed."""
    book = Book.objects.select_for_update(no_key=True).get(pk=book.pk)
    opening = Opening.objects.filter(book=book).first()
    label = _label(book)
    problems = _frozen_problems(book, opening)
    problems += signer_problems(label, made_by=by, need_reviewer=False)
    accounts = {a.code: a for a in Account.objects.filter(book=book).prefetch_related("children")}
    lines, total_dr, total_cr = [], 0, 0
    for code, (debit, credit) in sorted(balances.items()):
        where = lazy_format(_("account %(code)s"), code=code)
        account = accounts.get(code)
        fen = []
        for side, value in ((_("debit"), debit), (_("credit"), credit)):
            try:
                if value in (None, ""):
                    amount = 0
                else:  # typed text is read strictly (no 1e3, no NaN); Money and Decimal as they are
                    amount = to_fen(values.amount(value, signed=True) if isinstance(value, str) else value)
            except values.BadValue as exc:
                problems.append(problem(label, where, exc.expected, exc.found))
                amount = None
            except AmountError as exc:
                problems.append(problem(label, where, _("a CNY amount with at most 2 decimals"), lazy_format(_("%(value)s (%(why)s)"), value=value, why=exc.args[0])))
                amount = None
            else:
                if amount < 0:
                    problems.append(problem(label, lazy_format(_("%(where)s %(side)s"), where=where, side=side),
                                            _("an amount ≥ 0 (put it on the other side)"), value))
                    amount = None
            fen.append(amount)
        if None in fen or fen == [0, 0]:
            continue
        if account is None:
            problems.append(problem(label, where, lazy_format(_("an account of book %(code)s"), code=book.code), code))
            continue
        if account.children.all():
            problems.append(problem(label, where, _("a leaf account (it has sub-accounts)"), code))
            continue
        if account.type not in BALANCE_SHEET:
            problems.append(problem(label, where, _("a balance-sheet account (income and expenditure open at zero)"),
                                    account.get_type_display()))
            continue
        if fen[0] and fen[1]:
            problems.append(problem(label, where, _("a debit or a credit, not both"), f"{debit} / {credit}"))
            continue
        lines.append((account, *fen))
        total_dr += fen[0]
        total_cr += fen[1]
    if not problems and total_dr != total_cr:
        problems.append(problem(label, _("balance"), _("opening debits equal to opening credits"),
                                lazy_format(_("debits %(dr)s, credits %(cr)s"),
                                            dr=f"{total_dr / 100:,.2f}", cr=f"{total_cr / 100:,.2f}")))
    if problems:
        raise Refused(problems)
    if opening is None:
        opening = Opening.objects.create(book=book, as_of=as_of, prepared_by=person_of(by))
    else:
        opening.lines.all().delete()
        opening.as_of, opening.prepared_by = as_of, person_of(by)
        opening.save(update_fields=["as_of", "prepared_by"])
    OpeningLine.objects.bulk_create([OpeningLine(opening=opening, account=a, debit=from_fen(dr), credit=from_fen(cr))
                                     for a, dr, cr in lines])
    audit_record(action="opening_prepared", actor=by, obj=opening, book=book,
                 detail={"as_of": as_of.isoformat(), "lines": len(lines), "debit": f"{total_dr / 100:.2f}",
                         "credit": f"{total_cr / 100:.2f}"})
    return opening


@transaction.atomic
def opening_approve(*, book: Book, by) -> Opening:
    """A reviewer other than the preparer approves the opening balances; from then on they count and are frozen."""
    from .services import _outside_scope

    book = Book.objects.select_for_update(no_key=True).get(pk=book.pk)
    opening = Opening.objects.select_for_update().filter(book=book).first()
    label = _label(book)
    if opening is None:
        raise Refused([problem(label, _("status"), _("opening balances prepared for approval"), _("none"))])
    problems = _frozen_problems(book, opening)
    problems += signer_problems(label, made_by=opening.prepared_by, reviewed_by=by)
    problems += _outside_scope(book, label, made_by=opening.prepared_by, reviewed_by=by)
    if problems:
        raise Refused(problems)
    opening.approved_by, opening.approved_at, opening.status = person_of(by), timezone.now(), Opening.Status.APPROVED
    opening.seal = opening_seal(opening)
    opening.save(update_fields=["approved_by", "approved_at", "status", "seal"])
    audit_record(action="opening_approved", actor=by, obj=opening, book=book,
                 detail={"as_of": opening.as_of.isoformat(), "lines": opening.lines.count()})
    return opening


def opening_pending_problems(book: Book) -> list[dict]:
    """A book whose opening balances await approval posts nothing yet: its first 期初 would be missing."""
    if book.chain_length == 0 and Opening.objects.filter(book=book, status=Opening.Status.DRAFT).exists():
        return [problem(lazy_format(_("book %(code)s"), code=book.code), _("opening balances"),
                        _("approved before the first voucher posts"), _("prepared, awaiting approval"))]
    return []
