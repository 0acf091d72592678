"""Writes for claims: import a file, recompute what the policy pays, post a month into the insurer's book."""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import connection, transaction

from accounts.models import Book
from audit.services import audit_record
from contracts.models import Contract, ContractYear
from core.bulk import rows_insert
from core.errors import Refused, problem
from core.tables import iter_table
from ledger.services import EntrySpec, Line, entries_post_many, fiscal_year_open

from .identity import Pseudonymizer, id_problem, mask
from .models import Claim, ClaimBatch, Hospital
from .policies import policy_get
from .rules import GROUPS

# Accepted headers, English or Chinese, in this order.
COLUMNS = (
    ("claim_no", "赔案号"), ("id_number", "身份证号"), ("group", "人群"), ("admitted_on", "入院日期"),
    ("discharged_on", "出院日期"), ("settled_on", "结算日期"), ("hospital_code", "医院编码"),
    ("hospital_name", "医院名称"), ("oop", "政策范围内个人自付"), ("paid", "保险公司支付"), ("channel", "结算方式"),
)
CHANNELS = {"direct": "direct", "直接结算": "direct", "即时结算": "direct", "manual": "manual",
            "手工报销": "manual", "advance": "advance", "垫付还款": "advance"}
GROUP_NAMES = {**{g: g for g in GROUPS}, **{v: k for k, v in GROUPS.items()}}
CHUNK = 20000
MAX_PROBLEMS = 500


@dataclass
class ImportResult:
    batch: ClaimBatch | None = None
    rows: int = 0
    created: int = 0
    oop_total: Decimal = Decimal(0)
    paid_total: Decimal = Decimal(0)
    problems: list = field(default_factory=list)
    problem_count: int = 0


def _fen(text: str) -> int | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.replace("/", "-")[:10])
    except ValueError:
        return None


class _Problems:
    def __init__(self):
        self.items, self.count = [], 0

    def add(self, row: int, field_name: str, expected: str, found) -> None:
        self.count += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append({**problem(f"row {row}", field_name, expected, found), "row": row})


def _years(contract: Contract) -> dict[int, ContractYear]:
    return {cy.year: cy for cy in contract.years.all()}


def _charged_to(cy: ContractYear, settled_on: date, years_by_fund: dict) -> int | None:
    """Claims of year Y settled after Y's cut-off count in Y+1 (the successor's year if the insurer changed)."""
    if settled_on <= cy.cutoff:
        return cy.pk
    following = years_by_fund.get(cy.year + 1)
    return following.pk if following is not None else None


@transaction.atomic
def claims_import(*, path: Path, contract: Contract, dry_run: bool = False, by=None) -> ImportResult:
    """Import a claims file into the insurer's book: every row checked, the whole file or nothing.

    ID numbers are checked (18 characters, GB 11643 check character, a real birth date)
    and kept only as keyed pseudonyms. The same file again imports nothing.
    """
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
        return result
    books = list(Book.objects.filter(insurer=contract.insurer))
    if len(books) != 1:
        raise Refused([problem(f"contract {contract.code}", "insurer book", "exactly one book of the insurer",
                               len(books))])
    book = books[0]
    years = _years(contract)
    years_by_fund = {cy.year: cy for cy in ContractYear.objects.filter(contract__fund=contract.fund)}
    hospitals = dict(Hospital.objects.values_list("code", "id"))
    pseudonym = Pseudonymizer()
    problems = _Problems()
    batch = None if dry_run else ClaimBatch.objects.create(
        contract=contract, book=book, file_name=path.name, file_sha256=sha, rows=0, oop_total=0, paid_total=0)
    pending, seen = [], set()
    oop_total = paid_total = 0
    rows = iter_table(path)
    header_row, header = next(rows, (1, []))
    if [h.strip().lower() for h in header[:len(COLUMNS)]] not in (
            [c[0] for c in COLUMNS], [c[1] for c in COLUMNS]) or len(header) != len(COLUMNS):
        problems.add(header_row, "header", ", ".join(c[0] for c in COLUMNS) + " (or the Chinese names)",
                     ", ".join(header))
        raise Refused(problems.items)

    pending_rows = []

    def flush():
        """Check a chunk's claim numbers against the books (earlier chunks included), then insert it."""
        if not pending:
            return
        numbers = [r[3] for r in pending]
        taken = set()
        with connection.cursor() as cursor:
            for i in range(0, len(numbers), 2000):
                part = numbers[i:i + 2000]
                cursor.execute(f"SELECT claim_no FROM {Claim._meta.db_table} WHERE book_id = %s AND claim_no IN "
                               f"({', '.join(['%s'] * len(part))})", [book.pk, *part])
                taken.update(r[0] for r in cursor.fetchall())
        for r, n in zip(pending, pending_rows, strict=True):
            if r[3] in taken:
                problems.add(n, "claim_no", "a claim number not already in the books", r[3])
        if not problems.count and batch is not None:
            rows_insert(Claim._meta.db_table, (
                "batch_id", "book_id", "contract_year_id", "claim_no", "person", "group_code", "admitted_on",
                "discharged_on", "settled_on", "hospital_id", "oop_fen", "paid_fen", "channel", "charged_to_id"),
                pending)
        pending.clear()
        pending_rows.clear()
        seen.clear()  # earlier chunks are in the table now, and the check above finds them

    ops = connection.ops
    for n, cells in rows:
        result.rows += 1
        if len(cells) > len(COLUMNS) or len(cells) < len(COLUMNS) - 1:
            problems.add(n, "columns", str(len(COLUMNS)), len(cells))
            continue
        cells = cells + [""] * (len(COLUMNS) - len(cells))
        claim_no, idno, group, adm, dis, settled, h_code, h_name, oop_t, paid_t, channel_t = cells
        bad = id_problem(idno)
        if bad:
            problems.add(n, "id_number", bad, mask(idno))
        group_code = GROUP_NAMES.get(group)
        if group_code is None:
            problems.add(n, "group", "a group code or name (general, dibao, 低保对象 …)", group)
        admitted, discharged, settled_on = _date(adm), _date(dis), _date(settled)
        for value, name, text in ((admitted, "admitted_on", adm), (discharged, "discharged_on", dis),
                                  (settled_on, "settled_on", settled)):
            if value is None:
                problems.add(n, name, "a date YYYY-MM-DD", text)
        if admitted and discharged and discharged < admitted:
            problems.add(n, "discharged_on", f"on or after admission {admitted}", discharged)
        if discharged and settled_on and settled_on < discharged:
            problems.add(n, "settled_on", f"on or after discharge {discharged}", settled_on)
        oop, paid = _fen(oop_t), _fen(paid_t)
        if oop is None:
            problems.add(n, "oop", "an amount ≥ 0 with at most 2 decimals", oop_t)
        if paid is None:
            problems.add(n, "paid", "an amount ≥ 0 with at most 2 decimals", paid_t)
        channel = CHANNELS.get(channel_t)
        if channel is None:
            problems.add(n, "channel", "direct / manual / advance (直接结算 / 手工报销 / 垫付还款)", channel_t)
        if not claim_no:
            problems.add(n, "claim_no", "a claim number", "(empty)")
        elif claim_no in seen:
            problems.add(n, "claim_no", "each claim number once in the file", claim_no)
        seen.add(claim_no)
        if not h_code or not h_code.replace("-", "").isalnum():
            problems.add(n, "hospital_code", "letters and digits (定点医疗机构编码)", h_code or "(empty)")
        cy = years.get(discharged.year) if discharged else None
        if discharged and cy is None:
            problems.add(n, "discharged_on", f"a date in a year of contract {contract.code} "
                         f"({', '.join(str(y) for y in sorted(years))})", discharged)
        if problems.count:
            continue  # keep checking the rest, write nothing
        hospital_id = hospitals.get(h_code)
        if hospital_id is None:
            hospital_id = hospitals[h_code] = Hospital.objects.get_or_create(
                code=h_code, defaults={"name": h_name or h_code})[0].pk
        oop_total += oop
        paid_total += paid
        pending.append((batch.pk if batch else None, book.pk, cy.pk, claim_no, pseudonym(idno), group_code,
                        ops.adapt_datefield_value(admitted), ops.adapt_datefield_value(discharged),
                        ops.adapt_datefield_value(settled_on), hospital_id, oop, paid, channel,
                        _charged_to(cy, settled_on, years_by_fund)))
        pending_rows.append(n)
        if len(pending) >= CHUNK:
            flush()
    if not problems.count:
        flush()
    if result.rows == 0:
        problems.add(header_row + 1, "rows", "at least one claim", "none")
    result.problems, result.problem_count = problems.items, problems.count
    result.oop_total, result.paid_total = Decimal(oop_total) / 100, Decimal(paid_total) / 100
    if problems.count:
        raise Refused(problems.items)
    if batch is not None:
        batch.rows, batch.oop_total, batch.paid_total = result.rows, result.oop_total, result.paid_total
        batch.save(update_fields=["rows", "oop_total", "paid_total"])
        result.batch, result.created = batch, result.rows
        audit_record(action="imported", actor=by, obj=batch, digest=sha,
                     detail={"kind": "claims", "file": path.name, "rows": result.rows, "paid": f"{result.paid_total:.2f}"})
    return result


# -- recomputation -------------------------------------------------------------------


@transaction.atomic
def claims_recompute(*, contract_year: ContractYear, overrides: dict | None = None) -> int:
    """Replay every person's claims of the year in settlement order and store what the policy pays.

    Each episode pays the increase of the rounded yearly payable on the cumulative
    out-of-pocket, so a person's episodes add up to the yearly figure to the fen.
    Returns how many claims were recomputed.
    """
    policy = policy_get(code=contract_year.benefit_policy, overrides=overrides)
    rules = {}
    table = Claim._meta.db_table
    done = 0
    updates = []
    person, cumulative, last = None, 0, None
    # A server-side cursor on PostgreSQL: a year's claims are streamed, never held whole.
    read = connection.chunked_cursor()
    try:
        read.execute(f"SELECT id, person, group_code, oop_fen FROM {table} "
                     f"WHERE contract_year_id = %s ORDER BY person, settled_on, id", [contract_year.pk])
        while batch := read.fetchmany(CHUNK):
            for claim_id, who, group, oop_fen in batch:
                if who != person:
                    person, cumulative, last = who, 0, None
                rule = rules.get(group) or rules.setdefault(group, policy.rule(group))
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


def _month_sql() -> str:
    if connection.vendor == "sqlite":
        return "CAST(strftime('%%Y', settled_on) AS integer) * 100 + CAST(strftime('%%m', settled_on) AS integer)"
    return "CAST(EXTRACT(YEAR FROM settled_on) * 100 + EXTRACT(MONTH FROM settled_on) AS integer)"


@transaction.atomic
def claims_post(*, batch: ClaimBatch) -> int:
    """Post a batch's claims into the insurer's book: per month and hospital, the claims expense
    and the payable to the hospital (direct settlement), then its payment; manual reimbursements
    and repayments of fund advances per month, paid from the bank. Claims charged to the next
    year are posted to that year's insurer. Posting again changes nothing. Returns entries posted.
    """
    if not batch.claims.filter(posted_entry__isnull=True, paid__gt=0).exists():
        return 0  # everything owed is posted already
    table = Claim._meta.db_table
    charged = "COALESCE(charged_to_id, contract_year_id)"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {charged}, {_month_sql()}, hospital_id, channel, SUM(paid_fen) FROM {table} "
                       f"WHERE batch_id = %s GROUP BY 1, 2, 3, 4", [batch.pk])
        groups = cursor.fetchall()
    hospitals = {h.pk: h for h in Hospital.objects.filter(pk__in={g[2] for g in groups})}
    years = {cy.pk: cy for cy in ContractYear.objects.filter(pk__in={g[0] for g in groups})}
    books, opened, by_book, keys = {}, set(), defaultdict(list), {}
    for cy_id, ym, hospital_id, channel, fen in sorted(groups):
        if not fen:
            continue
        cy = years[cy_id]
        book = books.get(cy.contract.insurer_id)
        if book is None:
            book = books[cy.contract.insurer_id] = Book.objects.get(insurer_id=cy.contract.insurer_id)
        y, m = divmod(ym, 100)
        if (book.pk, y) not in opened:
            fiscal_year_open(book=book, year=y)
            opened.add((book.pk, y))
        amount, day, h = Decimal(fen) / 100, _month_end(y, m), hospitals[hospital_id]
        key = f"claims:{batch.pk}:{cy_id}:{y}-{m:02d}:{h.code}:{channel}"
        keys[key] = (cy_id, ym, hospital_id, channel)
        if channel == Claim.Channel.DIRECT:
            by_book[book].append(EntrySpec(day, [Line("6511", debit=amount, counterparty=h.name),
                                                 Line("224102", credit=amount, counterparty=h.name)],
                                           f"{y}年{m}月大病保险赔款 {h.name}", key))
            by_book[book].append(EntrySpec(day, [Line("224102", debit=amount, counterparty=h.name),
                                                 Line("1002", credit=amount)],
                                           f"支付{y}年{m}月大病保险赔款 {h.name}", key + ":paid"))
        else:
            what = "手工报销" if channel == Claim.Channel.MANUAL else "偿还基本医保垫付"
            by_book[book].append(EntrySpec(day, [Line("6511", debit=amount, counterparty=h.name),
                                                 Line("1002", credit=amount)],
                                           f"{y}年{m}月大病保险{what} {h.name}", key))
    posted, links = 0, []
    for book, specs in by_book.items():
        before = book.entries.count()
        entries = entries_post_many(book=book, entries=specs, source=f"claims batch {batch.pk}")
        posted += book.entries.count() - before
        links += [(*keys[e.idempotency_key], e.pk) for e in entries if e.idempotency_key in keys]
    _claims_link(batch, links)
    return posted


def _claims_link(batch: ClaimBatch, links: list[tuple]) -> None:
    """Point each claim at the entry that carries it, in one set-based update through a small map."""
    table = Claim._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS claims_entry_map "
                       "(cy_id bigint, ym integer, hospital_id bigint, channel varchar(8), entry_id bigint, "
                       "PRIMARY KEY (cy_id, ym, hospital_id, channel))")
        cursor.execute("DELETE FROM claims_entry_map")
    rows_insert("claims_entry_map", ("cy_id", "ym", "hospital_id", "channel", "entry_id"), links)
    match = (f"m.cy_id = COALESCE(c.charged_to_id, c.contract_year_id) AND m.ym = {_month_sql()} "
             f"AND m.hospital_id = c.hospital_id AND m.channel = c.channel")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"UPDATE {table} c SET posted_entry_id = m.entry_id FROM claims_entry_map m "
                           f"WHERE c.batch_id = %s AND {match.replace('settled_on', 'c.settled_on')}", [batch.pk])
        else:
            cursor.execute(f"UPDATE {table} AS c SET posted_entry_id = (SELECT m.entry_id FROM claims_entry_map m "
                           f"WHERE {match}) WHERE c.batch_id = %s", [batch.pk])
