"""Writes to the ledger: post, post many, draft and review, reverse, close.

Every path that posts holds the book's row lock (voucher numbers and the hash chain need one
order per book; other books post in parallel) and gives numbers and hashes with one _Sealer. New
vouchers are written once, posted, by _NewVouchers (their lines first, under ids reserved for them;
the database checks each entry as it arrives); a large batch in date order goes chunk by chunk, the
database writing one chunk on a thread of its own (core.bulk.Writer) while the next is checked and
sealed. A draft is turned posted by one UPDATE (checked the same way). The period balances are moved
by atomic increments in the same transaction.
"""

import calendar
import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from time import perf_counter

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F, signals
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from access.roles import is_administrator
from access.scope import in_scope
from accounts.models import Account, Book
from audit.services import audit_record
from core.bulk import Writer, collector_paused, ids_reserve, prepared_write, rows_insert, rows_prepare
from core.errors import Refused, lazy_format, problem
from core.money import AmountError, to_fen
from core.people import person_of, signer_problems

from . import chain
from .models import AccountBalance, JournalEntry, Period, Posting
from .sources import source_label

_CHUNK = 2000
date_type = date  # services take a parameter named `date`


@dataclass(frozen=True)
class Line:
    """One line of an entry to post: an account code of the book, a debit or a credit."""

    account: str
    debit: object = None
    credit: object = None
    memo: str = ""
    counterparty: str = ""


@dataclass(frozen=True)
class EntrySpec:
    date: date
    lines: Sequence[Line]
    memo: str
    idempotency_key: str | None = None


@dataclass
class _Checked:
    """An entry that passed every check, with amounts in fen and ids resolved."""

    label: str
    spec: EntrySpec
    period: Period
    lines: list  # [(account_id, account code, debit fen, credit fen, memo, counterparty)]
    digest: str
    reverses: JournalEntry | None = None
    made_by_id: int | None = None
    reviewed_by_id: int | None = None
    draft: JournalEntry | None = None
    fields: dict = field(default_factory=dict)
    attachments: tuple = ()  # SHA-256 of the draft's attachments, sealed with it


def _book(book: Book):
    return lazy_format(_("book %(code)s"), code=book.code)


# -- periods ---------------------------------------------------------------------


@transaction.atomic
def fiscal_year_open(*, book: Book, year: int) -> list[Period]:
    """Open the twelve monthly periods of a natural year; opening it again changes nothing."""
    if not 1900 <= year <= 9999:
        raise Refused([problem(_book(book), _("year"), _("a year 1900–9999"), year)])
    existing = {p.month: p for p in Period.objects.filter(book=book, year=year)}
    missing = [
        Period(
            book=book, year=year, month=m, start_date=date(year, m, 1),
            end_date=date(year, m, calendar.monthrange(year, m)[1]),
        )
        for m in range(1, 13)
        if m not in existing
    ]
    Period.objects.bulk_create(missing)
    return list(Period.objects.filter(book=book, year=year).order_by("month"))


def _drafts_refusal(book: Book, periods, what: str):
    drafts = list(JournalEntry.objects.filter(period__in=periods, status=JournalEntry.Status.DRAFT)[:20])
    if drafts:
        raise Refused(
            [problem(_book(book), what, _("no draft entries left in it (post or delete them first)"),
                     lazy_format(_("draft #%(id)s dated %(date)s «%(memo)s»"), id=d.pk, date=d.date, memo=d.memo))
             for d in drafts]
        )


@transaction.atomic
def period_close(*, period: Period, by=None) -> Period:
    period = Period.objects.select_for_update().get(pk=period.pk)
    if period.status != Period.Status.OPEN:
        return period
    _drafts_refusal(period.book, [period], f"period {period}")
    period.status = Period.Status.CLOSED
    period.closed_at = timezone.now()
    period.closed_by = by
    period.save(update_fields=["status", "closed_at", "closed_by"])
    audit_record(action="period_closed", actor=by, obj=period, book=period.book)
    return period


@transaction.atomic
def period_reopen(*, period: Period, by=None) -> Period:
    period = Period.objects.select_for_update().get(pk=period.pk)
    if period.status == Period.Status.FINAL:
        raise Refused(
            [problem(_book(period.book), lazy_format(_("period %(period)s"), period=period),
                     _("a period not closed with its year"), _("closed with the year (final)"))]
        )
    period.status = Period.Status.OPEN
    period.closed_at = None
    period.closed_by = None
    period.save(update_fields=["status", "closed_at", "closed_by"])
    audit_record(action="period_reopened", actor=by, obj=period, book=period.book)
    return period


@transaction.atomic
def year_close(*, book: Book, year: int, by=None) -> list[Period]:
    """Close every period of the year for good; closing it again changes nothing."""
    Book.objects.select_for_update(no_key=True).get(pk=book.pk)
    periods = list(Period.objects.filter(book=book, year=year).order_by("month"))
    if len(periods) != 12:
        raise Refused([problem(_book(book), lazy_format(_("year %(year)s"), year=year), _("12 opened periods"),
                               len(periods))])
    _drafts_refusal(book, periods, f"year {year}")
    now = timezone.now()
    Period.objects.filter(pk__in=[p.pk for p in periods]).exclude(status=Period.Status.FINAL).update(
        status=Period.Status.FINAL, closed_at=now, closed_by=by
    )
    audit_record(action="year_closed", actor=by, obj=book, detail={"year": year})
    return list(Period.objects.filter(book=book, year=year).order_by("month"))


# -- checking --------------------------------------------------------------------


# Seconds spent computing content digests and chain links while posting (bench/ledger.py reads it:
# the seal's share of posting time).
SEAL_CLOCK = [0.0]


def _fen_quick(value) -> int | None:
    """Fen ≥ 0 of an amount, or None when it is not one (the caller then names the problem).

    Plain yuan text as imports carry it ("1234.56", "88"), up to 15 digits of yuan, is read without a
    Decimal; anything else goes through core.money.to_fen, which decides what is an amount."""
    if value is None or value == "":
        return 0
    if type(value) is str:
        whole, dot, frac = value.partition(".")
        if whole.isascii() and whole.isdigit() and len(whole) <= 15:
            if not dot:
                return int(whole) * 100
            if frac.isascii() and frac.isdigit() and len(frac) <= 2:
                return int(whole) * 100 + int(frac) * (10 if len(frac) == 1 else 1)
    try:
        fen = to_fen(value)
    except AmountError:
        return None
    return fen if fen >= 0 else None


def _has_nul(text) -> bool:
    return type(text) is str and "\x00" in text


def _nul_problems(label, problems: list, *, memo, key, lines) -> None:
    """Each text of an entry holding a NUL character (0x00), named: PostgreSQL cannot store one in text
    (its driver's refusal named no entry and no field) and SQLite would keep it, so both refuse it here."""
    texts = [(_("memo"), memo), (_("idempotency_key"), key)]
    for n, ln in enumerate(lines, start=1):
        texts += [(lazy_format(_("line %(n)s memo"), n=n), ln.memo),
                  (lazy_format(_("line %(n)s counterparty"), n=n), ln.counterparty)]
    for where, text in texts:
        if _has_nul(text):
            problems.append(problem(label, where, _("text without NUL characters (0x00)"),
                                    lazy_format(_("a NUL character at position %(n)s"), n=text.index("\x00") + 1)))


class _BookContext:
    """What checking a batch for one book needs, read once: accounts and periods."""

    def __init__(self, book: Book, dates):
        self.book = book
        self.accounts = {}
        parents = set()
        for acc_id, code, parent_id in Account.objects.filter(book=book).values_list("id", "code", "parent_id"):
            self.accounts[code] = acc_id
            if parent_id:
                parents.add(parent_id)
        self.non_leaf = parents
        years = {d.year for d in dates if isinstance(d, date)}
        self.periods = {(p.year, p.month): p for p in Period.objects.filter(book=book, year__in=years)}
        from .models import Opening

        # The books start on their opening date (建账日期): nothing is dated before the balances taken over.
        self.opened_on = Opening.objects.filter(book=book).values_list("as_of", flat=True).first()

    def check(self, spec: EntrySpec, label: str, problems: list, *, posted_already: bool = False) -> _Checked | None:
        """Check an entry whole. For one whose key was posted before (`posted_already`), only its
        content is read, to compare with what was posted: its period may be closed by now."""
        found_problem = len(problems)
        book = self.book
        period = None
        if posted_already:
            pass
        elif not isinstance(spec.date, date):
            problems.append(problem(label, _("date"), _("a date"), spec.date))
        else:
            period = self.periods.get((spec.date.year, spec.date.month))
            if period is None:
                problems.append(problem(
                    label, _("date"), lazy_format(_("a date in an opened year of book %(code)s"), code=book.code),
                    lazy_format(_("%(date)s (year %(year)s not opened)"), date=spec.date, year=spec.date.year)))
            elif self.opened_on is not None and spec.date < self.opened_on:
                problems.append(problem(label, _("date"), lazy_format(
                    _("a date on or after %(date)s, the day book %(code)s opened (建账)"), date=self.opened_on,
                    code=book.code), spec.date))
            elif period.status != Period.Status.OPEN:
                problems.append(problem(label, _("date"), _("a date in an open period"), lazy_format(
                    _("%(date)s in period %(period)s (%(status)s)"), date=spec.date, period=period,
                    status=Period.Status(period.status).label)))
        if not (spec.memo or "").strip():
            problems.append(problem(label, _("memo"), _("a memo (摘要)"), _("nothing")))
        lines = spec.lines if isinstance(spec.lines, list | tuple) else list(spec.lines)
        if len(lines) < 2:
            problems.append(problem(label, _("lines"), _("at least 2 postings"), len(lines)))
        accounts, non_leaf = self.accounts, self.non_leaf
        checked_lines, rows = [], []
        total_dr = total_cr = 0
        nul = _has_nul(spec.memo) or _has_nul(spec.idempotency_key)
        for n, ln in enumerate(lines, start=1):
            # The happy path builds no message: a line that fails any test is checked again below,
            # where each problem is named.
            memo, counterparty = ln.memo or "", ln.counterparty or ""
            nul = nul or _has_nul(memo) or _has_nul(counterparty)
            acc_id = accounts.get(ln.account)
            dr, cr = _fen_quick(ln.debit), _fen_quick(ln.credit)
            if acc_id is None or acc_id in non_leaf or dr is None or cr is None or (dr and cr) or not (dr or cr):
                dr, cr = self._line_problems(ln, n, acc_id, label, problems)
                if dr is None:
                    continue
            total_dr += dr
            total_cr += cr
            checked_lines.append((acc_id, ln.account, dr, cr, memo, counterparty))
            rows.append([ln.account, dr, cr, memo, counterparty])
        if nul:
            _nul_problems(label, problems, memo=spec.memo, key=spec.idempotency_key, lines=lines)
        if len(problems) == found_problem and (total_dr != total_cr or total_dr <= 0):
            problems.append(problem(label, _("balance"), _("Σdebit = Σcredit > 0"),
                                    lazy_format(_("Σdebit %(dr)s, Σcredit %(cr)s"), dr=f"{total_dr / 100:.2f}",
                                                cr=f"{total_cr / 100:.2f}")))
        if len(problems) != found_problem:
            return None
        t = perf_counter()
        digest = chain.content_digest_rows(spec.date, spec.memo, rows)
        SEAL_CLOCK[0] += perf_counter() - t
        return _Checked(label=label, spec=spec, period=period, lines=checked_lines, digest=digest)

    def _line_problems(self, ln: Line, n: int, acc_id, label, problems: list) -> tuple:
        """Every problem of one line, named; (debit fen, credit fen), or (None, None) when an amount is unreadable."""
        book = self.book
        if acc_id is None:
            problems.append(problem(label, lazy_format(_("line %(n)s account"), n=n),
                                    lazy_format(_("an account of book %(code)s"), code=book.code), ln.account))
        elif acc_id in self.non_leaf:
            problems.append(problem(label, lazy_format(_("line %(n)s account"), n=n),
                                    _("a leaf account (it has sub-accounts)"), ln.account))
        dr = self._amount(ln.debit, label, lazy_format(_("line %(n)s debit"), n=n), problems)
        cr = self._amount(ln.credit, label, lazy_format(_("line %(n)s credit"), n=n), problems)
        if dr is None or cr is None:
            return None, None
        where = lazy_format(_("line %(n)s"), n=n)
        if dr and cr:
            problems.append(problem(label, where, _("a debit or a credit, not both"),
                                    lazy_format(_("debit %(dr)s and credit %(cr)s"), dr=ln.debit, cr=ln.credit)))
        elif not dr and not cr:
            problems.append(problem(label, where, _("a debit or a credit above zero"), _("neither")))
        return dr, cr

    @staticmethod
    def _amount(value, label, where, problems) -> int | None:
        if value is None or value == "":
            return 0
        try:
            fen = to_fen(value)
        except AmountError as exc:
            shown = f"{value.amount} {value.currency}" if isinstance(value, Money) else str(value)
            problems.append(problem(label, where, _("a CNY amount with at most 2 decimals"),
                                    lazy_format(_("%(value)s (%(why)s)"), value=shown, why=exc.args[0])))
            return None
        if fen < 0:
            problems.append(problem(label, where, _("an amount ≥ 0 (put it on the other side)"), value))
            return None
        return fen


def _label(spec: EntrySpec, index: int | None):
    key = spec.idempotency_key
    if index is not None and key:
        return lazy_format(_("entry %(n)s key %(key)s"), n=index + 1, key=key)
    if index is not None:
        return lazy_format(_("entry %(n)s"), n=index + 1)
    if key:
        return lazy_format(_("key %(key)s"), key=key)
    return lazy_format(_("entry «%(memo)s» of %(date)s"), memo=spec.memo, date=spec.date)


class _Label:
    """How messages name an entry of a batch (_label), made only when a message is: naming every entry
    up front cost a lazy translation object per entry on the path that finds nothing wrong."""

    __slots__ = ("index", "spec")

    def __init__(self, spec: EntrySpec, index: int | None):
        self.spec, self.index = spec, index

    def __str__(self) -> str:
        return str(_label(self.spec, self.index))


def _existing_by_key(book: Book, keys) -> dict:
    """Entries of the book already holding any of these idempotency keys, by key."""
    keys = [k for k in keys if k]
    ids = []
    table = JournalEntry._meta.db_table
    # Plain SQL: the ORM's per-parameter handling of large IN lists cost more than the query.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and keys:
            # One array parameter: no statement of thousands of placeholders for the driver to split.
            cursor.execute(f"SELECT id FROM {table} WHERE book_id = %s AND idempotency_key = ANY(%s)", [book.pk, keys])
            keys = []
            ids.extend(row[0] for row in cursor.fetchall())
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            cursor.execute(f"SELECT id FROM {table} WHERE book_id = %s AND idempotency_key IN "
                           f"({', '.join(['%s'] * len(chunk))})", [book.pk, *chunk])
            ids.extend(row[0] for row in cursor.fetchall())
    return {e.idempotency_key: e for e in JournalEntry.objects.filter(pk__in=ids)} if ids else {}


# -- posting ---------------------------------------------------------------------


def _lock_book(book: Book) -> Book:
    """The book's row lock orders its postings. FOR NO KEY UPDATE: rows that merely refer to the book
    (a draft's postings being written) take a key-share lock on it, which this does not block."""
    return Book.objects.select_for_update(no_key=True).get(pk=book.pk)


def _balances_apply(book: Book, items: list[_Checked]) -> None:
    """Add the batch's movements to the period balances with atomic increments."""
    delta = defaultdict(lambda: [0, 0])
    for c in items:
        period_id = c.period.id
        for acc_id, _code, dr, cr, _memo, _cp in c.lines:
            d = delta[(acc_id, period_id)]
            d[0] += dr
            d[1] += cr
    table = AccountBalance._meta.db_table
    rows = [(book.pk, acc, per, dr, cr) for (acc, per), (dr, cr) in sorted(delta.items())]
    rows_insert(
        table, ("book_id", "account_id", "period_id", "debit_fen", "credit_fen"), rows,
        suffix=(f" ON CONFLICT (account_id, period_id) DO UPDATE SET"
                f" debit_fen = {table}.debit_fen + excluded.debit_fen,"
                f" credit_fen = {table}.credit_fen + excluded.credit_fen"),
    )


def _deficit_problems(book: Book, items: list[_Checked]) -> list[dict]:
    """不允许赤字: an account set to refuse (cash, bank) must not end any day on its other side.

    Runs after the batch's rows are in (same transaction, book locked), from the earliest day the batch
    draws such an account down: the balance the evening before, then each day's movements up to the last
    posted day, so a back-dated payment that would overdraw a later day is refused too."""
    from datetime import timedelta

    from django.db.models import Q, Sum

    from .selectors import account_balance

    earliest, first_item = {}, {}
    for c in items:
        for acc_id, _code, dr, cr, _memo, _cp in c.lines:
            if (acc_id not in earliest or c.spec.date < earliest[acc_id]) and (cr or dr):
                earliest[acc_id] = c.spec.date
                first_item[acc_id] = c
    guarded = Account.objects.filter(pk__in=list(earliest), deficit=Account.Deficit.REFUSE)
    problems = []
    for account in guarded:
        start = earliest[account.pk]
        running = int(account_balance(account=account, as_of=start - timedelta(days=1)).amount * 100)
        # No day can end below zero if the evening before covers every draw-down since (months from the
        # balance table, the first month from its postings): the usual case, read in O(months).
        draw = "credit" if account.normal_side == Account.Side.DEBIT else "debit"
        later = AccountBalance.objects.filter(account=account).filter(
            Q(period__year__gt=start.year) | Q(period__year=start.year, period__month__gt=start.month)
        ).aggregate(s=Sum(draw))["s"]
        # A date range, not year and month lookups: SQLite extracts those by a Python function per row.
        month_end = date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
        first = Posting.objects.filter(account=account, entry__status=JournalEntry.Status.POSTED,
                                       entry__date__gte=start, entry__date__lte=month_end).aggregate(s=Sum(draw))["s"]
        if running - sum(int(x.amount * 100) for x in (later, first) if x is not None) >= 0:
            continue
        days = (Posting.objects.filter(account=account, entry__status=JournalEntry.Status.POSTED,
                                       entry__date__gte=start)
                .values("entry__date").annotate(dr=Sum("debit"), cr=Sum("credit")).order_by("entry__date"))
        for day in days:
            dr, cr = int(day["dr"].amount * 100), int(day["cr"].amount * 100)
            running += dr - cr if account.normal_side == Account.Side.DEBIT else cr - dr
            if running < 0:
                other = _("credit") if account.normal_side == Account.Side.DEBIT else _("debit")
                problems.append(problem(
                    first_item[account.pk].label, lazy_format(_("account %(code)s"), code=account.code),
                    lazy_format(_("a balance that never ends a day on the %(side)s side (%(name)s: 不允许赤字)"),
                                side=other, name=account.name),
                    lazy_format(_("%(date)s ends at %(side)s %(amount)s"), date=day["entry__date"].isoformat(),
                                side=other, amount=f"{-running / 100:,.2f}")))
                break
    return problems


def _opening_refusal(book: Book) -> list[dict]:
    """A book's first voucher waits for its opening balances (建账) to be approved."""
    if book.chain_length:
        return []
    from .opening import opening_pending_problems

    return opening_pending_problems(book)


class _Sealer:
    """Voucher numbers, 凭证号 within the month and chain links, given in date order, chunk after chunk.

    The last numbers are read once, before anything of the call is written (a writer thread may hold the
    connection after). A voucher dated before the last one posted in its month is refused (序时控制): every
    such voucher is listed in `problems`, and nothing more is sealed."""

    def __init__(self, book: Book, source: str, now, *, period_ids, years):
        # Per period, the last voucher by the (period, month_number) index: one seek, where an aggregate over
        # the month read every voucher in it (at 100,000 a year, thousands a batch). The database holds each
        # month's numbers in date order (migration 0010), so the last number is also the latest date.
        self.month_last = {}
        for period_id in period_ids:
            row = (JournalEntry.objects.filter(period_id=period_id, status=JournalEntry.Status.POSTED,
                                               month_number__isnull=False)
                   .order_by("-month_number").values_list("month_number", "date").first())
            if row is not None:
                self.month_last[period_id] = row
        # One seek per year in the unique (book, fiscal_year, number) index, not an aggregate over the year's vouchers.
        self.year_last = {}
        for year in years:
            number = (JournalEntry.objects.filter(book=book, fiscal_year=year, number__isnull=False)
                      .order_by("-number").values_list("number", flat=True).first())
            if number is not None:
                self.year_last[year] = number
        self.book, self.source, self.now = book, source, now
        self.problems = []
        self._hmac = chain.link_sealer()
        self._period_names = {}

    def seal(self, items: list[_Checked]) -> bool:
        """Number and seal items (in date order, after every item sealed before); False once refused."""
        month_numbers, last = {}, self.month_last
        for c in items:
            number, day = last.get(c.period.id, (0, None))
            if day is not None and c.spec.date < day:
                self.problems.append(problem(c.label, _("date"), lazy_format(
                    _("a date on or after %(day)s, the last voucher posted in %(period)s (vouchers are numbered "
                      "in date order within a month: date it %(day)s or later)"), day=day, period=c.period),
                    c.spec.date))
                continue
            month_numbers[id(c)] = number + 1
            last[c.period.id] = (number + 1, c.spec.date)
        if self.problems:
            return False
        t = perf_counter()
        book, source, now, sealer, names = self.book, self.source, self.now, self._hmac, self._period_names
        seq, head, last_number = book.chain_length, book.chain_head, self.year_last
        code, supervisor_id = book.code, book.supervisor_id
        for c in items:
            year = c.spec.date.year
            number = last_number.get(year, 0) + 1
            last_number[year] = number
            seq += 1
            month_number = month_numbers[id(c)]
            period = c.period
            name = names.get(period.pk)
            if name is None:
                name = names[period.pk] = str(period)
            # chain.entry_hash's fields, in its order (a voucher numbered in its month always seals the three last).
            digest = chain.link(sealer, head, [
                code, seq, year, number, name, source, c.spec.idempotency_key,
                c.reverses.seq if c.reverses is not None else None, c.made_by_id, c.reviewed_by_id, c.digest,
                supervisor_id, sorted(c.attachments), month_number])
            c.fields = {
                "fiscal_year": year, "number": number, "seq": seq, "prev_hash": head, "hash": digest,
                "posted_at": now, "source": source, "supervisor_id": supervisor_id, "month_number": month_number,
            }
            head = digest
        book.chain_length, book.chain_head = seq, head
        SEAL_CLOCK[0] += perf_counter() - t
        return True


class _StrayLines(Exception):
    """Lines found under the ids reserved for new vouchers, beyond the ones just written."""


_ENTRY_COLUMNS = ("id", "book_id", "period_id", "date", "fiscal_year", "number", "seq", "status", "memo", "source",
                  "idempotency_key", "content_digest", "reverses_id", "made_by_id", "reviewed_by_id", "created_at",
                  "posted_at", "prev_hash", "hash", "supervisor_id", "month_number")
_POSTING_COLUMNS = ("entry_id", "book_id", "line", "account_id", "debit_fen", "credit_fen", "memo", "counterparty")

# New vouchers handed to the writer at a time when a call posts more: the next chunk is checked and sealed
# while the database takes the last (PostgreSQL, 100,000 vouchers: Python 7 s and server 7 s, in turns).
# The first chunks are smaller, so that the database starts sooner.
_PIPELINE = 1000
_PIPELINE_FIRST = 250


def _chunks(n: int, in_order: bool) -> list[tuple[int, int]]:
    """(start, stop) of the chunks a call of n entries is checked and written in: one, unless in date order."""
    if not in_order or n <= _PIPELINE:
        return [(0, n)]
    bounds, start, size = [], 0, _PIPELINE_FIRST
    while start < n:
        bounds.append((start, min(start + size, n)))
        start, size = start + size, min(2 * size, _PIPELINE)
    return bounds


class _NewVouchers:
    """New vouchers of one posting call on their way in: sealed chunk by chunk in date order, and written,
    posted, by a core.bulk.Writer — each chunk's lines under ids reserved for its vouchers, then the
    vouchers, which the database checks as they arrive (migration ledger 0013).

    Everything the call reads is read here, before the first write: a threaded writer holds the connection
    until finish(). Refusals keep their order of precedence: the opening (建账) not approved, then vouchers
    out of date order, then the database's own."""

    def __init__(self, book: Book, source: str, *, period_ids, years, count: int, threaded: bool):
        self.book = book
        self.now = timezone.now()
        self.refusal = _opening_refusal(book)
        self.sealer = _Sealer(book, source, self.now, period_ids=period_ids, years=years)
        self.ids = iter(_entry_ids_reserve(count)) if count and not self.refusal else iter(())
        self.written = []  # (item, entry) in the order sealed
        self.writer = Writer(threaded=threaded)
        self.created = connection.ops.adapt_datetimefield_value(self.now)

    def add(self, items: list[_Checked]) -> None:
        """Seal items (sorted by date here, stably) after those added before, and hand them to the writer."""
        if self.refusal:
            return
        items = sorted(items, key=lambda c: c.spec.date)
        if not self.sealer.seal(items):
            return
        book_id, ids = self.book.pk, [next(self.ids) for _ in items]
        lines = [
            (entry_id, book_id, n, acc_id, dr, cr, memo, counterparty)
            for entry_id, c in zip(ids, items, strict=True)
            for n, (acc_id, _code, dr, cr, memo, counterparty) in enumerate(c.lines, start=1)
        ]
        rows = _entry_rows(book_id, items, ids, self.created)
        vendor, count = self.writer.vendor, len(lines)
        lines_sql = rows_prepare(vendor, Posting._meta.db_table, _POSTING_COLUMNS, lines)
        entries_sql = rows_prepare(vendor, JournalEntry._meta.db_table, _ENTRY_COLUMNS, rows)
        self.writer.submit(lambda cursor, vendor: _vouchers_write(cursor, vendor, lines_sql, count, ids, entries_sql))
        self.written.extend(zip(items, _entries_built(items, rows, _ENTRY_COLUMNS, self.now), strict=True))

    def finish(self) -> list[tuple[_Checked, JournalEntry]]:
        """Wait for the writes; the (item, entry) pairs written, or the call's refusal."""
        try:
            self.writer.close()
        except (IntegrityError, connection.Database.IntegrityError) as exc:
            # The database's own check (the service checked first). The writer runs on the driver's cursor,
            # so a refusal arrives as the driver's error.
            self._raise_before_database()
            raise Refused([problem(_book(self.book), _("database"), _("the ledger invariants to hold"), exc)]) from exc
        except _StrayLines as exc:
            self._raise_before_database()
            raise Refused([problem(_book(self.book), _("database"),
                                   _("no line under the ids reserved for new vouchers but theirs"),
                                   lazy_format(_("%(n)s lines written there beforehand"), n=exc.args[0]))]) from None
        self._raise_before_database()
        return self.written

    def _raise_before_database(self) -> None:
        if self.refusal:
            raise Refused(self.refusal)
        if self.sealer.problems:
            raise Refused(self.sealer.problems)

    def close(self) -> None:
        """Wait for the writer without asking how it went (the call is being refused anyway)."""
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - the exception already on its way out says why
            pass


def _vouchers_write(cursor, vendor: str, lines_sql: list, count: int, ids: list[int], entries_sql: list) -> None:
    """The writer's job for one chunk: its `count` lines, the check that no other line waits under their
    ids, its vouchers (statements made by core.bulk.rows_prepare)."""
    prepared_write(cursor, vendor, lines_sql)
    stray = _lines_under(cursor, vendor, ids) - count
    if stray:
        raise _StrayLines(stray)
    prepared_write(cursor, vendor, entries_sql)


def _drafts_post(book: Book, items: list[_Checked], source: str) -> list[JournalEntry]:
    """Turn checked drafts posted (new vouchers go through _NewVouchers). Caller holds the book lock inside
    a transaction."""
    assert all(c.draft is not None for c in items), "new vouchers are written by _NewVouchers"
    refusal = _opening_refusal(book)
    if refusal:
        raise Refused(refusal)
    drafts = {c.draft.pk: c for c in items}
    from .models import Attachment

    for entry_id, sha in Attachment.objects.filter(entry_id__in=list(drafts)).values_list("entry_id", "sha256"):
        drafts[entry_id].attachments += (sha,)
    # Within a batch, vouchers are numbered and chained in date order (stable for one day).
    ordered = sorted(items, key=lambda c: c.spec.date)
    sealer = _Sealer(book, source, timezone.now(), period_ids={c.period.id for c in ordered},
                     years={c.spec.date.year for c in ordered})
    if not sealer.seal(ordered):
        raise Refused(sealer.problems)
    try:
        for c in ordered:
            JournalEntry.objects.filter(pk=c.draft.pk).update(reviewed_by_id=c.reviewed_by_id, **c.fields)
        # The database re-checks each entry's balance as it turns posted.
        JournalEntry.objects.filter(
            book=book, seq__gte=ordered[0].fields["seq"], seq__lte=ordered[-1].fields["seq"], status="draft"
        ).update(status=JournalEntry.Status.POSTED)
    except (IntegrityError, connection.Database.IntegrityError) as exc:
        raise Refused([problem(_book(book), _("database"), _("the ledger invariants to hold"), exc)]) from exc
    _post_finish(book, ordered)
    for c in items:
        c.draft.refresh_from_db()
    return [c.draft for c in items]


def _post_finish(book: Book, items: list[_Checked]) -> None:
    """After the vouchers are in: balances moved, 不允许赤字 checked, the book's chain head and checkpoint."""
    _balances_apply(book, items)
    overdrawn = _deficit_problems(book, items)
    if overdrawn:
        raise Refused(overdrawn)
    Book.objects.filter(pk=book.pk).update(chain_length=book.chain_length, chain_head=book.chain_head)
    _checkpoint_on_commit(book)


def book_balances_digest(book: Book) -> str:
    """The digest of the book's balance table as it stands (core of a checkpoint)."""
    fen = BigIntegerField()
    rows = AccountBalance.objects.filter(book=book).annotate(
        dr=ExpressionWrapper(F("debit"), output_field=fen), cr=ExpressionWrapper(F("credit"), output_field=fen),
    ).values_list("account__code", "period__year", "period__month", "dr", "cr")
    from .opening import opening_digest_rows

    return chain.balances_digest([*opening_digest_rows(book),
                                  *((code, f"{y}-{m:02d}", dr, cr) for code, y, m, dr, cr in rows.iterator())])


def _checkpoint_on_commit(book: Book) -> None:
    """Once the posting commits, its book's new length, head and balances leave the database (core.checkpoints).
    Read now, under the book's lock, so the line describes exactly this commit."""
    from core.checkpoints import checkpoint_append

    length, head, digest = book.chain_length, book.chain_head, book_balances_digest(book)
    transaction.on_commit(lambda: checkpoint_append(book.code, length=length, head=head, digest=digest))


def _entry_ids_reserve(n: int) -> list[int]:
    """Ids for n new entries, taken before they are written: their lines go in first (core.bulk.ids_reserve)."""
    return ids_reserve(JournalEntry._meta.db_table, n)


def _lines_under(cursor, vendor: str, ids: list[int]) -> int:
    """How many lines the database holds under these entry ids. Only the ones just written should be there:
    lines planted beforehand under an id not yet given (possible only with foreign keys switched off, as
    the sqlite3 shell has them) would otherwise join the new voucher and pass its balance check."""
    if vendor == "postgresql":
        # The range as well: new ids lie above any the statistics know of, so the planner takes the index
        # even before the lines table was first analysed (by `= ANY` alone, it scanned the whole table).
        cursor.execute("SELECT COUNT(*) FROM ledger_posting WHERE entry_id BETWEEN %s AND %s AND entry_id = ANY(%s)",
                       [min(ids), max(ids), ids])
    else:  # reserved as one run above every id ever given, under the database's write lock
        cursor.execute("SELECT COUNT(*) FROM ledger_posting WHERE entry_id BETWEEN ? AND ?", [ids[0], ids[-1]])
    return cursor.fetchone()[0]


def _entry_rows(book_id: int, items: list[_Checked], ids: list[int], created) -> list[tuple]:
    """Sealed entries as rows of _ENTRY_COLUMNS, posted, under the ids reserved for them."""
    adapt_date = connection.ops.adapt_datefield_value
    posted = JournalEntry.Status.POSTED
    rows = []
    for entry_id, c in zip(ids, items, strict=True):
        f = c.fields
        rows.append((
            entry_id, book_id, c.period.id, adapt_date(c.spec.date), f["fiscal_year"], f["number"],
            f["seq"], posted, c.spec.memo, f["source"], c.spec.idempotency_key, c.digest,
            c.reverses.pk if c.reverses is not None else None, c.made_by_id, c.reviewed_by_id, created, created,
            f["prev_hash"], f["hash"], f["supervisor_id"], f["month_number"],
        ))
    return rows


def _entries_built(items: list[_Checked], rows: list[tuple], columns: tuple, now) -> list[JournalEntry]:
    """Instances as the database now holds them, for the callers (claims link their claims to them).

    Filled the way Model.from_db leaves them, without its per-field setattr: a tenth of the cost,
    which at 100,000 vouchers is a second. JournalEntry has no field whose attribute converts on set
    (no money field), and with an init signal receiver the model's own path is taken instead."""
    alias = connection.alias
    names = [f.attname for f in JournalEntry._meta.concrete_fields]
    if signals.pre_init.has_listeners(JournalEntry) or signals.post_init.has_listeners(JournalEntry):
        slow = []
        for c, row in zip(items, rows, strict=True):
            values = dict(zip(columns, row, strict=True))
            values.update(date=c.spec.date, created_at=now, posted_at=now)
            slow.append(JournalEntry.from_db(alias, names, [values[n] for n in names]))
        return slow
    new = JournalEntry.__new__
    entries = []
    for c, row in zip(items, rows, strict=True):
        e = new(JournalEntry)
        d = e.__dict__
        d.update(zip(columns, row, strict=True))
        d["date"], d["created_at"], d["posted_at"] = c.spec.date, now, now
        state = d["_state"] = ModelState()
        state.adding, state.db = False, alias
        entries.append(e)
    return entries


def _postings_insert(rows: list[tuple]) -> None:
    """Insert posting rows (entry, book, line, account, debit fen, credit fen, memo, counterparty).

    FenField takes yuan at the boundary; these rows carry checked fen already, so the
    integers go in directly instead of through a model instance each.
    """
    columns = ("entry_id", "book_id", "line", "account_id", "debit_fen", "credit_fen", "memo", "counterparty")
    rows_insert(Posting._meta.db_table, columns, rows)


def entries_post_many(
    *, book: Book, entries: Sequence[EntrySpec], source: str = "import", made_by=None, reviewed_by=None
) -> list[JournalEntry]:
    """Post a batch atomically: all of it, or nothing with every problem listed.

    Entries whose idempotency key was already posted with the same content are
    returned as they are; a key reused with other content is refused.
    """
    with collector_paused() if len(entries) > _PIPELINE else contextlib.nullcontext():
        return _entries_post_many(book=book, entries=entries, source=source, made_by=made_by,
                                  reviewed_by=reviewed_by)


@transaction.atomic
def _entries_post_many(*, book: Book, entries: Sequence[EntrySpec], source: str, made_by, reviewed_by):
    book = _lock_book(book)
    context = _BookContext(book, [s.date for s in entries])
    existing = _existing_by_key(book, [s.idempotency_key for s in entries])
    problems, items, result = [], [], []
    seen_keys = {}
    made_by_id = getattr(made_by, "pk", made_by)
    reviewed_by_id = getattr(reviewed_by, "pk", reviewed_by)
    # Whatever puts money into a book was prepared by one named person and approved by another,
    # both of whom keep that book (a fund's people never write into an insurer's book, nor the reverse).
    problems += signer_problems(_book(book), made_by=made_by, reviewed_by=reviewed_by)
    problems += _outside_scope(book, _book(book), made_by=made_by, reviewed_by=reviewed_by)
    # A batch in date order (as imports are) is checked, sealed and written chunk by chunk, the database
    # writing one chunk while the next is checked; any other order is checked whole, then sorted and written.
    dates = [s.date for s in entries]
    in_order = all(type(d) is date_type for d in dates) and all(a <= b for a, b in pairwise(dates))
    chunks = _chunks(len(entries), in_order)
    writing = None
    try:
        for start, stop in chunks:
            fresh = []
            for i in range(start, stop):
                spec = entries[i]
                label = _Label(spec, i if len(entries) > 1 else None)
                key = spec.idempotency_key
                c = context.check(spec, label, problems, posted_already=bool(key and key in existing))
                if c is None:
                    continue
                if key and key in existing:
                    prior = existing[key]
                    if prior.content_digest != c.digest:
                        problems.append(problem(label, _("idempotency_key"),
                                                lazy_format(_("the same content as %(label)s"), label=prior.label()),
                                                _("different content under the same key")))
                    result.append(prior)
                    continue
                if key and key in seen_keys:
                    if seen_keys[key].digest != c.digest:
                        problems.append(problem(label, _("idempotency_key"), _("a key used once in the batch"),
                                                lazy_format(_("also used by %(label)s with other content"),
                                                            label=seen_keys[key].label)))
                    result.append(seen_keys[key])
                    continue
                if key:
                    seen_keys[key] = c
                c.made_by_id, c.reviewed_by_id = made_by_id, reviewed_by_id
                items.append(c)
                result.append(c)
                fresh.append(c)
            if fresh and not problems:
                if writing is None:
                    # Everything the call reads is read now: from here the writer's thread holds the connection.
                    writing = _NewVouchers(
                        book, source, years={d.year for d in dates},
                        period_ids={p.id for p in map(context.periods.get, {(d.year, d.month) for d in dates}) if p},
                        count=len(entries) - len(existing), threaded=len(chunks) > 1)
                writing.add(fresh)
        if problems:
            raise Refused(problems)
        posted = {id(c): e for c, e in writing.finish()} if writing is not None else {}
    finally:
        if writing is not None:
            writing.close()
    if posted:
        _post_finish(book, [c for c, _e in writing.written])
        new = [posted[id(c)] for c in items]
        # One event a batch, not one an entry: an import of 100,000 vouchers is one act.
        audit_record(action="entry_posted" if len(new) == 1 else "entries_posted", actor=reviewed_by,
                     obj=new[0] if len(new) == 1 else None, book=book,
                     detail={"entries": len(new), "source": source, "first": new[0].voucher, "last": new[-1].voucher,
                             "made_by": _username(made_by)})
    return [posted.get(id(r), r) if isinstance(r, _Checked) else r for r in result]


def entry_post(
    *, book: Book, date: date, lines: Sequence[Line], memo: str, idempotency_key: str | None = None,
    source: str = "manual", made_by=None, reviewed_by=None,
) -> JournalEntry:
    """Post one entry at once (imports and services); refused whole when anything is wrong."""
    spec = EntrySpec(date=date, lines=lines, memo=memo, idempotency_key=idempotency_key)
    return entries_post_many(book=book, entries=[spec], source=source, made_by=made_by, reviewed_by=reviewed_by)[0]


# -- drafts and review (制单 → 审核) -------------------------------------------------

# Drafts a document owns change only through that document (a transfer's half, a claims batch …);
# these sources are the voucher's own: typed in the admin, a reversal, a year-end closing entry.
OWN_SOURCES = ("manual", "reversal", "year-end close")


def _outside_scope(book: Book, label: str, **people) -> list[dict]:
    """A preparer or reviewer whose scope does not hold the book (access.scope) may not sign in it."""
    problems = []
    for field_name, value in people.items():
        who = person_of(value)
        if who is not None and not in_scope(who, book):
            problems.append(problem(label, {"made_by": _("made_by"), "reviewed_by": _("reviewed_by")}.get(field_name, field_name),
                                    lazy_format(_("someone who keeps book %(code)s (in their scope)"), code=book.code),
                                    who.get_username()))
    return problems


def _username(value) -> str:
    who = person_of(value)
    return who.get_username() if who is not None else ""


def _spec_of_draft(entry: JournalEntry) -> EntrySpec:
    lines = [
        Line(account=p.account.code, debit=p.debit, credit=p.credit, memo=p.memo, counterparty=p.counterparty)
        for p in entry.postings.select_related("account").order_by("line")
    ]
    return EntrySpec(date=entry.date, lines=lines, memo=entry.memo, idempotency_key=entry.idempotency_key)


def _draft_locked(entry: JournalEntry, label: str) -> JournalEntry:
    """The draft under a row lock, so a maker's edit and a reviewer's posting never cross."""
    locked = JournalEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if locked is None:
        raise Refused([problem(label, _("entry"), _("a draft that still exists"), _("deleted meanwhile"))])
    if locked.status != JournalEntry.Status.DRAFT:
        raise Refused([problem(locked.label(), _("status"), _("a draft"), _("posted meanwhile: reverse it instead"))])
    return locked


@transaction.atomic
def entry_draft_save(
    *, book: Book, date: date, lines: Sequence[Line], memo: str, made_by=None, entry: JournalEntry | None = None,
    source: str = "manual", idempotency_key: str | None = None, reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Save a draft for review. It may be unbalanced while it is being prepared; posting checks all.

    A new draft needs its maker (制单), a named person; an existing one is changed only while it
    is a draft, only by its maker, and only if it is the voucher's own (not a document's half).
    """
    problems = []
    label = lazy_format(_("draft «%(memo)s»"), memo=memo)
    if entry is not None:
        _lock_book(book)  # book, then entry: the order posting takes them in, so the two never deadlock
        entry = _draft_locked(entry, label)
        who = person_of(made_by) if made_by is not None else None
        if who is not None and who.pk != entry.made_by_id:
            problems.append(problem(entry.label(), _("made_by"), _("the draft's own maker (制单)"), who.get_username()))
        if entry.source not in OWN_SOURCES and entry.source != source:
            problems.append(problem(entry.label(), _("source"), _("a voucher typed in the books"), lazy_format(
                _("part of a document (%(source)s): change it there"), source=source_label(entry.source))))
    else:
        problems += signer_problems(label, made_by=made_by, need_reviewer=False)
        problems += _outside_scope(book, label, made_by=made_by)
    context = _BookContext(book, [date])
    period = context.periods.get((date.year, date.month)) if isinstance(date, date_type) else None
    if period is None or period.status != Period.Status.OPEN:
        problems.append(problem(label, _("date"), _("a date in an open period"), date))
    rows = []
    for n, ln in enumerate(lines, start=1):
        acc_id = context.accounts.get(ln.account)
        if acc_id is None or acc_id in context.non_leaf:
            problems.append(problem(label, lazy_format(_("line %(n)s account"), n=n),
                                    lazy_format(_("a leaf account of book %(code)s"), code=book.code), ln.account))
        dr = context._amount(ln.debit, label, lazy_format(_("line %(n)s debit"), n=n), problems)
        cr = context._amount(ln.credit, label, lazy_format(_("line %(n)s credit"), n=n), problems)
        if dr and cr:
            problems.append(problem(label, lazy_format(_("line %(n)s"), n=n), _("a debit or a credit, not both"), _("both")))
        if dr is not None and cr is not None and not dr and not cr:
            problems.append(problem(label, lazy_format(_("line %(n)s"), n=n), _("a debit or a credit above zero"), _("neither")))
        rows.append((acc_id, dr, cr, ln))
    if _has_nul(memo) or _has_nul(idempotency_key) or any(_has_nul(ln.memo) or _has_nul(ln.counterparty) for ln in lines):
        _nul_problems(label, problems, memo=memo, key=idempotency_key, lines=lines)
    if problems:
        raise Refused(problems)
    if entry is None:
        entry = JournalEntry(book=book, made_by=person_of(made_by), source=source, idempotency_key=idempotency_key,
                             reverses=reverses)
    entry.period, entry.date, entry.fiscal_year, entry.memo = period, date, date.year, memo
    entry.content_digest = chain.content_digest(
        entry_date=date, memo=memo,
        lines=[chain.LineContent(ln.account, dr, cr, ln.memo, ln.counterparty) for _, dr, cr, ln in rows],
    )
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError as exc:  # a key or a reversal another request took a moment ago
        raise Refused([problem(label, _("entry"), _("a document drafted once"),
                               lazy_format(_("already drafted (%(why)s)"), why=exc))]) from None
    entry.postings.all().delete()
    _postings_insert([
        (entry.pk, book.pk, n, acc_id, dr, cr, ln.memo or "", ln.counterparty or "")
        for n, (acc_id, dr, cr, ln) in enumerate(rows, start=1)
    ])
    audit_record(action="draft_saved", actor=entry.made_by, obj=entry,
                 detail={"lines": len(rows), "date": date.isoformat(), "source": source})
    return entry


@transaction.atomic
def entry_draft_post(*, entry: JournalEntry, reviewed_by) -> JournalEntry:
    """The reviewer (审核) posts a draft; never the person who made it, and both are named people."""
    book = _lock_book(entry.book)
    entry = JournalEntry.objects.select_for_update().filter(pk=entry.pk).first() or entry
    if entry.status == JournalEntry.Status.POSTED:
        raise Refused([problem(entry.label(), _("status"), _("a draft awaiting review"), _("already posted"))])
    if not JournalEntry.objects.filter(pk=entry.pk).exists():
        raise Refused([problem(entry.label(), _("entry"), _("a draft that still exists"), _("deleted meanwhile"))])
    problems = signer_problems(entry.label(), made_by=entry.made_by_id, reviewed_by=reviewed_by)
    problems += _outside_scope(book, entry.label(), reviewed_by=reviewed_by)
    spec = _spec_of_draft(entry)
    c = _BookContext(book, [spec.date]).check(spec, entry.label(), problems)
    if problems:
        raise Refused(problems)
    c.draft, c.made_by_id, c.reviewed_by_id = entry, entry.made_by_id, getattr(reviewed_by, "pk", reviewed_by)
    c.reverses = entry.reverses
    posted = _drafts_post(book, [c], entry.source)[0]
    audit_record(action="entry_posted", actor=reviewed_by, obj=posted,
                 detail={"voucher": posted.voucher, "made_by": _username(entry.made_by_id)})
    return posted


@transaction.atomic
def entry_draft_delete(*, entry: JournalEntry, by) -> None:
    """Withdraw a voucher draft: its maker's or an administrator's act, recorded in the audit trail.

    A draft that is half of a document (a transfer, a claims batch …) goes with its document.
    """
    who = person_of(by)
    entry = _draft_locked(entry, f"draft #{entry.pk}")
    problems = []
    if who is None or not (who.pk == entry.made_by_id or is_administrator(who)):
        problems.append(problem(entry.label(), _("by"), _("the draft's maker (制单) or an administrator"),
                                who.get_username() if who is not None else "nobody"))
    if entry.source not in OWN_SOURCES:
        problems.append(problem(entry.label(), _("source"), _("a voucher typed in the books"), lazy_format(
            _("part of a document (%(source)s): withdraw the document"), source=source_label(entry.source))))
    if problems:
        raise Refused(problems)
    detail = {"memo": entry.memo, "date": entry.date.isoformat(), "source": entry.source,
              "lines": [[p.account.code, str(p.debit.amount), str(p.credit.amount)]
                        for p in entry.postings.select_related("account").order_by("line")]}
    audit_record(action="deleted", actor=who, obj=entry, book=entry.book, detail=detail)
    entry.postings.all().delete()
    entry.delete()


# -- corrections -------------------------------------------------------------------


@transaction.atomic
def entry_reverse(*, entry: JournalEntry, date: date | None = None, memo: str | None = None,
                  made_by=None) -> JournalEntry:
    """Prepare the reversal (红字冲销) of a posted entry: the same lines on the opposite sides, linked
    to the original, as a draft that a reviewer other than its maker posts (entry_draft_post).

    Preparing it again returns the same reversal, drafted or posted; a reversal is never reversed.
    """
    original = JournalEntry.objects.select_for_update(of=("self",)).select_related("book").get(pk=entry.pk)
    label = original.label()
    if original.status != JournalEntry.Status.POSTED:
        raise Refused([problem(label, _("status"), _("a posted entry"), _("a draft: edit or delete it instead"))])
    if original.reverses_id is not None:
        raise Refused([problem(label, _("entry"), _("an entry that is not itself a reversal"),
                                     _("a reversal: post a new entry instead"))])
    existing = JournalEntry.objects.filter(reverses=original).first()
    if existing is not None:
        return existing
    when = date or original.date
    lines = [
        Line(account=p.account.code, debit=p.credit, credit=p.debit, memo=p.memo, counterparty=p.counterparty)
        for p in original.postings.select_related("account").order_by("line")
    ]
    reversal = entry_draft_save(book=original.book, date=when, lines=lines, made_by=made_by,
                                memo=memo or f"冲销 {original.voucher} {original.memo}"[:500], source="reversal",
                                idempotency_key=f"reversal:{original.pk}", reverses=original)
    audit_record(action="entry_reversed", actor=made_by, obj=original,
                 detail={"voucher": original.voucher, "reversal_draft": reversal.pk})
    return reversal
