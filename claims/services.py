"""Writes for claims: import a file, recompute what the policy pays, post a month into the insurer's book."""

import contextlib
import hashlib
import math
import operator
import re
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import islice, repeat
from operator import itemgetter
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.roles import is_administrator
from accounts.models import Book
from audit.services import audit_record
from contracts.models import Contract, ContractYear
from core.bulk import (
    Writer,
    collector_paused,
    ids_reserve,
    last_id,
    page_cache_held,
    prepared_write,
    rows_copy,
    rows_insert,
    rows_prepare,
)
from core.errors import Refused, lazy_format, problem
from core.people import person_of, signer_problems
from core.tables import iter_table
from core.values import BadValue, amount, date_value
from ledger.services import EntrySpec, Line, entries_post_many, fiscal_year_open

from .advances import PAYABLE as ADVANCE_PAYABLE
from .advances import payable_account_ensure
from .deadlines import ClaimDue
from .identity import Pseudonymizer, id_problem, mask
from .models import Claim, ClaimBatch, ClaimSummary, Hospital
from .policies import policy_get, policy_groups_get
from .rules import GROUPS

# Accepted headers, English or Chinese, in this order.
COLUMNS = (
    ("claim_no", "赔案号"), ("id_number", "身份证号"), ("group", "人群"), ("admitted_on", "入院日期"),
    ("discharged_on", "出院日期"), ("settled_on", "结算日期"), ("hospital_code", "医院编码"),
    ("hospital_name", "医院名称"), ("oop", "政策范围内个人自付"), ("paid", "保险公司支付"), ("channel", "结算方式"),
)
# Optional last column: when the insurer received the materials; its due date follows the policy's time limit.
RECEIVED_COLUMN = ("materials_received_on", "收到资料日期")
CHANNELS = {"direct": "direct", "直接结算": "direct", "即时结算": "direct", "manual": "manual",
            "手工报销": "manual", "advance": "advance", "垫付还款": "advance"}
GROUP_NAMES = {**{g: g for g in GROUPS}, **{v: k for k, v in GROUPS.items()}}
CHUNK = 20000
FAST_ROWS = 2000  # rows read before they are checked a column at a time (claims_import's _chunk_fast)
COLUMNS_AT_ONCE = True  # False: every row checked one by one (the tests compare the two)
# Longer values would be refused by PostgreSQL mid-insert (SQLite would store them): refuse them by row.
CLAIM_NO_MAX = Claim._meta.get_field("claim_no").max_length
HOSPITAL_CODE_MAX = Hospital._meta.get_field("code").max_length
HOSPITAL_NAME_MAX = Hospital._meta.get_field("name").max_length
MAX_PROBLEMS = 500
IMPORT_CACHE_KIB = 32768
PROGRESS_ROWS = 1000  # how often a caller's progress callback hears of the rows read


@dataclass
class ImportResult:
    batch: ClaimBatch | None = None
    rows: int = 0
    created: int = 0
    oop_total: Decimal = Decimal(0)
    paid_total: Decimal = Decimal(0)
    problems: list = field(default_factory=list)
    problem_count: int = 0
    # The contract years the batch's claims are in (ids): the years the recomputation that follows replays.
    years: list = field(default_factory=list)
    # What the import worked out for good (FinalFigures), for the recomputation that follows it.
    final: "FinalFigures | None" = None


@dataclass(frozen=True)
class FinalFigures:
    """The contract years whose claims in this batch the import gave their replay's figures, and what that
    rests on: the contract's other batches as they were when the import read the year, and the rules used.

    claims_recompute(imported=…) replays none of those years while both still hold (checked under the
    year's lock): the replay would only write the same figures again (2.5–3.7 s at a million claims)."""

    batch_id: int
    years: dict  # contract year id → claims of the batch in it
    others: frozenset  # the contract's other batches' ids
    rules: dict  # (contract year id, group) → the rule in fen


# An import this large brings the planner's statistics up to date before the recomputation that follows.
ANALYZE_ROWS = 10_000


def _fen(text: str) -> int:
    """A claim's amount in fen; BadValue unless plain digits ≥ 0 within the per-claim limit."""
    return int(amount(text, limit=settings.CLAIM_AMOUNT_LIMIT, limit_name="CLAIM_AMOUNT_LIMIT") * 100)


def _date(text: str) -> date:
    return date_value(text)


# A plain figure with two decimals, as claims files write them: read straight to fen (anything else, or a
# figure above the limit, goes through amount() for the full check and its message).
_PLAIN_FEN = re.compile(r"[0-9]{1,13}\.[0-9]{2}")
# A column of plain amounts joined by line breaks, each followed by one: tested in one call, not one a cell.
_PLAIN_FEN_LINES = re.compile(f"(?:{_PLAIN_FEN.pattern}\n)*")
# A control character (NUL, a bell, an escape …) in a text cell: PostgreSQL refuses a NUL in any text (the
# import then stopped with the driver's error, naming no row), and none belongs in a number or a name.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _controls_shown(text: str) -> str:
    """The text as a problem shows it: each control character written as \\xNN, the rest as it is."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _Cells:
    """Per-file caches of the cells that repeat: a file has a few hundred dates and one ID number per
    person for several claims, so each is checked (and pseudonymised) once, not on every row."""

    LIMIT = 100_000  # entries kept, so that a file of a million persons does not grow memory without end

    def __init__(self, problems: "_Problems"):
        self.problems, self.dates, self.ids, self.pseudonym, self.born = problems, {}, {}, Pseudonymizer(), {}
        self.limit_fen = int(settings.CLAIM_AMOUNT_LIMIT * 100)

    def date(self, n: int, field_name, text: str):
        """(date, as the database takes it) or None with the problem noted."""
        hit = self.dates.get(text)
        if hit is None:
            value = _read(self.problems, n, field_name, _date, text)
            if value is None:
                return None
            hit = self._date_kept(text, value)
        return hit

    def _date_kept(self, text: str, value: date) -> tuple:
        if len(self.dates) >= self.LIMIT:
            self.dates.clear()
        hit = self.dates[text] = (value, connection.ops.adapt_datefield_value(value))
        return hit

    def _pseudonym_kept(self, idno: str) -> str:
        if len(self.ids) >= self.LIMIT:
            self.ids.clear()
            self.born.clear()
        hit = self.ids[idno] = self.pseudonym(idno)
        return hit

    def fen(self, n: int, field_name, text: str):
        if _PLAIN_FEN.fullmatch(text):
            fen = int(text.replace(".", ""))
            if fen <= self.limit_fen:
                return fen
        return _read(self.problems, n, field_name, _fen, text)

    def dates_of(self, *columns) -> dict | None:
        """Each distinct date text of these columns → (date, as the database takes it); None if one is not a
        date (nothing noted: the rows are then checked one by one, and that names it)."""
        found = {}
        for text in set().union(*columns):
            hit = self.dates.get(text)
            if hit is None:
                try:
                    value = _date(text)
                except BadValue:
                    return None
                hit = self._date_kept(text, value)
            found[text] = hit
        return found

    def persons_of(self, idnos) -> dict | None:
        """Each distinct ID number → its pseudonym; None if one is not valid (nothing noted, as dates_of)."""
        found = {}
        for idno in set(idnos):
            hit = self.ids.get(idno)
            if hit is None:
                if id_problem(idno, self.born):
                    return None
                hit = self._pseudonym_kept(idno)
            found[idno] = hit
        return found

    def person(self, n: int, idno: str):
        """The pseudonym of a valid ID number, or None with the problem noted (the number masked)."""
        hit = self.ids.get(idno)
        if hit is None:
            bad = id_problem(idno, self.born)
            if bad:
                self.problems.add(n, F_ID_NUMBER, bad, mask(idno))
                return None
            hit = self._pseudonym_kept(idno)
        return hit


# Field names as problems report them: made once, not per row.
F_ID_NUMBER, F_GROUP, F_ADMITTED, F_DISCHARGED, F_SETTLED = (
    _("id_number"), _("group"), _("admitted_on"), _("discharged_on"), _("settled_on"))
F_OOP, F_PAID, F_CHANNEL, F_CLAIM_NO, F_RECEIVED = (
    _("oop"), _("paid"), _("channel"), _("claim_no"), _("materials_received_on"))
F_HOSPITAL_CODE, F_HOSPITAL_NAME = _("hospital_code"), _("hospital_name")
TAKEN = _("a claim number not already in the books")
NO_CONTROL = _("text without control characters")


def _plain_fen_column(texts) -> list[int] | None:
    """Each text of a column of plain amounts ("1234.56") in fen; None if one is not such an amount."""
    joined = "\n".join(texts) + "\n"
    if not _PLAIN_FEN_LINES.fullmatch(joined):
        return None
    fen = list(map(int, joined.replace(".", "").split("\n")[:-1]))
    # A cell holding a line break between two amounts ("1.00\n2.00", quoted in the CSV) read as two.
    return fen if len(fen) == len(texts) else None


def _read(problems: "_Problems", row: int, field_name: str, parse, text: str):
    """The parsed cell, or None with the problem noted (row, field, what was expected, what was found)."""
    try:
        return parse(text)
    except BadValue as exc:
        problems.add(row, field_name, exc.expected, exc.found)
        return None


def _rows_matching(sql: str, params: list, values: list) -> list[tuple]:
    """The rows of `sql`, whose `{match}` stands for "is one of `values`": one array parameter on PostgreSQL
    (20,000 placeholders cost more to build and to plan than the lookup itself), lists of 2,000 on SQLite
    (it takes at most 32,766 parameters a statement)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql.format(match="= ANY(%s)"), [*params, list(values)])
            return cursor.fetchall()
        rows = []
        for i in range(0, len(values), 2000):
            part = values[i:i + 2000]
            cursor.execute(sql.format(match=f"IN ({', '.join(['%s'] * len(part))})"), [*params, *part])
            rows += cursor.fetchall()
        return rows


def _taken(book_id: int, numbers: list[str], *, after_id: int | None = None) -> set[str]:
    """Which of these claim numbers the book already holds (in rows of id at most `after_id`, if given)."""
    older = "" if after_id is None else f" AND id <= {int(after_id)}"
    return {r[0] for r in _rows_matching(
        f"SELECT claim_no FROM {Claim._meta.db_table} WHERE book_id = %s{older} AND claim_no {{match}}", [book_id],
        numbers)}


class _Problems:
    def __init__(self):
        self.items, self.count = [], 0

    def add(self, row: int, field_name, expected, found) -> None:
        self.count += 1
        if len(self.items) < MAX_PROBLEMS:
            p = problem(lazy_format(_("row %(n)s"), n=row), field_name, expected, found)
            p["row"] = row
            self.items.append(p)


def _years(contract: Contract) -> dict[int, ContractYear]:
    return {cy.year: cy for cy in contract.years.all()}


def _closed_months(years_by_fund: dict) -> dict[int, set]:
    """For each contract year, the (year, month) periods of its insurer's book that no longer take entries."""
    from ledger.models import Period

    by_book = defaultdict(set)
    books = {cy.pk: Book.objects.filter(insurer_id=cy.contract.insurer_id).values_list("pk", flat=True).first()
             for cy in years_by_fund.values()}
    for book_id, y, m in Period.objects.filter(book__in=set(books.values())).exclude(
            status=Period.Status.OPEN).values_list("book", "year", "month"):
        by_book[book_id].add((y, m))
    return {cy_id: by_book.get(book_id, set()) for cy_id, book_id in books.items()}


def _charged_to(cy: ContractYear, settled_on: date, years_by_fund: dict) -> int | None:
    """Claims of year Y settled after Y's cut-off count in Y+1 (the successor's year if the insurer changed)."""
    if settled_on <= cy.cutoff:
        return cy.id
    following = years_by_fund.get(cy.year + 1)
    return following.pk if following is not None else None


@transaction.atomic
def claims_import(*, path: Path, contract: Contract, by, dry_run: bool = False, progress=None) -> ImportResult:
    """Import a claims file for the insurer's book: every row checked, the whole file or nothing.

    ID numbers are checked (18 characters, GB 11643 check character, a real birth date)
    and kept only as keyed pseudonyms. The batch is prepared by `by`, a named person; it puts
    money into the book only when a reviewer other than them posts it (claims_post). A claim
    whose month could no longer be posted (a closed period) refuses the file. The same file
    again imports nothing. `progress(rows)`, if given, is told the rows read every PROGRESS_ROWS rows.
    """
    if not dry_run:
        signers = signer_problems(lazy_format(_("claims file %(file)s"), file=Path(path).name), made_by=by,
                                  need_reviewer=False)
        if signers:
            raise Refused(signers)
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    sha = digest.hexdigest()
    result = ImportResult()
    existing = ClaimBatch.objects.filter(contract=contract, file_sha256=sha).first()
    if existing is not None:
        result.batch, result.rows = existing, existing.rows
        result.oop_total, result.paid_total = existing.oop_total.amount, existing.paid_total.amount
        result.years = list(ContractYear.objects.filter(claims__batch=existing).distinct().order_by("year")
                            .values_list("pk", flat=True))
        return result
    books = list(Book.objects.filter(insurer=contract.insurer))
    if len(books) != 1:
        raise Refused([problem(lazy_format(_("contract %(code)s"), code=contract.code), _("insurer book"),
                               _("exactly one book of the insurer"),
                               len(books))])
    book = books[0]
    years = _years(contract)
    years_by_fund = {cy.year: cy for cy in ContractYear.objects.filter(contract__fund=contract.fund)}
    hospitals = dict(Hospital.objects.values_list("code", "id"))
    problems = _Problems()
    cells_cache = _Cells(problems)
    batch = None if dry_run else ClaimBatch.objects.create(
        contract=contract, book=book, file_name=path.name, file_sha256=sha, rows=0, oop_total=0, paid_total=0,
        prepared_by=person_of(by))
    closed = _closed_months(years_by_fund)
    any_closed = any(closed.values())
    batch_id = batch.pk if batch else None
    pending, seen = [], set()
    oop_total = paid_total = 0
    rows = iter_table(path)
    header_row, header = next(rows, (1, []))
    with_received = len(header) == len(COLUMNS) + 1 and header[-1].strip().lower() in RECEIVED_COLUMN
    width = len(COLUMNS) + with_received
    claim_due = ClaimDue()
    if [h.strip().lower() for h in header[:len(COLUMNS)]] not in (
            [c[0] for c in COLUMNS], [c[1] for c in COLUMNS]) or len(header) != width:
        problems.add(header_row, _("header"), lazy_format(_("%(columns)s (or the Chinese names)"),
                                                          columns=", ".join(c[0] for c in COLUMNS)),
                     ", ".join(header))
        raise Refused(problems.items)

    pending_rows = []
    person_index = _PersonIndexDeferred(path)
    expected = _ExpectedOnImport(years, contract=contract, batch=batch, person_index=person_index)
    summaries = _Summaries(batch)
    summary_ids = summaries.ids  # a row whose summary is known carries its id from the start

    # Columns every row of this file holds alike, by how rows are made (both row_check and _chunk_fast): the
    # batch and the book, and, without a received-date column, no received date and so no due date.
    same_in_every_row = {"batch_id": batch_id, "book_id": book.pk}
    if not with_received:
        same_in_every_row.update(materials_received_on=None, due_on=None)
    writer = _ClaimsWriter(book.pk, problems, fixed=same_in_every_row)

    def flush():
        """Write a chunk (its claim numbers are checked by the book's unique index as it is written), or, once
        the file is refused or on a dry run, look its numbers up in the book so that every one taken is named."""
        if not pending:
            return
        figured = summarised = False
        if not problems.count and batch is not None:
            # Worked out while the writer still writes the chunk before, where that needs the connection neither
            # to read (a year's first file) nor to write (no summary new to the chunk): done after settle(), the
            # writer had nothing to do meanwhile, 50 ms a chunk.
            figured = expected.fill(pending, reads=False)
            summarised = figured and summaries.fill(pending, writes=False)
        writer.settle()  # the chunk before is in the table (or refused, its taken numbers named)
        written = not problems.count and batch is not None
        if written:
            if not figured:
                expected.fill(pending)
            if not summarised:
                summaries.fill(pending)
            # A full chunk is written while the next one is read and checked; the last one at once.
            full = len(pending) >= CHUNK
            if full:
                person_index.defer()
            writer.submit(pending, pending_rows, threaded=full)
        else:
            taken = _taken(book.pk, [r[3] for r in pending])
            for r, n in zip(pending, pending_rows, strict=True):
                if r[3] in taken:
                    problems.add(n, F_CLAIM_NO, TAKEN, r[3])
        pending.clear()
        pending_rows.clear()
        if written:
            seen.clear()  # earlier chunks are in the table now, and its unique index finds them

    # The rows read are lists that live a chunk: each chunk promoted some to the oldest generation, and every
    # few chunks set off a collection of the whole process's heap (core.bulk.collector_paused says more).
    paused = contextlib.ExitStack()
    paused.enter_context(collector_paused())
    # SQLite: the import's pages cached in 32 MB, not the connection's 64: a million claims took no longer and
    # the import's peak fell by 37 MB (pages written spill to the write-ahead log either way).
    paused.enter_context(page_cache_held(IMPORT_CACHE_KIB))
    try:
        ops = connection.ops
        paid_groups = {}  # contract year → the groups its policy pays (listed, or mapped by the document)
        years_by_id = {cy.id: cy for cy in years.values()}

        def row_check(n: int, cells: list) -> None:
            """One row checked, each problem of it noted by row and field; made pending if the file has none."""
            nonlocal oop_total, paid_total
            if len(cells) > width or len(cells) < len(COLUMNS) - 1:
                problems.add(n, _("columns"), lazy_format(_("%(n)s columns"), n=width), len(cells))
                return
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            claim_no, idno, group, adm, dis, settled, h_code, h_name, oop_t, paid_t, channel_t = cells[:len(COLUMNS)]
            received_t = cells[len(COLUMNS)].strip() if with_received else ""
            received = cells_cache.date(n, F_RECEIVED, received_t) if received_t else None
            person = cells_cache.person(n, idno)
            group_code = GROUP_NAMES.get(group)
            if group_code is None:
                problems.add(n, F_GROUP, _("a group code or name (general, dibao, 低保对象 …)"), group)
            admitted = cells_cache.date(n, F_ADMITTED, adm)
            discharged = cells_cache.date(n, F_DISCHARGED, dis)
            settled = cells_cache.date(n, F_SETTLED, settled)
            admitted, admitted_db = admitted or (None, None)
            discharged, discharged_db = discharged or (None, None)
            settled_on, settled_db = settled or (None, None)
            received, received_db = received or (None, None)
            if admitted and discharged and discharged < admitted:
                problems.add(n, F_DISCHARGED, lazy_format(_("on or after admission %(date)s"), date=admitted),
                             discharged)
            if discharged and settled_on and settled_on < discharged:
                problems.add(n, F_SETTLED, lazy_format(_("on or after discharge %(date)s"), date=discharged),
                             settled_on)
            oop, paid = cells_cache.fen(n, F_OOP, oop_t), cells_cache.fen(n, F_PAID, paid_t)
            channel = CHANNELS.get(channel_t)
            if channel is None:
                problems.add(n, F_CHANNEL, _("direct / manual / advance (直接结算 / 手工报销 / 垫付还款)"), channel_t)
            if not claim_no:
                problems.add(n, F_CLAIM_NO, _("a claim number"), _("(empty)"))
            elif len(claim_no) > CLAIM_NO_MAX:
                problems.add(n, F_CLAIM_NO, lazy_format(_("at most %(n)s characters"), n=CLAIM_NO_MAX), claim_no)
            elif claim_no in seen:
                problems.add(n, F_CLAIM_NO, _("each claim number once in the file"), claim_no)
            elif _CONTROL.search(claim_no):
                problems.add(n, F_CLAIM_NO, NO_CONTROL, _controls_shown(claim_no))
            seen.add(claim_no)
            if not h_code or not h_code.replace("-", "").isalnum():
                problems.add(n, F_HOSPITAL_CODE, _("letters and digits (定点医疗机构编码)"), h_code or _("(empty)"))
            elif len(h_code) > HOSPITAL_CODE_MAX:
                problems.add(n, F_HOSPITAL_CODE, lazy_format(_("at most %(n)s characters"), n=HOSPITAL_CODE_MAX),
                             h_code)
            if len(h_name) > HOSPITAL_NAME_MAX:
                problems.add(n, F_HOSPITAL_NAME, lazy_format(_("at most %(n)s characters"), n=HOSPITAL_NAME_MAX),
                             h_name)
            elif _CONTROL.search(h_name):
                problems.add(n, F_HOSPITAL_NAME, NO_CONTROL, _controls_shown(h_name))
            cy = years.get(discharged.year) if discharged else None
            if discharged and cy is None:
                problems.add(n, F_DISCHARGED, lazy_format(_("a date in a year of contract %(code)s (%(years)s)"),
                                                          code=contract.code,
                                                          years=", ".join(str(y) for y in sorted(years))),
                             discharged)
            if cy is not None and group_code is not None and cy.benefit_policy:
                # .id, not .pk: the property's lookup, a million times, took half a second.
                if cy.id not in paid_groups:
                    writer.settle()  # a read: the connection is the writer's while a chunk is in flight
                    paid_groups[cy.id] = policy_groups_get(code=cy.benefit_policy)
                if group_code not in paid_groups[cy.id]:
                    problems.add(n, F_GROUP, lazy_format(_("a group policy %(code)s pays: %(names)s"),
                                                         code=cy.benefit_policy, names=", ".join(paid_groups[cy.id])),
                                 group)
            due = None
            if received is not None and cy is not None and channel is not None:
                if not claim_due.ready(policy=cy.benefit_policy, channel=channel):
                    writer.settle()  # its limits and calendar are read once, not while a chunk is written
                try:
                    due = claim_due(policy=cy.benefit_policy, channel=channel, received_on=received)
                except Refused as exc:  # a date outside the working-day calendar: refused, never guessed
                    for p in exc.problems:
                        problems.add(n, F_RECEIVED, p.parts[2], received)
            if problems.count:
                return  # keep checking the rest, write nothing
            hospital_id = hospitals.get(h_code, 0)
            if hospital_id == 0 and not dry_run:
                writer.settle()  # a hospital new to the books is written on this connection, not beside the writer
                if problems.count:
                    return
            if hospital_id == 0:
                # A dry run writes nothing: a hospital new to the books is only noted here.
                hospital_id = hospitals[h_code] = None if dry_run else Hospital.objects.get_or_create(
                    code=h_code, defaults={"name": h_name or h_code})[0].pk
            charged_id = _charged_to(cy, settled_on, years_by_fund)
            if any_closed and (settled_on.year, settled_on.month) in closed.get(charged_id or cy.id, ()):
                # Caught here, not at posting: a file that could never be posted is refused whole.
                problems.add(n, F_SETTLED, _("a month still open in the insurer's book"),
                             lazy_format(_("%(date)s (period closed)"), date=settled_on))
                return
            oop_total += oop
            paid_total += paid
            summary = (charged_id or cy.id, settled_on.year, settled_on.month, hospital_id, channel)
            pending.append([batch_id, book.id, cy.id, claim_no, person, group_code, admitted_db, discharged_db,
                            settled_db, hospital_id, oop, paid, channel, charged_id, received_db,
                            None if due is None else ops.adapt_datefield_value(due),
                            summary_ids.get(summary, summary), None])
            pending_rows.append(n)
            if len(pending) >= CHUNK:
                flush()

        def _chunk_fast(raw: list) -> bool:
            """The rows of `raw` checked a column at a time and made pending: each distinct date, ID number,
            hospital and (year, group) checked once, each column's test run in C over the whole column (row by
            row, the checks were half of a million-claim import's Python). Only for a file being written with
            no problem so far, whose cells are all as such files have them; otherwise False, nothing written,
            no problem noted, and the rows are checked one by one (row_check), which names each problem by row
            and field. Either way a row's claim is the same."""
            nonlocal oop_total, paid_total
            if not raw or not COLUMNS_AT_ONCE or with_received or problems.count or batch is None:
                return False
            block = list(map(_SECOND, raw))
            if set(map(len, block)) != {width}:
                return False
            (claim_nos, idnos, groups, adms, diss, settleds, h_codes, h_names, oops_t, paids_t,
             channels_t) = zip(*block, strict=True)
            group_codes, channels = list(map(GROUP_NAMES.get, groups)), list(map(CHANNELS.get, channels_t))
            if None in group_codes or None in channels:
                return False
            numbers = set(claim_nos)
            if (not all(claim_nos) or max(map(len, claim_nos)) > CLAIM_NO_MAX or len(numbers) != len(claim_nos)
                    or not numbers.isdisjoint(seen) or _CONTROL.search("".join(numbers))):
                return False
            for code in set(h_codes):
                if not code or not code.replace("-", "").isalnum() or len(code) > HOSPITAL_CODE_MAX:
                    return False
            for name in set(h_names):
                if len(name) > HOSPITAL_NAME_MAX or _CONTROL.search(name):
                    return False
            oops, paids = _plain_fen_column(oops_t), _plain_fen_column(paids_t)
            if oops is None or paids is None:
                return False
            if max(oops) > cells_cache.limit_fen or max(paids) > cells_cache.limit_fen:
                return False
            persons = cells_cache.persons_of(idnos)
            dates = cells_cache.dates_of(adms, diss, settleds)
            if persons is None or dates is None:
                return False
            (adm_v, adm_db), (dis_v, dis_db), (set_v, set_db) = (
                zip(*map(dates.__getitem__, column), strict=True) for column in (adms, diss, settleds))
            if any(map(operator.lt, dis_v, adm_v)) or any(map(operator.lt, set_v, dis_v)):
                return False
            year_ids = {}  # discharge date → its contract year's id
            for value in set(dis_v):
                cy = years.get(value.year)
                if cy is None:
                    return False
                year_ids[value] = cy.id
            cy_ids = list(map(year_ids.__getitem__, dis_v))
            for cy_id, code in set(zip(cy_ids, group_codes, strict=True)):
                policy = years_by_id[cy_id].benefit_policy
                if policy:
                    if cy_id not in paid_groups:
                        writer.settle()  # a read: the connection is the writer's while a chunk is in flight
                        if problems.count:  # the chunk in flight held a taken number: row by row from here
                            return False
                        paid_groups[cy_id] = policy_groups_get(code=policy)
                    if code not in paid_groups[cy_id]:
                        return False
            # (contract year, settlement date text) → (year charged or None, then the summary's year, year and month)
            charged = {}
            for cy_id, text in set(zip(cy_ids, settleds, strict=True)):
                settled_on = dates[text][0]
                charged_id = _charged_to(years_by_id[cy_id], settled_on, years_by_fund)
                if any_closed and (settled_on.year, settled_on.month) in closed.get(charged_id or cy_id, ()):
                    return False
                charged[cy_id, text] = (charged_id, charged_id or cy_id, settled_on.year, settled_on.month)
            new_codes = [code for code in dict.fromkeys(h_codes) if code not in hospitals]
            if new_codes:
                writer.settle()  # a hospital new to the books is written on this connection, not beside the writer
                if problems.count:
                    return False
                names = {}
                for code, name in zip(h_codes, h_names, strict=True):
                    names.setdefault(code, name)
                for code in new_codes:
                    hospitals[code] = Hospital.objects.get_or_create(code=code, defaults={"name": names[code] or code})[0].pk
            # The rows made a column at a time: each cell found by the distinct value it was checked as.
            charged_rows = list(map(charged.__getitem__, zip(cy_ids, settleds, strict=True)))
            hospital_ids = list(map(hospitals.__getitem__, h_codes))
            charged_ids, summary_years, years_of, months_of = zip(*charged_rows, strict=True)
            keys = list(zip(summary_years, years_of, months_of, hospital_ids, channels, strict=True))
            summary_cells = list(map(summary_ids.get, keys, keys))  # a summary not made yet: its key (_Summaries.fill)
            made = list(map(list, zip(
                repeat(batch_id), repeat(book.id), cy_ids, claim_nos, map(persons.__getitem__, idnos), group_codes,
                adm_db, dis_db, set_db, hospital_ids, oops, paids, channels, charged_ids, repeat(None), repeat(None),
                summary_cells, repeat(None))))
            row_numbers = list(map(_FIRST, raw))
            start = 0
            while start < len(made):
                # Up to the chunk's end, then written: the chunks row by row would make, to the row.
                end = start + CHUNK - len(pending)
                pending.extend(made[start:end])
                pending_rows.extend(row_numbers[start:end])
                seen.update(claim_nos[start:end])
                oop_total += sum(oops[start:end])
                paid_total += sum(paids[start:end])
                start = end
                if len(pending) >= CHUNK:
                    flush()
                    if problems.count:  # a number of the chunk written was taken: the rest only row by row
                        for row in raw[end:]:
                            row_check(*row)
                        return True
            return True

        def block_check(raw: list) -> None:
            if not _chunk_fast(raw):
                for row in raw:
                    row_check(*row)

        while raw := list(islice(rows, FAST_ROWS)):  # rows read, then checked together
            before, result.rows = result.rows, result.rows + len(raw)
            if progress is not None:
                for told in range(before // PROGRESS_ROWS + 1, result.rows // PROGRESS_ROWS + 1):
                    progress(told * PROGRESS_ROWS)
            block_check(raw)
        # Written if the file has no problem; else its last rows' numbers are looked up, so that each one the
        # book already holds is named beside the problems found.
        flush()
        writer.settle()
    except BaseException:
        writer.abandon()  # the connection is the writer's until its thread is done
        raise
    finally:
        paused.close()
    if result.rows == 0:
        problems.add(header_row + 1, _("rows"), _("at least one claim"), _("none"))
    # In row order: a chunk's taken numbers are named when it has been written, after the next rows' checks.
    problems.items.sort(key=lambda p: p["row"])
    result.problems, result.problem_count = problems.items, problems.count
    result.oop_total, result.paid_total = Decimal(oop_total) / 100, Decimal(paid_total) / 100
    if problems.count:
        raise Refused(problems.items)
    if batch is not None:
        person_index.done()
        batch.rows, batch.oop_total, batch.paid_total = result.rows, result.oop_total, result.paid_total
        batch.save(update_fields=["rows", "oop_total", "paid_total"])
        if connection.vendor == "postgresql" and result.rows >= ANALYZE_ROWS:
            # The planner's statistics, brought up to the rows just written (ANALYZE counts this transaction's
            # own rows): what follows in the same transaction — the recomputation, the posting — was planned
            # for the table as it was before, as nested loops over "ten rows" (20 s for a million, not 2).
            # It holds the table's statistics lock until commit: a second large import waits there for this one.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Claim._meta.db_table}")
        result.batch, result.created = batch, result.rows
        result.final = expected.final()
        # From the rows written, not from the table: finding them there again took 0.7 s at a million claims.
        result.years = sorted(expected.counts, key={cy.id: cy.year for cy in years.values()}.get)
        audit_record(action="imported", actor=by, obj=batch, digest=sha,
                     detail={"kind": "claims", "file": path.name, "rows": result.rows, "paid": f"{result.paid_total:.2f}"})
    return result


class _Summaries:
    """The batch's claims summaries (what one voucher will carry), made as their first claim is written."""

    KEY = 16  # a pending row's summary: its id, or its key until fill() puts the id there

    def __init__(self, batch: ClaimBatch | None):
        self.batch, self.ids = batch, {}

    def fill(self, rows: list[list], *, writes: bool = True) -> bool:
        """Put the summary id in each row that still holds its summary's key (claims_import puts in the ids
        it already knows, one lookup a row); False, leaving those rows as they are, if that needs a summary
        written and `writes` is False."""
        ids, key = self.ids, self.KEY
        waiting = [r for r in rows if type(r[key]) is tuple]
        if not waiting:
            return True
        new = sorted({r[key] for r in waiting} - ids.keys())
        if new:
            if not writes:
                return False
            # Ids taken first, then one COPY (multi-row INSERT on SQLite): the ORM's bulk_create took 95 µs a
            # summary (a third of a second for a city's month-by-hospital file).
            made = ids_reserve(ClaimSummary._meta.db_table, len(new))
            rows_insert(ClaimSummary._meta.db_table,
                        ("id", "batch_id", "contract_year_id", "year", "month", "hospital_id", "channel"),
                        [(i, self.batch.pk, *k) for i, k in zip(made, new, strict=True)])
            ids.update(zip(new, made, strict=True))
        for r in waiting:
            r[key] = ids[r[key]]
        return True


_CLAIM_COLUMNS = ("batch_id", "book_id", "contract_year_id", "claim_no", "person", "group_code", "admitted_on",
                  "discharged_on", "settled_on", "hospital_id", "oop_fen", "paid_fen", "channel", "charged_to_id",
                  "materials_received_on", "due_on", "summary_id", "expected_fen")
# PostgreSQL's types of those columns, for COPY's binary format (a test compares them with the table's).
_CLAIM_TYPES = ("int8", "int8", "int8", "varchar", "varchar", "varchar", "date", "date", "date", "int8", "int8",
                "int8", "varchar", "int8", "date", "date", "int8", "int8")


class _PersonIndexDeferred:
    """SQLite: the claims' person index (claim_person_key) built after a large import's rows, not entry by entry.

    Its keys come in no order (a pseudonym's first characters), so each claim's entry went to a leaf
    anywhere in the index: 7.5 s of SQLite's work for a million claims, where building the index over the
    table afterwards took 1.0 s. So an import whose file is large beside the table (the table has ever held
    at most DEFER_FACTOR × the rows the file's size suggests) drops the index before its first full chunk and
    creates it again, with the very statement it had, before anything reads it: the out-of-pocket lookups of
    a year that held claims before the file (fill(), at once), and whatever follows the import (done()).

    In the import's transaction: a refused or interrupted import rolls the drop back with its rows, and other
    connections read the table as it was, index and all, until the import commits. PostgreSQL is left alone:
    there DROP INDEX would lock every reader of the claims out until the import commits."""

    NAME = "claim_person_key"
    DEFER_FACTOR = 4
    FILE_BYTES_PER_ROW = 100  # a claims row is 110-130 bytes in CSV: the file's rows are not overestimated much
    # The index is sorted in at most this much memory (KiB, as PRAGMA cache_size takes it), the rest in temporary
    # files: with the connection's 64 MB it held the million entries at once, 305 MB at the import's peak.
    SORT_CACHE_KIB = 8192

    def __init__(self, path: Path):
        self.file_rows = path.stat().st_size // self.FILE_BYTES_PER_ROW
        self.sql = None  # the index's CREATE statement while it is dropped
        self.finished = False  # built again: the rest of the import writes its entries as they come

    def defer(self) -> None:
        if connection.vendor != "sqlite" or self.sql is not None or self.finished:
            return
        if last_id(Claim._meta.db_table) > self.DEFER_FACTOR * self.file_rows:
            return  # rebuilding the whole table's index would cost more than the file's entries
        with connection.cursor() as cursor:
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s AND tbl_name = %s",
                           [self.NAME, Claim._meta.db_table])
            found = cursor.fetchone()
            if found is None or not found[0]:
                return
            cursor.execute(f"DROP INDEX {self.NAME}")
        self.sql = found[0]

    def done(self) -> None:
        self.finished = True
        if self.sql is not None:
            with page_cache_held(self.SORT_CACHE_KIB), connection.cursor() as cursor:
                cursor.execute(self.sql)
            self.sql = None


class _ClaimsWriter:
    """Writes an import's chunks on a thread of its own while the next chunk is read and checked
    (core.bulk.Writer): Python's reading and the database's inserting (on PostgreSQL, a dozen indexes) ran in
    turns, each core idle half the time. settle() waits for the chunk in flight. A claim number the book
    already holds (an earlier file's, another import's committed meanwhile, or this file's in an earlier
    chunk) is refused by the book's unique index as the chunk is written, and the chunk's taken numbers are
    then named by row. Looking every number up before writing it cost as much again (10 s of a
    million-claim import on PostgreSQL).

    PostgreSQL writes each chunk under a savepoint: a refused COPY leaves the transaction unusable until
    rolled back to it. SQLite writes without one, by INSERT OR FAIL: a refused statement stops where it is
    and keeps the rows before it, so SQLite keeps no copy of the pages it changes to undo them. That copy
    (of every page a statement or a savepoint first changes: hundreds per statement, the person index's
    leaves all over) was 2-5 s of a million-claim import. The rows left behind never last: a refused file's
    transaction is rolled back whole, and the taken numbers are looked for among the rows older than the
    chunk only (`after_id`)."""

    def __init__(self, book_id: int, problems: "_Problems", *, fixed: dict):
        self.book_id, self.problems, self.fixed = book_id, problems, fixed
        self.writer = self.savepoint = self.numbers = self.rows = self.after_id = None

    def submit(self, pending: list[list], pending_rows: list[int], *, threaded: bool) -> None:
        assert self.writer is None, "settle() the chunk before"
        table = Claim._meta.db_table
        self.numbers, self.rows = [r[3] for r in pending], list(pending_rows)
        if connection.vendor == "postgresql":
            self.savepoint = transaction.savepoint()
            self.writer = Writer(threaded=threaded)
            # Formatted by psycopg's C code on the writer's thread: cheaper than Python text made here.
            rows = list(pending)
            self.writer.submit(lambda cursor, vendor: rows_copy(cursor, table, _CLAIM_COLUMNS, rows, _CLAIM_TYPES))
        else:
            self.after_id = last_id(table)
            statements = rows_prepare("sqlite", table, _CLAIM_COLUMNS, pending, verb="INSERT OR FAIL",
                                      fixed=self.fixed)
            self.writer = Writer(threaded=threaded)
            self.writer.submit(lambda cursor, vendor: prepared_write(cursor, vendor, statements))

    def settle(self) -> None:
        if self.writer is None:
            return
        writer, self.writer = self.writer, None
        savepoint, self.savepoint = self.savepoint, None
        try:
            writer.close()
        except (IntegrityError, connection.Database.IntegrityError):
            # COPY and the writer run on the driver's own cursor: PostgreSQL raises the driver's error.
            if savepoint is not None:
                transaction.savepoint_rollback(savepoint)
            taken = _taken(self.book_id, self.numbers, after_id=self.after_id)
            if not taken:
                raise
            for number, n in zip(self.numbers, self.rows, strict=True):
                if number in taken:
                    self.problems.add(n, F_CLAIM_NO, TAKEN, number)
            return
        if savepoint is not None:
            transaction.savepoint_commit(savepoint)

    def abandon(self) -> None:
        """Wait for the chunk in flight, whatever it raises: the transaction is being rolled back."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            with contextlib.suppress(Exception):
                writer.close()


# -- recomputation -------------------------------------------------------------------


# A pending row's contract year, person, and (contract year, group) (claims_import's rows, _CLAIM_COLUMNS).
_CY, _PERSON, _CY_GROUP = itemgetter(2), itemgetter(4), itemgetter(2, 5)
# Its person, group, settlement date and out-of-pocket fen, as _ExpectedOnImport figures them.
_FIGURES = itemgetter(4, 5, 8, 10)


class _ExpectedOnImport:
    """What the policy pays each imported claim, worked out as the rows are written, so that the
    recomputation which follows every import finds them right and rewrites nothing (on PostgreSQL an
    UPDATE of a million claims wrote a new version of each row and of its dozen index entries: a minute).

    Each person's claims are taken in file order after the claims of theirs the year already holds. Where
    that is not settlement order (a late claim, a file not sorted by date), the figure is provisional and
    the recomputation (claims_recompute, run by every import in the same transaction) replaces it; a group
    whose rule cannot be written in whole fen, or still waits for a figure, is left to it too.

    A year where neither happened (each person's claims came in settlement order, after every claim of
    theirs the year held, and each got its figure) is final (FinalFigures): its replay would change nothing."""

    def __init__(self, years: dict, *, contract: Contract, batch: ClaimBatch | None,
                 person_index: "_PersonIndexDeferred | None" = None):
        self.person_index = person_index
        self.policies = {cy.id: cy.benefit_policy for cy in years.values()}
        self.rules = {}  # (contract year, group) → the rule in fen, or None
        self.cumulative = defaultdict(dict)  # contract year → person → out-of-pocket so far, fen
        self.latest = defaultdict(dict)  # contract year → person → their latest settlement date so far
        self.provisional = set()  # contract years some figure of which the replay must work out
        self.counts = defaultdict(int)  # contract year → claims of this import
        self.batch = batch
        # The contract's other batches, read before the years are: a batch committed after this read makes the
        # set differ when the recomputation reads it again, and the year is then replayed.
        self.others = frozenset() if batch is None else frozenset(
            ClaimBatch.objects.filter(contract=contract).exclude(pk=batch.pk).values_list("pk", flat=True))
        # Years without a claim before this import (a year's first file): nobody's out-of-pocket so far is
        # looked up there (at a million claims, 20,000 lookups a chunk cost 10 s on PostgreSQL). Read before
        # the first chunk is written, when every claim of the year is another import's.
        self.empty = {cy_id for cy_id in self.policies
                      if not Claim.objects.filter(contract_year_id=cy_id).exists()}

    def _rule(self, cy_id: int, group: str):
        key = (cy_id, group)
        if key not in self.rules:
            rule = None
            if self.policies.get(cy_id):
                try:
                    rule = _rule_in_fen(policy_get(code=self.policies[cy_id]).rule(group))
                except (Refused, ObjectDoesNotExist):  # the recomputation says why, with every problem
                    rule = None
            self.rules[key] = rule
        return self.rules[key]

    def fill(self, rows: list[list], *, reads: bool = True) -> bool:
        """Set each row's expected fen (its last column) from cy (2), person (4), group (5), settled (8) and
        oop (10). False, having changed nothing, if that needs the database read (the year's claims, a rule
        not asked for yet) and `reads` is False."""
        # Per chunk, not per row where it can be helped (a million rows: each step per row is a second).
        cumulative = self.cumulative
        cys = set(map(_CY, rows))
        if len(cys) == 1:
            (cy_id,) = cys
            unknown = set(map(_PERSON, rows)).difference(cumulative[cy_id])
            by_year = {cy_id: unknown} if unknown else {}
        else:
            by_year = defaultdict(set)
            for r in rows:
                if r[4] not in cumulative[r[2]]:
                    by_year[r[2]].add(r[4])
        rule_keys = set(map(_CY_GROUP, rows))
        if not reads and (any(cy_id not in self.empty for cy_id in by_year)
                          or not rule_keys.issubset(self.rules)):  # a rule is read from the policy
            return False
        for cy_id, persons in by_year.items():
            known = cumulative[cy_id]
            known.update(dict.fromkeys(persons, 0))
            if cy_id not in self.empty:
                if self.person_index is not None:
                    self.person_index.done()  # the lookup reads it
                so_far = _oop_so_far(cy_id, list(persons))
                known.update((person, fen) for person, (fen, _latest) in so_far.items())
                self.latest[cy_id].update((person, latest) for person, (_fen, latest) in so_far.items())
        rules = {key: self._rule(*key) for key in rule_keys}
        if len(cys) == 1:
            self._figure(next(iter(cys)), rows, rules)
        else:  # each year's persons are its own: their rows are figured year by year, each in file order
            by_year_rows = defaultdict(list)
            for r in rows:
                by_year_rows[r[2]].append(r)
            for year_id, year_rows in by_year_rows.items():
                self._figure(year_id, year_rows, rules)
        for year_id, n in (dict.fromkeys(cys, len(rows)) if len(cys) == 1 else Counter(map(_CY, rows))).items():
            self.counts[year_id] += n
        return True

    def _figure(self, cy_id: int, rows: list[list], rules: dict) -> None:
        """Each row of one contract year, in file order: its expected fen on the person's out-of-pocket so far."""
        known, seen, payable = self.cumulative[cy_id], self.latest[cy_id], _payable_fen
        rule_of, floor_of = {}, {}
        for (year_id, group), rule in rules.items():
            if year_id == cy_id:
                rule_of[group] = rule
                # Below a rule's first paying band nothing is payable: most stays' figures need no arithmetic.
                # None: no rule, the figure is left to the replay; a rule with no paying band pays nothing.
                floor_of[group] = None if rule is None else min(
                    (start for start, _end, num in rule[0] if num), default=math.inf)
        if None in floor_of.values():
            self.provisional.add(cy_id)
        late = False
        for r, (person, group, settled, oop) in zip(rows, map(_FIGURES, rows), strict=True):
            before = known[person]
            after = known[person] = before + oop
            floor = floor_of[group]
            if floor is None:
                pass
            elif after <= floor:
                r[-1] = 0
            elif before <= floor:
                r[-1] = payable(rule_of[group], after)
            else:
                rule = rule_of[group]
                r[-1] = payable(rule, after) - payable(rule, before)
            # A date on PostgreSQL, ISO text on SQLite (as the database takes it): either orders as the dates do.
            last = seen.get(person)
            if last is None or settled >= last:
                seen[person] = settled
            else:  # settled before a claim of theirs already counted: the replay orders them
                late = True
        if late:
            self.provisional.add(cy_id)

    def final(self) -> "FinalFigures | None":
        years = {cy_id: n for cy_id, n in self.counts.items() if cy_id not in self.provisional}
        if self.batch is None or not years:
            return None
        return FinalFigures(batch_id=self.batch.pk, years=years, others=self.others,
                            rules={key: rule for key, rule in self.rules.items() if key[0] in years})


# What the claims' person index (claim_person_key, migration claims 0013) holds beside the contract year: the
# pseudonym's first eight characters, written as the index has it so that both databases use it. Whoever
# narrows by it compares the whole pseudonym after.
PERSON_KEY = "substr(person, 1, 8)"


def _oop_so_far(cy_id: int, persons: list[str]) -> dict[str, tuple]:
    """Each person's out-of-pocket already in the year's claims, in fen, and their latest settlement date
    (as the database gives it: a date on PostgreSQL, ISO text on SQLite, as the import's rows hold it), for
    those who have some."""
    wanted = set(persons)
    return {person: (int(fen), latest)
            for person, fen, latest in _rows_matching(
                f"SELECT person, SUM(oop_fen), MAX(settled_on) FROM {Claim._meta.db_table} "
                f"WHERE contract_year_id = %s AND {PERSON_KEY} {{match}} GROUP BY person", [cy_id],
                sorted({p[:8] for p in wanted}))
            if person in wanted}


def _payable_fen(rule_fen: tuple, x: int) -> int:
    """_payable_sql in Python: the yearly payable in fen on cumulative fen x, the same integers."""
    bands, scale, cap = rule_fen
    total = 0
    for start, end, num in bands:
        if num and x > start:
            total += ((x if end is None or x < end else end) - start) * num
    if scale > 1:
        total = (total + scale // 2) // scale
    if cap is not None and total > cap:
        total = cap
    return total


@transaction.atomic
def claims_recompute(*, contract_year: ContractYear, overrides: dict | None = None, batch=None,
                     imported: ImportResult | None = None) -> int:
    """Replay every person's claims of the year in settlement order and store what the policy pays.

    Each episode pays the increase of the rounded yearly payable on the cumulative
    out-of-pocket, so a person's episodes add up to the yearly figure to the fen.
    With `batch`, only the persons with a claim of that batch in the year are replayed (a late
    claim recomputes its person's year, not everyone's; see PERSON_KEY). With `imported`, the
    batch's import result, a year whose figures the import gave for good is not replayed while the
    contract's other batches and the policy's rules are still those it worked them out from
    (FinalFigures). Returns how many claims were recomputed (or found final).
    """
    # One replay of a year at a time: each reads its persons' claims and then writes their figures, so a
    # second one (another file's, committed meanwhile) waits and then reads what the first wrote. NO KEY
    # UPDATE, not UPDATE: an import's statement trigger key-share locks the year it writes into (claims 0011).
    list(ContractYear.objects.select_for_update(no_key=True).filter(pk=contract_year.pk).order_by().values_list("pk"))
    policy = policy_get(code=contract_year.benefit_policy, overrides=overrides)
    if overrides is None and batch is not None and imported is not None:
        final = _final_still(contract_year, batch, imported.final, policy)
        if final is not None:
            return final
    table = Claim._meta.db_table
    scope, params = "contract_year_id = %s", [contract_year.pk]
    # A contract's only batch holds every claim of its years: its persons are everyone, and the narrowing
    # below would only cost a pass over the year (1.2 s at a million on PostgreSQL).
    if batch is not None and ClaimBatch.objects.filter(contract_id=contract_year.contract_id).exclude(
            pk=batch.pk).exists():
        # By the index's key alone: a person whose pseudonym begins like a batch person's is replayed too,
        # which gives their stored figures again (one chance in 4e9 a pair); matching the whole pseudonym as
        # well cost a second pass over the batch (0.8 s at a million).
        scope += f" AND {PERSON_KEY} IN (SELECT {PERSON_KEY} FROM {table} WHERE batch_id = %s AND contract_year_id = %s)"
        params += [batch.pk, contract_year.pk]
    if connection.vendor == "sqlite":
        done = _recompute_in_process(table, scope, params, policy)
        if done is not None:
            return done
    elif not policy.waiting:
        # Every group the policy pays, not only those in the scope: finding those took a pass over the scope
        # of its own (1.2 s at a million). A claim in a group the policy no longer pays falls back below.
        rules_fen = {g: _rule_in_fen(policy.rule(g)) for g in policy.accepted()}
        if all(rules_fen.values()):
            done = _recompute_sql(table, scope, params, rules_fen)
            if done is not None:
                return done
    with connection.cursor() as cursor:
        # The groups, and how many claims the replay covers (what this returns), in one pass.
        cursor.execute(f"SELECT group_code, COUNT(*) FROM {table} WHERE {scope} GROUP BY group_code", params)
        counts = dict(cursor.fetchall())
    groups = sorted(counts)
    # Asked for every group first: a group whose rule waits for a figure refuses before anything is written.
    rules = {g: policy.rule(g) for g in groups}
    if not groups:
        return 0
    integral = {g: _rule_in_fen(rule) for g, rule in rules.items()}
    if connection.vendor == "postgresql" and all(integral.values()):
        return _recompute_sql(table, scope, params, integral)
    return _recompute_python(table, scope, params, rules)


def _final_still(contract_year: ContractYear, batch, final: FinalFigures | None, policy) -> int | None:
    """The year's claims in the batch, if the import's figures for them are still the replay's; else None.
    Under the year's lock: a batch of the contract committed or withdrawn since the import read the year,
    or a rule of the policy edited since, and the year is replayed."""
    if final is None or final.batch_id != batch.pk or contract_year.pk not in final.years:
        return None
    others = frozenset(ClaimBatch.objects.filter(contract_id=contract_year.contract_id).exclude(pk=batch.pk)
                       .values_list("pk", flat=True))
    if others != final.others:
        return None
    for (cy_id, group), rule in final.rules.items():
        if cy_id != contract_year.pk:
            continue
        try:
            if _rule_in_fen(policy.rule(group)) != rule:
                return None
        except Refused:  # now waiting for a figure: the replay refuses it, naming it
            return None
    return final.years[contract_year.pk]


FEN_Q = Decimal("0.01")


def _rule_in_fen(rule) -> tuple | None:
    """The rule in integers: ((from fen, to fen or None, ratio numerator), …), ratio denominator, cap fen;
    None when a band starts at a fraction of a fen (the replay in Python then handles it)."""
    places = max((-r.as_tuple().exponent for _s, r in rule.bands), default=0)
    places = max(places, 0)
    scale = 10 ** places
    bands = []
    for i, (start, ratio) in enumerate(rule.bands):
        start_fen = start * 100
        end_fen = rule.bands[i + 1][0] * 100 if i + 1 < len(rule.bands) else None
        if start_fen != int(start_fen) or (end_fen is not None and end_fen != int(end_fen)):
            return None
        num = ratio * scale
        if num != int(num):
            return None
        bands.append((int(start_fen), None if end_fen is None else int(end_fen), int(num)))
    cap = None if rule.cap is None else int(rule.cap.quantize(FEN_Q) * 100)
    return tuple(bands), scale, cap



def _payable_sql(rule_fen: tuple, x: str) -> str:
    """SQL for GroupRule.yearly_payable in fen on the cumulative fen `x`: the same bands, the same half-up
    rounding to the fen (in integers, so both databases give Decimal's figure exactly), the same cap."""
    bands, scale, cap = rule_fen
    parts = []
    for start, end, num in bands:
        if not num:
            continue
        upper = x if end is None else f"(CASE WHEN {x} < {end} THEN {x} ELSE {end} END)"
        parts.append(f"(CASE WHEN {x} > {start} THEN ({upper} - {start}) * {num} ELSE 0 END)")
    total = " + ".join(parts) or "0"
    if scale > 1:
        total = f"(({total}) + {scale // 2}) / {scale}"
    if cap is not None:
        total = f"(CASE WHEN ({total}) < {cap} THEN ({total}) ELSE {cap} END)"
    return f"({total})"


def _recompute_sql(table: str, scope: str, params: list, rules_fen: dict) -> int | None:
    """The replay in one query (PostgreSQL's; SQLite's is _recompute_in_process), each person's running out-of-pocket by a window sum in settlement
    order, the episode's payable as the rounded yearly payable after it less that before it. The query
    answers one row for each claim whose figure changes and one, with their count, for all the others: a
    year's claims neither leave the server nor are joined back to the table to find the few that change
    (those an import filled in are usually right already; the join was a second of a million). Returns how
    many claims were replayed; None, having written nothing, when a claim's group is not in `rules_fen`."""
    cases = " ".join(f"WHEN %s THEN {_payable_sql(r, 'cum')} - {_payable_sql(r, 'prev')}"
                     for r in rules_fen.values())
    # Persons partitioned by their bytes: any order keeps a person's claims together, and the database's
    # linguistic collation made the sort of a year's million pseudonyms the slowest step.
    person = 'person COLLATE "C"' if connection.vendor == "postgresql" else "person"
    running = (f"SELECT id, group_code, expected_fen, cum, cum - oop_fen AS prev FROM (SELECT id, group_code, "
               f"oop_fen, expected_fen, CAST(SUM(oop_fen) OVER (PARTITION BY {person} ORDER BY settled_on, "
               f"id ROWS UNBOUNDED PRECEDING) AS bigint) AS cum FROM {table} WHERE {scope}) w")
    replay = f"SELECT id, expected_fen, CASE group_code {cases} END AS fen FROM ({running}) v"
    changes = "fen IS NOT expected_fen" if connection.vendor == "sqlite" else "fen IS DISTINCT FROM expected_fen"
    ids, fens, done = array("q"), array("q"), 0
    read = connection.chunked_cursor()
    try:
        read.execute(f"SELECT CASE WHEN fen IS NULL THEN -1 WHEN {changes} THEN id END, CASE WHEN {changes} "
                     f"THEN fen END, COUNT(*) FROM ({replay}) r GROUP BY 1, 2", [*rules_fen.keys(), *params])
        while batch := read.fetchmany(CHUNK):
            for claim_id, fen, n in batch:
                if claim_id == -1:
                    return None
                done += n
                if claim_id is not None:
                    ids.append(claim_id)
                    fens.append(fen)
    finally:
        read.close()
    for i in range(0, len(ids), CHUNK):
        _expected_write(list(zip(fens[i:i + CHUNK], ids[i:i + CHUNK], strict=True)))
    return done


def _recompute_in_process(table: str, scope: str, params: list, policy) -> int | None:
    """SQLite: _recompute_sql's replay in this process, in the same integers, writing only the claims whose
    figure changes. SQLite runs in this process anyway: its window sum and the join back to a million rows
    took 8.7 s where reading them in replay order (the index claim_person_key gives it) and comparing takes
    about a third. None, having written nothing, when a group's rule cannot be written in whole fen.

    Every figure is worked out before any is written: SQLite's result is undefined for a read that
    overlaps writes to its table on the same connection. A group whose rule waits for a figure refuses
    then too, with nothing written."""
    rules_fen, ids, fens, done = {}, array("q"), array("q"), 0
    person, cumulative = None, 0
    payable = _payable_fen
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, person, group_code, oop_fen, expected_fen FROM {table} WHERE {scope} "
                       f"ORDER BY {PERSON_KEY}, person, settled_on, id", params)
        while batch := cursor.fetchmany(CHUNK):
            done += len(batch)
            for claim_id, who, group, oop_fen, stored in batch:
                rule = rules_fen.get(group)
                if rule is None:
                    rule = rules_fen[group] = _rule_in_fen(policy.rule(group))
                    if rule is None:
                        return None
                if who != person:
                    person, cumulative = who, 0
                before, cumulative = cumulative, cumulative + oop_fen
                fen = payable(rule, cumulative) - payable(rule, before)
                if fen != stored:
                    ids.append(claim_id)
                    fens.append(fen)
    for i in range(0, len(ids), CHUNK):
        _expected_write(list(zip(fens[i:i + CHUNK], ids[i:i + CHUNK], strict=True)))
    return done


def _recompute_python(table: str, scope: str, params: list, rules: dict) -> int:
    """The replay one claim at a time, for a rule the SQL above cannot express in whole fen."""
    done = 0
    updates = []
    person, cumulative, last = None, 0, None
    # A server-side cursor on PostgreSQL: a year's claims are streamed, never held whole.
    read = connection.chunked_cursor()
    try:
        read.execute(f"SELECT id, person, group_code, oop_fen FROM {table} "
                     f"WHERE {scope} ORDER BY person, settled_on, id", params)
        while batch := read.fetchmany(CHUNK):
            for claim_id, who, group, oop_fen in batch:
                if who != person:
                    person, cumulative, last = who, 0, None
                rule = rules[group]
                before = last[1] if last is not None and last[0] == group else rule.yearly_payable(
                    Decimal(cumulative) / 100)
                cumulative += oop_fen
                now = rule.yearly_payable(Decimal(cumulative) / 100)
                last = (group, now)
                updates.append((int((now - before) * 100), claim_id))
            if len(updates) >= CHUNK:
                _expected_write(updates)
                done += len(updates)
                updates = []
    finally:
        read.close()
    _expected_write(updates)
    return done + len(updates)


def _expected_write(updates: list[tuple[int, int]]) -> None:
    if not updates:
        return
    table = Claim._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS claims_expected_tmp (id bigint PRIMARY KEY, fen bigint)")
        cursor.execute("DELETE FROM claims_expected_tmp")
    rows_insert("claims_expected_tmp", ("id", "fen"), [(i, f) for f, i in updates])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"UPDATE {table} c SET expected_fen = t.fen FROM claims_expected_tmp t WHERE c.id = t.id")
        else:
            cursor.execute(f"UPDATE {table} SET expected_fen = (SELECT fen FROM claims_expected_tmp t "
                           f"WHERE t.id = {table}.id) WHERE id IN (SELECT id FROM claims_expected_tmp)")


# -- posting -------------------------------------------------------------------------


def _month_end(year: int, month: int) -> date:
    import calendar

    return date(year, month, calendar.monthrange(year, month)[1])


@transaction.atomic
def claims_post(*, batch: ClaimBatch, reviewed_by) -> int:
    """A reviewer other than its preparer approves a batch and posts its claims into the insurer's book:
    per month and hospital, the claims expense and the payable to the hospital (direct settlement),
    then its payment; manual reimbursements and repayments of fund advances per month, paid from
    the bank. Claims charged to the next year are posted to that year's insurer. The vouchers name
    the preparer (制单) and the reviewer (审核). Posting again changes nothing. Returns entries posted.
    """
    batch = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == ClaimBatch.Status.POSTED:
        return 0
    problems = signer_problems(lazy_format(_("claims batch %(batch)s"), batch=batch), made_by=batch.prepared_by_id,
                               reviewed_by=reviewed_by)
    if problems:
        raise Refused(problems)
    posted = _claims_entries_post(batch, reviewed_by)
    batch.status, batch.reviewed_by, batch.posted_at = ClaimBatch.Status.POSTED, person_of(reviewed_by), timezone.now()
    batch.save(update_fields=["status", "reviewed_by", "posted_at"])
    audit_record(action="approved", actor=reviewed_by, obj=batch, detail={
        "kind": "claims batch", "entries": posted, "prepared_by": batch.prepared_by.get_username()})
    return posted


@transaction.atomic
def claims_batch_withdraw(*, batch: ClaimBatch, by) -> None:
    """Withdraw a batch awaiting review, with its claims: its preparer's or an administrator's act, recorded."""
    batch = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
    who = person_of(by)
    problems = []
    if batch.status != ClaimBatch.Status.PREPARED:
        problems.append(problem(lazy_format(_("claims batch %(batch)s"), batch=batch), _("status"),
                                _("a batch awaiting review"), batch.get_status_display()))
    if who is None or not (who.pk == batch.prepared_by_id or is_administrator(who)):
        problems.append(problem(lazy_format(_("claims batch %(batch)s"), batch=batch), _("by"),
                                _("its preparer or an administrator"), getattr(who, "username", None) or _("nobody")))
    if problems:
        raise Refused(problems)
    audit_record(action="deleted", actor=who, obj=batch, digest=batch.file_sha256, detail={
        "kind": "claims batch", "file": batch.file_name, "rows": batch.rows, "paid": f"{batch.paid_total.amount:.2f}"})
    years = list(ContractYear.objects.filter(claims__batch=batch).distinct())
    batch.claims.all().delete()
    batch.summaries.all().delete()
    batch.delete()
    for cy in years:  # the persons' years replay without the withdrawn episodes
        claims_recompute(contract_year=cy)


SUM_SORT_CACHE_KIB = 2048


def _claims_entries_post(batch: ClaimBatch, reviewed_by) -> int:
    # SQLite groups by sorting: in a small page cache it sorts runs and merges them from temporary files,
    # where in the connection's 64 MB it sorted a million claims as one list, twice as slow (0.78 s).
    with page_cache_held(SUM_SORT_CACHE_KIB), connection.cursor() as cursor:
        cursor.execute(f"SELECT summary_id, SUM(paid_fen) FROM {Claim._meta.db_table} WHERE batch_id = %s "
                       "GROUP BY summary_id", [batch.pk])
        paid = dict(cursor.fetchall())
    if None in paid:  # every claim is written with its summary (claims 0012 gave the older ones theirs)
        raise RuntimeError(f"claims batch {batch.pk} holds claims without a summary")
    # As plain values, not model instances: a city's year has thousands of summaries.
    summaries = [s for s in ClaimSummary.objects.filter(batch=batch, entry__isnull=True).values_list(
        "contract_year_id", "year", "month", "hospital_id", "channel", "pk") if paid.get(s[5])]
    hospitals = {h.pk: h for h in Hospital.objects.filter(pk__in={s[3] for s in summaries})}
    years = {cy.pk: cy for cy in ContractYear.objects.filter(pk__in={s[0] for s in summaries})}
    books, opened, by_book, keys, payable_ready = {}, set(), defaultdict(list), {}, set()
    for cy_id, y, m, hospital_id, channel, summary_id in sorted(summaries):
        fen, cy = paid[summary_id], years[cy_id]
        book = books.get(cy.contract.insurer_id)
        if book is None:
            book = books[cy.contract.insurer_id] = Book.objects.get(insurer_id=cy.contract.insurer_id)
        if (book.pk, y) not in opened:
            fiscal_year_open(book=book, year=y)
            opened.add((book.pk, y))
        amount, day, h = Decimal(fen) / 100, _month_end(y, m), hospitals[hospital_id]
        key = f"claims:{batch.pk}:{cy.pk}:{y}-{m:02d}:{h.code}:{channel}"
        keys[key] = summary_id
        if channel == Claim.Channel.DIRECT:
            by_book[book].append(EntrySpec(day, [Line("6511", debit=amount, counterparty=h.name),
                                                 Line("224102", credit=amount, counterparty=h.name)],
                                           f"{y}年{m}月大病保险赔款 {h.name}", key))
            by_book[book].append(EntrySpec(day, [Line("224102", debit=amount, counterparty=h.name),
                                                 Line("1002", credit=amount)],
                                           f"支付{y}年{m}月大病保险赔款 {h.name}", key + ":paid"))
        elif channel == Claim.Channel.MANUAL:
            by_book[book].append(EntrySpec(day, [Line("6511", debit=amount, counterparty=h.name),
                                                 Line("1002", credit=amount)],
                                           f"{y}年{m}月大病保险手工报销 {h.name}", key))
        else:
            # What the basic fund advanced is owed to the fund's agency, not paid to the hospital: the payable
            # is cleared by the advance's repayment (claims.advances), which each side books in its own book.
            if book.pk not in payable_ready:
                payable_account_ensure(book=book)
                payable_ready.add(book.pk)
            fund = cy.contract.fund.name
            by_book[book].append(EntrySpec(day, [Line("6511", debit=amount, counterparty=h.name),
                                                 Line(ADVANCE_PAYABLE, credit=amount, counterparty=fund)],
                                           f"{y}年{m}月应偿还基本医保垫付 {h.name}", key))
    posted, links = 0, []
    for book, specs in by_book.items():
        # The book's newest id before, not a count of its vouchers before and after: counting millions of rows
        # twice a batch cost more than posting it. Ids only grow, so a voucher above it is one this call made.
        before = book.entries.aggregate(m=Max("id"))["m"] or 0
        entries = entries_post_many(book=book, entries=specs, source=f"claims batch {batch.pk}",
                                    made_by=batch.prepared_by_id, reviewed_by=reviewed_by)
        posted += sum(1 for e in entries if e.pk > before)
        links += [(keys[e.idempotency_key], e.pk) for e in entries if e.idempotency_key in keys]
    _summaries_link(links)
    return posted


def _summaries_link(links: list[tuple[int, int]]) -> None:
    """Point each summary at the voucher that carries its claims: a few thousand rows, through a small map."""
    table = ClaimSummary._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS claims_summary_entry (summary_id bigint PRIMARY KEY, "
                       "entry_id bigint)")
        cursor.execute("DELETE FROM claims_summary_entry")
    rows_insert("claims_summary_entry", ("summary_id", "entry_id"), links)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET entry_id = (SELECT m.entry_id FROM claims_summary_entry m "
                       f"WHERE m.summary_id = {table}.id) WHERE id IN (SELECT summary_id FROM claims_summary_entry)")
