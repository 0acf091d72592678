"""Bank statements: import with a saved column mapping, match to postings, and the 余额调节表.

A statement must be whole: its lines dated inside its month, each once, and its closing
balance equal to the opening plus every line; otherwise it is refused and nothing is
written. Matching never posts: it only pairs bank lines with the book's postings on that
bank account, by reference, then by amount within a few days (one line to several
postings, several lines to one posting).
"""

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import combinations
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from audit.services import audit_record
from core.errors import Refused, lazy_format, problem
from core.money import from_fen
from core.tables import iter_table
from core.values import BadValue, amount, date_value, within
from ledger.models import Posting

from .models import BankFormat, BankLine, BankStatement

WINDOW_DAYS = 3
LIMIT = "BANK_AMOUNT_LIMIT"  # the setting bounding every line and balance, in yuan


def _yuan(text: str, *, signed: bool) -> Decimal:
    """A figure as banks print it (a leading ¥ allowed), strictly read and within the per-line limit."""
    text = text.strip()
    for symbol in ("¥", "￥"):
        text = text.removeprefix(symbol).strip()
    return amount(text, signed=signed, limit=getattr(settings, LIMIT), limit_name=LIMIT)


def _line_fen(get, cols: dict) -> tuple[int | None, list[tuple[str, str, str]]]:
    """A line's signed amount in fen (money in +, out −) and what is wrong with its amount cells."""
    if "amount" in cols:
        try:
            fen = int(_yuan(get("amount"), signed=True) * 100)
        except BadValue as exc:
            return None, [(_("amount"), exc.expected, exc.found)]
        return (fen, []) if fen else (None, [(_("amount"), _("a non-zero amount"), get("amount"))])
    fen, bad = {}, []
    for key in ("debit", "credit"):
        text = get(key)
        try:
            fen[key] = int(_yuan(text, signed=False) * 100) if text else 0
        except BadValue as exc:
            bad.append(({"debit": _("debit"), "credit": _("credit")}[key], _column_reason(text, cols[key], exc),
                        exc.found))
    if bad:
        return None, bad
    shown = lazy_format(_("%(debit)s / %(credit)s"), debit=get("debit") or _("(empty)"),
                        credit=get("credit") or _("(empty)"))
    if fen["debit"] and fen["credit"]:
        return None, [(_("amount"), lazy_format(_("an amount in %(debit)s or in %(credit)s, not in both"),
                                                debit=cols["debit"], credit=cols["credit"]), shown)]
    if not fen["debit"] and not fen["credit"]:
        return None, [(_("amount"), lazy_format(_("a non-zero amount in %(debit)s or %(credit)s"),
                                                debit=cols["debit"], credit=cols["credit"]), shown)]
    return fen["credit"] - fen["debit"], []


def _column_reason(text: str, column: str, exc: BadValue):
    """A signed figure in 支出 or 收入: the column is the direction, so a sign there leaves it in doubt."""
    if text.startswith("-"):
        try:
            _yuan(text[1:], signed=False)
        except BadValue:
            return exc.expected
        return lazy_format(_("an amount ≥ 0 in %(column)s (the column says in or out; no sign)"), column=column)
    return exc.expected


def _balance(value, where, field_name, problems: list) -> int | None:
    try:
        return int(_yuan(str(value), signed=True) * 100)
    except BadValue as exc:
        problems.append(problem(where, field_name, exc.expected, exc.found))
        return None


@transaction.atomic
def bank_statement_import(*, path: Path, account: Account, bank: str, year: int, month: int, opening,
                          closing, by=None) -> BankStatement:
    fmt = BankFormat.objects.filter(name=bank).first()
    where = Path(path).name
    if fmt is None:
        known = ", ".join(BankFormat.objects.values_list("name", flat=True)) or _("(none saved)")
        raise Refused([problem(where, _("bank"), lazy_format(_("a saved column mapping: %(known)s"), known=known),
                               bank)])
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    existing = BankStatement.objects.filter(account=account, year=year, month=month).first()
    if existing is not None:
        if existing.file_sha256 == sha:
            return existing  # the same file again: nothing new
        raise Refused([problem(where, _("statement"),
                               lazy_format(_("one statement for %(month)s"), month=f"{year}-{month:02d}"),
                               _("another file already"))])
    cols = fmt.columns
    rows = iter_table(path)
    _header_row, header = next(rows, (1, []))
    index = {name: i for i, name in enumerate(header)}
    missing = [v for v in cols.values() if v not in index]
    if missing:
        raise Refused([problem(where, _("header"), lazy_format(_("the columns of %(bank)s: %(columns)s"), bank=bank,
                                                                columns=", ".join(cols.values())),
                               ", ".join(header))])
    problems, lines, seen, unread = [], [], set(), 0
    if not (1 <= month <= 12 and 1900 <= year <= 9998):
        raise Refused([problem(where, _("month"), _("a month 1–12 of a year 1900–9998"), f"{year}-{month}")])
    first, last = date(year, month, 1), (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1))
    for n, cells in rows:
        cells = cells + [""] * (len(header) - len(cells))
        def get(key, cells=cells):
            return cells[index[cols[key]]] if key in cols else ""
        try:
            day = date_value(get("date"))
        except BadValue as exc:
            day = None
            problems.append(problem(lazy_format(_("row %(n)s"), n=n), _("date"), exc.expected, exc.found))
        if day is not None and not first <= day <= last:
            problems.append(problem(lazy_format(_("row %(n)s"), n=n), _("date"),
                                    lazy_format(_("a date in %(month)s"), month=f"{year}-{month:02d}"), day))
        fen, bad = _line_fen(get, cols)
        problems += [problem(lazy_format(_("row %(n)s"), n=n), *b) for b in bad]
        if day is None or fen is None:
            unread += 1
            continue
        key = (day, fen, get("reference"), get("description"))
        if key in seen:
            problems.append(problem(lazy_format(_("row %(n)s"), n=n), _("line"), _("each line once"),
                                    _("a duplicate of an earlier line")))
        seen.add(key)
        lines.append(BankLine(line=n, date=day, amount=Decimal(fen) / 100, description=get("description"),
                              reference=get("reference"), counterparty=get("counterparty")))
    total = sum(int(ln.amount.amount * 100) for ln in lines)
    o = _balance(opening, where, _("opening balance"), problems)
    c = _balance(closing, where, _("closing balance"), problems)
    # With a line unread the sum would be wrong, and the difference it shows a false lead.
    if o is not None and c is not None and not unread and o + total != c:
        problems.append(problem(where, _("closing balance"),
                                lazy_format(_("opening + lines = %(sum)s"), sum=f"{Decimal(o + total) / 100:,.2f}"),
                                f"{Decimal(c) / 100:,.2f}"))
    if problems:
        raise Refused(problems)
    statement = BankStatement.objects.create(account=account, year=year, month=month, opening=Decimal(o) / 100,
                                             closing=Decimal(c) / 100, file_sha256=sha)
    for ln in lines:
        ln.statement = statement
    BankLine.objects.bulk_create(lines)
    audit_record(action="imported", actor=by, obj=statement, book=account.book, digest=sha,
                 detail={"kind": "bank statement (CSV)", "file": Path(path).name, "bank": bank, "lines": len(lines)})
    return statement


@transaction.atomic
def bank_statement_import_mt940(*, path: Path, account: Account, by=None) -> BankStatement:
    """A SWIFT MT940 statement (parsed by the mt-940 library): balances and lines come from the file."""
    import mt940

    where = Path(path).name
    try:
        parsed = mt940.parse(str(path))
        opening = parsed.data["final_opening_balance"].amount.amount
        closing = parsed.data["final_closing_balance"]
    except Exception as exc:  # the parser raises many kinds for a malformed file
        raise Refused([problem(where, _("file"), _("an MT940 statement with :60F: and :62F: balances"), exc)]) from None
    day = closing.date
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    existing = BankStatement.objects.filter(account=account, year=day.year, month=day.month).first()
    if existing is not None:
        if existing.file_sha256 == sha:
            return existing
        raise Refused([problem(where, _("statement"), lazy_format(_("one statement for %(month)s"), month=f"{day:%Y-%m}"),
                               _("another file already"))])
    lines, problems, unread = [], [], 0
    balances_read = all([_mt940_figure(opening, where, _("opening balance"), problems),
                         _mt940_figure(closing.amount.amount, where, _("closing balance"), problems)])
    for n, t in enumerate(parsed, start=1):
        d = t.data
        if (d["date"].year, d["date"].month) != (day.year, day.month):
            problems.append(problem(lazy_format(_("line %(n)s"), n=n), _("date"),
                                    lazy_format(_("a date in %(month)s"), month=f"{day:%Y-%m}"), d["date"]))
        if not _mt940_figure(d["amount"].amount, lazy_format(_("line %(n)s"), n=n), _("amount"), problems):
            unread += 1
            continue
        lines.append(BankLine(line=n, date=d["date"], amount=d["amount"].amount,
                              description=(d.get("transaction_details") or "")[:300],
                              reference=d.get("customer_reference") or d.get("bank_reference") or ""))
    total = sum((ln.amount.amount for ln in lines), Decimal(0))
    if balances_read and not unread and opening + total != closing.amount.amount:
        problems.append(problem(where, _("closing balance"),
                                lazy_format(_("opening + lines = %(sum)s"), sum=f"{opening + total:,.2f}"),
                                f"{closing.amount.amount:,.2f}"))
    if problems:
        raise Refused(problems)
    statement = BankStatement.objects.create(account=account, year=day.year, month=day.month, opening=opening,
                                             closing=closing.amount.amount, file_sha256=sha)
    for ln in lines:
        ln.statement = statement
    BankLine.objects.bulk_create(lines)
    audit_record(action="imported", actor=by, obj=statement, book=account.book, digest=sha,
                 detail={"kind": "bank statement (MT940)", "file": Path(path).name, "lines": len(lines)})
    return statement


def _mt940_figure(value: Decimal, where, field_name, problems: list) -> bool:
    """The parser reads MT940 figures itself; they must still be fen and plausible."""
    try:
        within(value, limit=getattr(settings, LIMIT), limit_name=LIMIT)
    except BadValue as exc:
        problems.append(problem(where, field_name, exc.expected, exc.found))
        return False
    if value != value.quantize(Decimal("0.01")):
        problems.append(problem(where, field_name, _("an amount with at most 2 decimals"), value))
        return False
    return True


def _book_side(posting: Posting) -> int:
    """A posting on a bank account as the bank sees it: a debit is money in (+), a credit money out (−)."""
    return int(posting.debit.amount * 100) - int(posting.credit.amount * 100)


@transaction.atomic
def bank_match_auto(*, statement: BankStatement, by: str = "auto") -> int:
    """Pair unmatched lines with unmatched postings: by reference, then one-to-one by amount within a few
    days, then one line to two or three postings and two or three lines to one posting. Returns pairs made."""
    lines = list(statement.lines.filter(matched__isnull=True))
    start = date(statement.year, statement.month, 1) - timedelta(days=WINDOW_DAYS)
    end = date(statement.year, statement.month, 28) + timedelta(days=WINDOW_DAYS + 4)
    postings = list(Posting.objects.filter(account=statement.account, entry__status="posted",
                                           entry__date__gte=start, entry__date__lte=end, bank_lines__isnull=True)
                    .select_related("entry"))
    free = {p.pk: p for p in postings}
    made = 0

    def pair(line_group, posting_group):
        nonlocal made
        now = timezone.now()
        for ln in line_group:
            ln.matched.add(*posting_group)
            ln.matched_by, ln.matched_at = by, now
            ln.save(update_fields=["matched_by", "matched_at"])
        for p in posting_group:
            free.pop(p.pk, None)
        made += 1

    def near(a: date, b: date) -> bool:
        return abs((a - b).days) <= WINDOW_DAYS

    open_lines = []
    for ln in lines:  # by reference first: the transfer reference is in the memo or the key
        fen = int(ln.amount.amount * 100)
        hit = next((p for p in free.values() if ln.reference and _book_side(p) == fen and (
            ln.reference in (p.entry.idempotency_key or "") or ln.reference in p.entry.memo)), None)
        if hit:
            pair([ln], [hit])
        else:
            open_lines.append(ln)
    rest = []
    for ln in open_lines:
        fen = int(ln.amount.amount * 100)
        hit = next((p for p in free.values() if _book_side(p) == fen and near(p.entry.date, ln.date)), None)
        if hit:
            pair([ln], [hit])
        else:
            rest.append(ln)
    still = []
    for ln in rest:  # one line, several postings
        fen = int(ln.amount.amount * 100)
        cands = [p for p in free.values() if near(p.entry.date, ln.date) and (_book_side(p) > 0) == (fen > 0)]
        group = next((g for k in (2, 3) for g in combinations(cands, k) if sum(map(_book_side, g)) == fen), None)
        if group:
            pair([ln], list(group))
        else:
            still.append(ln)
    for p in list(free.values()):  # several lines, one posting
        target = _book_side(p)
        cands = [ln for ln in still if near(p.entry.date, ln.date) and (ln.amount.amount > 0) == (target > 0)]
        group = next((g for k in (2, 3) for g in combinations(cands, k)
                      if sum(int(x.amount.amount * 100) for x in g) == target), None)
        if group:
            pair(list(group), [p])
            still = [ln for ln in still if ln not in group]
    if made:
        audit_record(action="bank_matched", actor=by, obj=statement, book=statement.account.book,
                     detail={"matches": made, "how": "automatic"})
    return made


@transaction.atomic
def bank_match_manual(*, line: BankLine, postings: list[Posting], by: str) -> BankLine:
    fen = int(line.amount.amount * 100)
    if sum(_book_side(p) for p in postings) != fen or any(p.account_id != line.statement.account_id for p in postings):
        raise Refused([problem(lazy_format(_("bank line %(n)s"), n=line.line), _("postings"),
                               lazy_format(_("postings on %(account)s adding up to %(amount)s"),
                                           account=line.statement.account, amount=line.amount),
                               "; ".join(str(p) for p in postings) or _("none"))])
    line.matched.set(postings)
    line.matched_by, line.matched_at = by, timezone.now()
    line.save(update_fields=["matched_by", "matched_at"])
    audit_record(action="bank_matched", actor=by, obj=line, book=line.statement.account.book,
                 detail={"how": "manual", "postings": [p.pk for p in postings]})
    return line


@transaction.atomic
def bank_unmatch(*, line: BankLine, by: str) -> BankLine:
    line.matched.clear()
    line.matched_by, line.matched_at = f"unmatched by {by}", timezone.now()
    line.save(update_fields=["matched_by", "matched_at"])
    audit_record(action="bank_unmatched", actor=by, obj=line, book=line.statement.account.book)
    return line


@dataclass
class Reconciliation:
    """银行存款余额调节表: both columns must end equal."""

    book_balance: object
    bank_balance: object
    bank_in_not_booked: list
    bank_out_not_booked: list
    booked_in_not_in_bank: list
    booked_out_not_in_bank: list
    adjusted_book: object
    adjusted_bank: object

    @property
    def balanced(self) -> bool:
        return self.adjusted_book == self.adjusted_bank


def bank_reconciliation(*, statement: BankStatement, upto: int | None = None) -> Reconciliation:
    """`upto`: the book as it stood at that position of its chain (a statement issued then is verified so)."""
    from ledger.selectors import account_balance

    first = date(statement.year, statement.month, 1)
    last = date(statement.year + statement.month // 12, statement.month % 12 + 1, 1) - timedelta(days=1)
    book = account_balance(account=statement.account, as_of=last, upto=upto)
    lines = list(statement.lines.filter(matched__isnull=True))
    matched = set(Posting.objects.filter(bank_lines__statement=statement).values_list("pk", flat=True))
    postings = Posting.objects.filter(account=statement.account, entry__status="posted", entry__date__gte=first,
                                      entry__date__lte=last)
    if upto is not None:
        postings = postings.filter(entry__seq__lte=upto)
    unmatched = [p for p in postings.select_related("entry") if p.pk not in matched]
    bank_in = [ln for ln in lines if ln.amount.amount > 0]
    bank_out = [ln for ln in lines if ln.amount.amount < 0]
    booked_in = [p for p in unmatched if _book_side(p) > 0]
    booked_out = [p for p in unmatched if _book_side(p) < 0]
    fen = lambda xs: sum(int(x.amount.amount * 100) for x in xs)  # noqa: E731
    adjusted_book = int(book.amount * 100) + fen(bank_in) + fen(bank_out)
    adjusted_bank = (int(statement.closing.amount * 100) + sum(_book_side(p) for p in booked_in)
                     + sum(_book_side(p) for p in booked_out))
    return Reconciliation(book, statement.closing, bank_in, bank_out, booked_in, booked_out, from_fen(adjusted_book),
                          from_fen(adjusted_bank))


