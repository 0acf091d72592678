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
from core.money import fmt, from_fen
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


def _existing(*, account: Account, year: int, month: int, sha: str, where) -> BankStatement | None:
    """The statement already imported for this account and month: the same file again is that statement
    (nothing new); another file for the month is refused."""
    existing = BankStatement.objects.filter(account=account, year=year, month=month).first()
    if existing is None or existing.file_sha256 == sha:
        return existing
    raise Refused([problem(where, _("statement"), lazy_format(_("one statement for %(month)s"),
                                                              month=f"{year}-{month:02d}"),
                           _("another file already"))])


def _statement_save(*, statement: BankStatement, lines: list[BankLine], dry_run: bool, by, detail: dict
                    ) -> BankStatement:
    """A checked statement written with its lines and the import recorded; on a dry run handed back unsaved
    with its lines in `unsaved_lines`."""
    if dry_run:
        statement.unsaved_lines = lines
        return statement
    statement.save()
    for ln in lines:
        ln.statement = statement
    BankLine.objects.bulk_create(lines)
    audit_record(action="imported", actor=by, obj=statement, book=statement.account.book,
                 digest=statement.file_sha256, detail={**detail, "lines": len(lines)})
    return statement


@transaction.atomic
def bank_statement_import(*, path: Path, account: Account, bank: str, year: int, month: int, opening,
                          closing, by=None, dry_run: bool = False) -> BankStatement:
    """A table statement (CSV, XLSX or XLS) read through the bank's saved mapping. `dry_run`: every check,
    nothing written; the statement comes back unsaved with its lines in `unsaved_lines`."""
    fmt = BankFormat.objects.filter(name=bank).first()
    where = Path(path).name
    if fmt is None:
        known = ", ".join(BankFormat.objects.values_list("name", flat=True)) or _("(none saved)")
        raise Refused([problem(where, _("bank"), lazy_format(_("a saved column mapping: %(known)s"), known=known),
                               bank)])
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if (existing := _existing(account=account, year=year, month=month, sha=sha, where=where)) is not None:
        return existing
    cols = fmt.columns
    rows = iter_table(path)
    _header_row, header = _find_header(rows, set(cols.values()))
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
    statement = BankStatement(account=account, year=year, month=month, opening=Decimal(o) / 100,
                              closing=Decimal(c) / 100, file_sha256=sha)
    return _statement_save(statement=statement, lines=lines, dry_run=dry_run, by=by,
                           detail={"kind": "bank statement (CSV)", "file": Path(path).name, "bank": bank})


@transaction.atomic
def bank_statement_import_mt940(*, path: Path, account: Account, by=None, dry_run: bool = False) -> BankStatement:
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
    if (existing := _existing(account=account, year=day.year, month=day.month, sha=sha, where=where)) is not None:
        return existing
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
    statement = BankStatement(account=account, year=day.year, month=day.month, opening=opening,
                              closing=closing.amount.amount, file_sha256=sha)
    return _statement_save(statement=statement, lines=lines, dry_run=dry_run, by=by,
                           detail={"kind": "bank statement (MT940)", "file": Path(path).name})


HEADER_SEARCH_ROWS = 30  # online-banking exports put the account, name and period above the column titles


def _find_header(rows, wanted: set) -> tuple[int, list]:
    """The first row holding every mapped column title (within the first rows), else the first row."""
    first = None
    for n, cells in rows:
        first = first or (n, cells)
        if wanted <= set(cells):
            return n, cells
        if n >= HEADER_SEARCH_ROWS:
            break
    return first or (1, [])


@transaction.atomic
def bank_statement_import_camt053(*, path: Path, account: Account, by=None, dry_run: bool = False) -> BankStatement:
    """An ISO 20022 camt.053 statement, parsed by pycamt (lxml with entities and network off): the opening
    (OPBD) and closing (CLBD) balances and every entry come from the file, each checked as for MT940."""
    from pycamt.parser import Camt053Parser

    where = Path(path).name
    expected = _("a camt.053 statement with OPBD and CLBD balances")
    try:
        parsed = Camt053Parser.from_file(path)
        infos = parsed.get_statement_info()
        entries = parsed.get_transactions()
    except Exception as exc:  # lxml and the parser raise many kinds for a malformed file
        raise Refused([problem(where, _("file"), expected, str(exc)[:200] or type(exc).__name__)]) from None
    if len(infos) != 1 or not infos[0]["OpeningBalance"] or not infos[0]["ClosingBalance"]:
        found = lazy_format(_("%(n)s statements"), n=len(infos)) if len(infos) != 1 else _("no OPBD or CLBD balance")
        raise Refused([problem(where, _("file"), expected, found)])
    info, problems, lines, unread = infos[0], [], [], 0
    opening = _camt_figure(info["OpeningBalance"], where, _("opening balance"), problems, signed=True)
    closing = _camt_figure(info["ClosingBalance"], where, _("closing balance"), problems, signed=True)
    try:
        day = date_value((info["ClosingBalanceDate"] or "")[:10])
    except BadValue as exc:
        raise Refused([problem(where, _("closing balance"), exc.expected, exc.found)]) from None
    if info.get("Currency") not in (None, "CNY"):
        problems.append(problem(where, _("currency"), "CNY", info["Currency"]))
    for n, t in enumerate(entries, start=1):
        at = lazy_format(_("line %(n)s"), n=n)
        fen_ok = _camt_figure(t.get("Amount") or "", at, _("amount"), problems, signed=False)
        sign = {"CRDT": 1, "DBIT": -1}.get(t.get("CreditDebitIndicator") or "")
        if sign is None:
            problems.append(problem(at, _("direction"), "CRDT / DBIT", t.get("CreditDebitIndicator") or _("(empty)")))
        # ISO 20022: CdtDbtInd is this entry's direction; RvslInd only says the original went the other way.
        if (t.get("Status") or "BOOK") != "BOOK":
            problems.append(problem(at, _("status"), _("a booked entry (BOOK)"), t.get("Status")))
            unread += 1
            continue
        try:
            when = date_value((t.get("BookingDate") or t.get("ValueDate") or "")[:10])
        except BadValue as exc:
            problems.append(problem(at, _("date"), exc.expected, exc.found))
            when = None
        if when is not None and (when.year, when.month) != (day.year, day.month):
            problems.append(problem(at, _("date"), lazy_format(_("a date in %(month)s"), month=f"{day:%Y-%m}"), when))
        if fen_ok is None or sign is None or when is None:
            unread += 1
            continue
        if fen_ok == 0:
            problems.append(problem(at, _("amount"), _("a non-zero amount"), t.get("Amount")))
            continue
        counterparty = t.get("DebtorName") if sign > 0 else t.get("CreditorName")
        lines.append(BankLine(line=n, date=when, amount=Decimal(sign * fen_ok) / 100,
                              description=(t.get("RemittanceInformationFull") or t.get("AdditionalEntryInformation")
                                           or "")[:300],
                              reference=(t.get("EndToEndId") or t.get("TransactionID") or "")[:100],
                              counterparty=(counterparty or "")[:200]))
    total = sum(int(ln.amount.amount * 100) for ln in lines)
    if opening is not None and closing is not None and not unread and opening + total != closing:
        problems.append(problem(where, _("closing balance"),
                                lazy_format(_("opening + lines = %(sum)s"), sum=f"{Decimal(opening + total) / 100:,.2f}"),
                                f"{Decimal(closing) / 100:,.2f}"))
    if problems:
        raise Refused(problems)
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if (existing := _existing(account=account, year=day.year, month=day.month, sha=sha, where=where)) is not None:
        return existing
    statement = BankStatement(account=account, year=day.year, month=day.month, opening=Decimal(opening) / 100,
                              closing=Decimal(closing) / 100, file_sha256=sha)
    return _statement_save(statement=statement, lines=lines, dry_run=dry_run, by=by,
                           detail={"kind": "bank statement (camt.053)", "file": where})


def _camt_figure(text: str, where, field_name, problems: list, *, signed: bool) -> int | None:
    """A camt.053 figure in fen, read as strictly as a table's (no exponent, at most 2 decimals, the limit)."""
    try:
        return int(_yuan(str(text), signed=signed) * 100)
    except BadValue as exc:
        problems.append(problem(where, field_name, exc.expected, exc.found))
        return None


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


def _line_side(line: BankLine) -> int:
    return int(line.amount.amount * 100)


def _month_days(statement: BankStatement) -> tuple[date, date]:
    first = date(statement.year, statement.month, 1)
    return first, date(statement.year + statement.month // 12, statement.month % 12 + 1, 1) - timedelta(days=1)


# A posting booked up to a month before the statement may still be waiting for the bank (a cheque not yet
# presented); one booked after the statement's last day belongs to the next month's 余额调节表.
CARRIED_DAYS = 31


def bank_candidates(*, statement: BankStatement):
    """The postings a line of this statement may be matched to: on its bank account, posted, dated from
    CARRIED_DAYS before the month to its last day, and matched to no bank line of any statement."""
    first, last = _month_days(statement)
    return (Posting.objects.filter(account_id=statement.account_id, entry__status="posted",
                                   entry__date__gte=first - timedelta(days=CARRIED_DAYS), entry__date__lte=last,
                                   bank_lines__isnull=True)
            .select_related("entry").order_by("entry__date", "entry_id", "line"))


@dataclass(frozen=True)
class Suggestion:
    """A proposed pairing: bank lines and postings whose amounts add up the same (nothing written)."""

    how: str  # "reference" | "amount" | "one_to_many" | "many_to_one"
    lines: tuple
    postings: tuple

    @property
    def fen(self) -> int:
        return sum(_line_side(ln) for ln in self.lines)

    @property
    def amount(self):
        return from_fen(self.fen)

    @property
    def how_shown(self):
        return {"reference": _("same reference and amount"),
                "amount": lazy_format(_("same amount within ±%(days)s days"), days=WINDOW_DAYS),
                "one_to_many": _("one bank line, several postings"),
                "many_to_one": _("several bank lines, one posting")}[self.how]


def bank_match_suggest(*, statement: BankStatement) -> list[Suggestion]:
    """Read only: the pairs automatic matching would make, in its order — by reference, then one-to-one by
    amount within WINDOW_DAYS, then one line to two or three postings, then two or three lines to one
    posting. Each line and each posting appears in at most one suggestion."""
    lines = list(statement.lines.filter(matched__isnull=True).order_by("line"))
    free = {p.pk: p for p in bank_candidates(statement=statement)}
    found: list[Suggestion] = []

    def take(how, line_group, posting_group):
        found.append(Suggestion(how, tuple(line_group), tuple(posting_group)))
        for p in posting_group:
            free.pop(p.pk, None)

    def near(a: date, b: date) -> bool:
        return abs((a - b).days) <= WINDOW_DAYS

    open_lines = []
    for ln in lines:  # by reference first: the transfer reference is in the memo or the key
        fen = _line_side(ln)
        hit = next((p for p in free.values() if ln.reference and _book_side(p) == fen and (
            ln.reference in (p.entry.idempotency_key or "") or ln.reference in p.entry.memo)), None)
        if hit:
            take("reference", [ln], [hit])
        else:
            open_lines.append(ln)
    rest = []
    for ln in open_lines:
        fen = _line_side(ln)
        hit = next((p for p in free.values() if _book_side(p) == fen and near(p.entry.date, ln.date)), None)
        if hit:
            take("amount", [ln], [hit])
        else:
            rest.append(ln)
    still = []
    for ln in rest:  # one line, several postings
        fen = _line_side(ln)
        cands = [p for p in free.values() if near(p.entry.date, ln.date) and (_book_side(p) > 0) == (fen > 0)]
        group = next((g for k in (2, 3) for g in combinations(cands, k) if sum(map(_book_side, g)) == fen), None)
        if group:
            take("one_to_many", [ln], list(group))
        else:
            still.append(ln)
    for p in list(free.values()):  # several lines, one posting
        target = _book_side(p)
        cands = [ln for ln in still if near(p.entry.date, ln.date) and (ln.amount.amount > 0) == (target > 0)]
        group = next((g for k in (2, 3) for g in combinations(cands, k) if sum(map(_line_side, g)) == target),
                     None)
        if group:
            take("many_to_one", list(group), [p])
            still = [ln for ln in still if ln not in group]
    return found


def _lock(statement: BankStatement) -> None:
    """Matching on one bank account is serialized: every statement row of the account is locked, in one order,
    so two people (or two tabs) can never pair the same line or the same posting twice."""
    list(BankStatement.objects.select_for_update().filter(account_id=statement.account_id).order_by("pk")
         .values_list("pk", flat=True))


def _who(by) -> str:
    return by.get_username() if hasattr(by, "get_username") else str(by)


def _pair(line_group, posting_group, *, by, now) -> None:
    for ln in line_group:
        ln.matched.add(*posting_group)
        ln.matched_by, ln.matched_at = _who(by), now
        ln.save(update_fields=["matched_by", "matched_at"])


@transaction.atomic
def bank_match_auto(*, statement: BankStatement, by: str = "auto") -> int:
    """Apply every suggestion of `bank_match_suggest` (under the account's lock). Returns pairs made."""
    _lock(statement)
    suggestions = bank_match_suggest(statement=statement)
    now = timezone.now()
    for s in suggestions:
        _pair(s.lines, s.postings, by=by, now=now)
    if suggestions:
        audit_record(action="bank_matched", actor=by, obj=statement, book=statement.account.book,
                     detail={"matches": len(suggestions), "how": "automatic"})
    return len(suggestions)


def _pk(x) -> int | None:
    value = getattr(x, "pk", x)
    return int(value) if str(value).isdigit() else None


@transaction.atomic
def bank_match(*, statement: BankStatement, lines: list, postings: list, by, how: str = "manual") -> list[BankLine]:
    """Pair bank lines of `statement` with postings (one to one, one to many or many to one; ids or objects).
    Refused, nothing written, unless every line is this statement's and unmatched, every posting is a candidate
    (`bank_candidates`: this bank account, posted, in the window, unmatched) and both sides add up the same."""
    _lock(statement)
    where = str(statement)
    problems = []
    line_ids = list(dict.fromkeys(_pk(x) for x in lines))
    posting_ids = list(dict.fromkeys(_pk(x) for x in postings))
    found_lines = {ln.pk: ln for ln in BankLine.objects.filter(pk__in=[i for i in line_ids if i])}
    found_postings = {p.pk: p for p in Posting.objects.filter(pk__in=[i for i in posting_ids if i])
                      .select_related("entry", "account")}
    pool = set(bank_candidates(statement=statement).filter(pk__in=list(found_postings)).values_list("pk", flat=True))
    good_lines, good_postings = [], []
    if not line_ids:
        problems.append(problem(where, _("bank lines"), _("at least one bank line"), _("none")))
    if not posting_ids:
        problems.append(problem(where, _("postings"), _("at least one posting"), _("none")))
    for pk in line_ids:
        ln = found_lines.get(pk)
        if ln is None or ln.statement_id != statement.pk:
            problems.append(problem(where, _("bank lines"), _("a line of this statement"),
                                    lazy_format(_("line id %(id)s"), id=pk)))
        elif ln.matched.exists():
            problems.append(problem(lazy_format(_("bank line %(n)s"), n=ln.line), _("bank lines"),
                                    _("a line not yet matched"),
                                    lazy_format(_("matched by %(who)s at %(when)s"), who=ln.matched_by_shown,
                                                when=timezone.localtime(ln.matched_at).strftime("%Y-%m-%d %H:%M")
                                                if ln.matched_at else "")))
        else:
            good_lines.append(ln)
    first, last = _month_days(statement)
    for pk in posting_ids:
        p = found_postings.get(pk)
        if p is None or p.account_id != statement.account_id:
            problems.append(problem(where, _("postings"),
                                    lazy_format(_("postings on %(account)s"), account=statement.account),
                                    lazy_format(_("posting id %(id)s"), id=pk) if p is None else
                                    lazy_format(_("posting id %(id)s on %(account)s"), id=pk, account=p.account)))
        elif pk not in pool:
            found = (_("already matched to a bank line") if p.bank_lines.exists() else
                     _("not posted") if p.entry.status != "posted" else
                     lazy_format(_("dated %(date)s"), date=p.entry.date))
            problems.append(problem(lazy_format(_("posting %(voucher)s"), voucher=p.entry.voucher or pk),
                                    _("postings"),
                                    lazy_format(_("a posted, unmatched posting dated %(start)s to %(end)s"),
                                                start=first - timedelta(days=CARRIED_DAYS), end=last), found))
        else:
            good_postings.append(p)
    if not problems:
        lines_fen = sum(map(_line_side, good_lines))
        postings_fen = sum(map(_book_side, good_postings))
        if lines_fen != postings_fen:
            problems.append(problem(where, _("amount"), _("the bank lines and the postings adding up the same"),
                                    lazy_format(_("bank lines %(lines)s, postings %(postings)s"),
                                                lines=fmt(from_fen(lines_fen)), postings=fmt(from_fen(postings_fen)))))
    if problems:
        raise Refused(problems)
    _pair(good_lines, good_postings, by=by, now=timezone.now())
    audit_record(action="bank_matched", actor=by, obj=statement, book=statement.account.book,
                 detail={"how": how, "lines": [ln.line for ln in good_lines],
                         "postings": [p.pk for p in good_postings],
                         "amount": str(from_fen(sum(map(_line_side, good_lines))).amount)})
    return good_lines


@transaction.atomic
def bank_match_manual(*, line: BankLine, postings: list[Posting], by) -> BankLine:
    """The line's matched postings replaced by `postings` (the line change form): refused unless they are
    candidates adding up to the line."""
    _lock(line.statement)
    line.matched.clear()
    bank_match(statement=line.statement, lines=[line], postings=postings, by=by, how="manual")
    line.refresh_from_db()
    return line


@transaction.atomic
def bank_unmatch(*, line: BankLine, by) -> list[BankLine]:
    """Undo the match the line is part of: the line and every line of the statement sharing a posting with it
    (a match of several lines to one posting comes apart whole). Returns the lines unmatched (none if the
    line was no longer matched: someone else undid it first)."""
    _lock(line.statement)
    postings = list(Posting.objects.filter(bank_lines=line).values_list("pk", flat=True))
    if not postings:
        return []
    group = list(BankLine.objects.filter(statement_id=line.statement_id, matched__in=postings).distinct()
                 .order_by("line"))
    now = timezone.now()
    for ln in group:
        ln.matched.clear()
        ln.matched_by, ln.matched_at = f"unmatched by {_who(by)}", now
        ln.save(update_fields=["matched_by", "matched_at"])
        audit_record(action="bank_unmatched", actor=by, obj=ln, book=line.statement.account.book,
                     detail={"postings": postings})
    return group


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


