"""Claims throughput: import, recompute and post a synthetic year of claims, against a plain baseline.

The file is written first (not timed, in a forked child so that the generator's memory never counts in
peak_mb); then one insurer book takes the whole file through the real services, as an accountant's
import would. The baseline is the same rows written by the fastest plain path on the database (COPY on
PostgreSQL, multi-row INSERT on SQLite, both through core.bulk.rows_insert) into bare copies of the
tables (no indexes, constraints or triggers), measured in the same run on the same file:

- import: the file read with the csv module, each row converted the cheapest way (dates and codes kept
  as text, amounts as integer fen by dropping the point), the ID number pseudonymised with the same
  keyed HMAC (the pseudonym is part of the row; only the checks are left out), each claim given its
  summary (year charged, month, hospital, channel) from a dict, and the summaries written after;
- recompute: the expected fen our recomputation stored, as (id, fen) pairs loaded into a temporary
  table and applied by one UPDATE … FROM;
- post: the journal entry and posting rows our posting wrote, inserted again, and the summaries'
  vouchers written back by one plain UPDATE.
"""

import csv
import multiprocessing
import resource
import tempfile
import time
from array import array
from datetime import date
from pathlib import Path

from django.db import connection, transaction

from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from claims.identity import Pseudonymizer
from claims.models import Claim, ClaimSummary
from claims.policies import policy_get
from claims.services import claims_import, claims_post, claims_recompute
from contracts.services import contract_create, contract_year_create
from core.bulk import rows_insert
from ledger.models import JournalEntry, Posting
from ledger.opening import opening_approve, opening_save
from ledger.services import fiscal_year_open

from .claims_data import write_claims
from .ledger import signers

YEAR = 2019
CHUNK = 20000
CLAIM_COLUMNS = ("id", "batch_id", "book_id", "contract_year_id", "claim_no", "person", "group_code", "admitted_on",
                 "discharged_on", "settled_on", "hospital_id", "oop_fen", "paid_fen", "channel", "charged_to_id",
                 "materials_received_on", "due_on", "summary_id")
SUMMARY_COLUMNS = ("id", "batch_id", "contract_year_id", "year", "month", "hospital_id", "channel")


def add_arguments(parser):
    parser.add_argument("--claims-no-baseline", action="store_true",
                        help="claims benchmark: skip the baseline (plain bulk writes of the same rows)")


def _contract(people):
    region = region_ensure(code="14", name="山西省", level="province")
    fund = fund_ensure(code="F-BENCH", name="基准测试大病保险资金", region=region)
    insurer = insurer_ensure(code="INS-BENCH", name="基准测试保险公司")
    book_create(code="FUND-BENCH", name="基准测试基金账", fund=fund)
    book = book_create(code="INS-BENCH-DB", name="基准测试大病保险专账", insurer=insurer)
    contract = contract_create(code="BENCH", name="基准测试合同", fund=fund, insurer=insurer, first_year=YEAR,
                               last_year=YEAR + 1)
    for year in (YEAR, YEAR + 1):
        contract_year_create(contract=contract, year=year, per_capita="85", insured_count=20_000_000,
                             tranches=[{"due": f"{year}-04-30", "cumulative_pct": "100"}], benefit_policy="shanxi-2019")
    # 建账: working capital, so that 1002 (不允许赤字) never runs dry when the hospitals are paid.
    fiscal_year_open(book=book, year=YEAR)
    opening_save(book=book, as_of=date(YEAR, 1, 1), by=people["made_by"],
                 balances={"1002": ("100000000000.00", None), "224199": (None, "100000000000.00")})
    opening_approve(book=book, by=people["reviewed_by"])
    return contract


def _generate(path: Path, n: int, policy) -> dict:
    """write_claims in a forked child: its bookkeeping (every ID number drawn) stays out of our peak_mb."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        return pool.apply(write_claims, (path,), {"n_claims": n, "year": YEAR, "policy": policy, "wrong": 100})


def _bare(table: str, like: str) -> None:
    """A copy of `like`'s columns and types only: no indexes, constraints, defaults or triggers."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TABLE {table} AS SELECT * FROM {like} WITH NO DATA")
        else:
            cursor.execute(f"CREATE TABLE {table} AS SELECT * FROM {like} WHERE 0")


def _baseline_import(path: Path, *, batch_id: int, book_id: int, years: dict, cutoff: str) -> float:
    _bare("bench_claims_bare", Claim._meta.db_table)
    _bare("bench_summaries_bare", ClaimSummary._meta.db_table)
    pseudonym = Pseudonymizer()
    cy, following = years[YEAR], years[YEAR + 1]
    hospitals, summaries = {}, {}
    t0 = time.perf_counter()
    with transaction.atomic(), open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        pending = []
        for i, (claim_no, idno, group, adm, dis, settled, h_code, _name, oop, paid, channel) in enumerate(rows, 1):
            hospital = hospitals.get(h_code) or hospitals.setdefault(h_code, len(hospitals) + 1)
            charged = cy if settled <= cutoff else following
            key = (charged, settled[:7], hospital, channel)
            summary = summaries.get(key) or summaries.setdefault(key, len(summaries) + 1)
            pending.append((i, batch_id, book_id, cy, claim_no, pseudonym(idno), group, adm, dis, settled, hospital,
                            int(oop.replace(".", "")), int(paid.replace(".", "")), channel, charged, None, None,
                            summary))
            if len(pending) >= CHUNK:
                rows_insert("bench_claims_bare", CLAIM_COLUMNS, pending)
                pending = []
        rows_insert("bench_claims_bare", CLAIM_COLUMNS, pending)
        rows_insert("bench_summaries_bare", SUMMARY_COLUMNS, [
            (i, batch_id, charged, int(month[:4]), int(month[5:]), hospital, channel)
            for (charged, month, hospital, channel), i in summaries.items()])
    return time.perf_counter() - t0


def _baseline_recompute(batch_id: int) -> float:
    """Our stored payables (read untimed, in file order, as a compact array), written back plainly."""
    expected = array("q")
    read = connection.chunked_cursor()
    read.execute(f"SELECT expected_fen FROM {Claim._meta.db_table} WHERE batch_id = %s ORDER BY id", [batch_id])
    while part := read.fetchmany(CHUNK):
        expected.extend(r[0] or 0 for r in part)
    read.close()
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE bench_expected (id bigint PRIMARY KEY, fen bigint)")
        for i in range(0, len(expected), CHUNK):
            rows_insert("bench_expected", ("id", "fen"),
                        [(k + 1, expected[k]) for k in range(i, min(i + CHUNK, len(expected)))])
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("UPDATE bench_claims_bare SET expected_fen = t.fen FROM bench_expected t "
                               "WHERE bench_claims_bare.id = t.id")
            else:  # the bare table has no index on id: look each row up in the temporary table's key instead
                cursor.execute("UPDATE bench_claims_bare SET expected_fen = (SELECT t.fen FROM bench_expected t "
                               "WHERE t.id = bench_claims_bare.id)")
            cursor.execute("DROP TABLE bench_expected")
    elapsed = time.perf_counter() - t0
    with connection.cursor() as cursor:  # the baseline wrote what we wrote (the bare table has no index to join)
        figures = "COUNT(expected_fen), SUM(expected_fen), SUM(expected_fen * oop_fen)"
        cursor.execute(f"SELECT {figures} FROM bench_claims_bare")
        theirs = cursor.fetchone()
        cursor.execute(f"SELECT {figures} FROM {Claim._meta.db_table} WHERE batch_id = %s", [batch_id])
        assert cursor.fetchone() == theirs, "baseline recompute differs from ours"
    return elapsed


def _baseline_post(batch_id: int) -> float:
    entries_table, postings_table = JournalEntry._meta.db_table, Posting._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {entries_table} WHERE source = %s ORDER BY id", [f"claims batch {batch_id}"])
        entry_columns = tuple(c[0] for c in cursor.description)
        entries = cursor.fetchall()
        cursor.execute(f"SELECT p.* FROM {postings_table} p JOIN {entries_table} e ON e.id = p.entry_id "
                       f"WHERE e.source = %s ORDER BY p.id", [f"claims batch {batch_id}"])
        posting_columns = tuple(c[0] for c in cursor.description)
        postings = cursor.fetchall()
    _bare("bench_entries_bare", entries_table)
    _bare("bench_postings_bare", postings_table)
    t0 = time.perf_counter()
    with transaction.atomic():
        rows_insert("bench_entries_bare", entry_columns, entries)
        rows_insert("bench_postings_bare", posting_columns, postings)
    elapsed = time.perf_counter() - t0
    return elapsed + _baseline_summaries_link(batch_id)


def _baseline_summaries_link(batch_id: int) -> float:
    """Posting also points each summary at its voucher: the same (summary, voucher) pairs, written plainly into a
    bare copy of the summaries (copied untimed, without their vouchers)."""
    table = ClaimSummary._meta.db_table
    _bare("bench_summaries_bare", table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO bench_summaries_bare SELECT * FROM {table} WHERE batch_id = %s", [batch_id])
        cursor.execute("UPDATE bench_summaries_bare SET entry_id = NULL")
        cursor.execute(f"SELECT id, entry_id FROM {table} WHERE batch_id = %s AND entry_id IS NOT NULL", [batch_id])
        links = cursor.fetchall()
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE bench_links (id bigint PRIMARY KEY, entry_id bigint)")
        rows_insert("bench_links", ("id", "entry_id"), links)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE bench_summaries_bare SET entry_id = (SELECT t.entry_id FROM bench_links t "
                           "WHERE t.id = bench_summaries_bare.id)")
            cursor.execute("DROP TABLE bench_links")
    return time.perf_counter() - t0


def _replay_changes_nothing(contract, batch) -> None:
    """Untimed: every year replayed in full (no narrowing, nothing taken as final) must give the figures the
    import and the timed recomputation left, to the fen."""
    figures = (f"SELECT COUNT(expected_fen), SUM(expected_fen), SUM(expected_fen * oop_fen), SUM(expected_fen * id) "
               f"FROM {Claim._meta.db_table} WHERE batch_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(figures, [batch.pk])
        before = cursor.fetchone()
        for cy in contract.years.all():
            claims_recompute(contract_year=cy)
        cursor.execute(figures, [batch.pk])
        assert cursor.fetchone() == before, "a full replay changed figures the recomputation left"


def run(*, claims: int, claims_no_baseline: bool = False, **options) -> dict:
    n = claims
    signed = signers()
    contract = _contract(signed)
    policy = policy_get(code="shanxi-2019")
    with tempfile.TemporaryDirectory(prefix="bench-claims-") as tmp:
        path = Path(tmp) / "claims.csv"
        t = time.perf_counter()
        made = _generate(path, n, policy)
        generate_s = time.perf_counter() - t
        t0 = time.perf_counter()
        result = claims_import(path=path, contract=contract, by=signed["made_by"])
        import_s = time.perf_counter() - t0
        t = time.perf_counter()
        recomputed = sum(claims_recompute(contract_year=cy, batch=result.batch, imported=result)
                         for cy in contract.years.filter(pk__in=result.years))
        recompute_s = time.perf_counter() - t
        _replay_changes_nothing(contract, result.batch)
        t = time.perf_counter()
        entries = claims_post(batch=result.batch, reviewed_by=signed["reviewed_by"])
        post_s = time.perf_counter() - t
        total_s = import_s + recompute_s + post_s
        figures = {}
        if not claims_no_baseline:
            years = {cy.year: cy.pk for cy in contract.years.all()}
            cutoff = contract.years.get(year=YEAR).cutoff.isoformat()
            base_import = _baseline_import(path, batch_id=result.batch.pk, book_id=result.batch.book_id, years=years,
                                           cutoff=cutoff)
            base_recompute = _baseline_recompute(result.batch.pk)
            base_post = _baseline_post(result.batch.pk)
            base_total = base_import + base_recompute + base_post
            figures = {
                "baseline_import_s": round(base_import, 2), "baseline_recompute_s": round(base_recompute, 2),
                "baseline_post_s": round(base_post, 2), "baseline_claims_s": round(base_total, 2),
                "import_ratio": round(import_s / base_import, 2),
                "recompute_ratio": round(recompute_s / base_recompute, 2),
                "post_ratio": round(post_s / base_post, 2), "claims_ratio": round(total_s / base_total, 2),
            }
    from claims.selectors import claims_discrepancies

    flagged = sum(claims_discrepancies(contract_year=cy, limit=0)["count"] for cy in contract.years.all())  # posted
    assert flagged == len(made["wrong"]), f"flagged {flagged}, altered {len(made['wrong'])}"
    return {
        "claims": made["claims"], "persons": made["persons"], "generate_s": round(generate_s, 1),
        "import_s": round(import_s, 2), "recompute_s": round(recompute_s, 2), "post_s": round(post_s, 2),
        "claims_total_s": round(total_s, 2), "claims_per_s": round(made["claims"] / total_s), **figures,
        "claims_recomputed": recomputed, "claims_flagged": flagged, "claims_entries": entries,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
