"""Several processes post at once on PostgreSQL: nothing lost, nothing doubled.

Four worker processes post into two books at the same time, one entry at a time and
in batches, and two of them race with the same idempotency keys. Afterwards every
entry is there exactly once, voucher numbers run 1..n without gaps in each book,
and verify_ledger proves the hash chains and the balance table.
"""

import multiprocessing
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from accounts.models import Book
from accounts.services import book_create, fund_ensure, region_ensure
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry, Posting
from ledger.selectors import trial_balance
from ledger.services import EntrySpec, Line, entries_post_many, entry_post, fiscal_year_open
from tests.conftest import FUND_OPENING, opened

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks across processes: PostgreSQL"),
]

SINGLE = 40
BATCH = 60
# A batch in date order larger than a chunk (ledger.services._PIPELINE) goes to the database chunk by chunk
# from a writer thread: every worker races one into the same third book, all dated 30 June.
LARGE = 1300
LARGE_DAY = date(2015, 6, 30)


def _lines(fen: int):
    amount = f"{fen // 100}.{fen % 100:02d}"
    return [Line("5101", debit=amount), Line("1004", credit=amount)]


def _worker(worker: int, book_codes: list[str], results, large_code: str):
    try:
        connections.close_all()  # never share the parent's socket
        books = [Book.objects.get(code=c) for c in book_codes]
        User = get_user_model()
        signed = {"made_by": User.objects.get(username="zhangsan"), "reviewed_by": User.objects.get(username="lisi")}
        posted = 0
        for i in range(SINGLE):
            book = books[i % len(books)]
            entry_post(book=book, date=date(2015, 1 + i % 12, 10), memo=f"进程{worker}单笔{i}",
                       lines=_lines(10000 + worker * 100 + i), idempotency_key=f"w{worker}-s{i}", **signed)
            # Both racers post the same keyed entries: one must win, the other get it back. Every voucher is
            # dated the 10th of its month, so the racers never post before a month's last voucher (序时控制).
            entry_post(book=books[0], date=date(2015, 3, 10), memo=f"共同{i}", lines=_lines(500 + i),
                       idempotency_key=f"shared-{i}", **signed)
            posted += 1
        specs = [EntrySpec(date(2015, 1 + j % 12, 10), _lines(70000 + j), f"进程{worker}批量{j}", f"w{worker}-b{j}")
                 for j in range(BATCH)]
        entries_post_many(book=books[-1], entries=specs, source="concurrency-test", **signed)
        large = [EntrySpec(LARGE_DAY, _lines(90000 + j), f"进程{worker}大批{j}", f"w{worker}-L{j}") for j in range(LARGE)]
        entries_post_many(book=Book.objects.get(code=large_code), entries=large, source="concurrency-test", **signed)
        results.put((worker, "ok", posted))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((worker, "error", repr(exc)))
    finally:
        connections.close_all()


def test_concurrent_posters_lose_nothing_and_number_without_gaps(fund_book, signed):
    other = fund_book
    region = region_ensure(code="3705", name="东营市", level="city", parent=fund_book.fund.region)
    second = book_create(code="FUND-3705", name="东营市大病保险资金账",
                         fund=fund_ensure(code="F-3705", name="东营市大病保险资金", region=region))
    fiscal_year_open(book=second, year=2015)
    region = region_ensure(code="3706", name="烟台市", level="city", parent=fund_book.fund.region)
    third = book_create(code="FUND-3706", name="烟台市大病保险资金账",
                        fund=fund_ensure(code="F-3706", name="烟台市大病保险资金", region=region))
    fiscal_year_open(book=third, year=2015)
    opened(third, {"1004": (FUND_OPENING, None), "3001": (None, FUND_OPENING)}, by=signed["made_by"],
           approved_by=signed["reviewed_by"])
    opened(second, {"1004": (FUND_OPENING, None), "3001": (None, FUND_OPENING)}, by=signed["made_by"],
           approved_by=signed["reviewed_by"])
    plans = {1: [other.code], 2: [other.code], 3: [other.code, second.code], 4: [second.code, other.code]}

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(w, codes, results, third.code)) for w, codes in plans.items()]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(o[1] for o in outcomes) == ["ok"] * 4, outcomes

    expected = {other.code: 0, second.code: 0, third.code: LARGE * len(plans)}
    for _w, codes in plans.items():
        for i in range(SINGLE):
            expected[codes[i % len(codes)]] += 1
        expected[codes[-1]] += BATCH
    # shared-{i} keys: posted once into each racer's first book, whoever came first.
    first_books = {codes[0] for codes in plans.values()}
    for code in first_books:
        expected[code] += SINGLE

    for book in (other, second, third):
        entries = JournalEntry.objects.filter(book=book, status="posted")
        assert entries.count() == expected[book.code]
        numbers = sorted(entries.values_list("number", flat=True))
        assert numbers == list(range(1, len(numbers) + 1))
        for month in range(1, 13):  # 凭证号 within each month: gapless, in date order
            in_month = entries.filter(period__month=month).order_by("month_number")
            assert list(in_month.values_list("month_number", flat=True)) == list(range(1, in_month.count() + 1))
        keys = list(entries.values_list("idempotency_key", flat=True))
        assert len(keys) == len(set(keys))
        assert Posting.objects.filter(book=book).count() == 2 * expected[book.code]
        assert trial_balance(book=book, year=2015).balanced
    result = ledger_verify()
    assert result.ok, result.problems
    assert result.entries == sum(expected.values())



def _second_connection():
    """A connection of its own, as another process would hold (psycopg straight, not Django's)."""
    import psycopg

    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"] or None,
                           dbname=s["NAME"])


def test_a_person_named_by_a_voucher_in_flight_cannot_be_deleted_by_another_connection(fund_book, signed):
    """Without foreign keys on the vouchers' people (migration 0014) the guards lock what a statement names:
    a person deleted while another transaction names them on a voucher is refused, in either order."""
    import psycopg

    User = get_user_model()
    may = fund_book.periods.get(year=2015, month=5)
    draft_sql = ("INSERT INTO ledger_journalentry (book_id, period_id, date, fiscal_year, status, memo, source,"
                 " content_digest, created_at, prev_hash, hash, made_by_id) VALUES (%s, %s, '2015-05-06', 2015,"
                 " 'draft', %s, 'sql', '', now(), '', '', %s)")
    # 1. The voucher first: the deleter waits for it, then finds the person named and is refused.
    first = User.objects.create(username="clerk-first")
    other = _second_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(draft_sql, [fund_book.pk, may.pk, "在途凭证", first.pk])
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SET lock_timeout = '300ms'")
                other.execute("DELETE FROM auth_user WHERE id = %s", [first.pk])
            other.rollback()
            cursor.execute("COMMIT")
        with pytest.raises(psycopg.errors.CheckViolation, match="named on vouchers"):
            other.execute("DELETE FROM auth_user WHERE id = %s", [first.pk])
        other.rollback()
        # 2. The deletion first: the voucher waits for it, then finds nobody and is refused.
        second = User.objects.create(username="clerk-second")
        other.execute("DELETE FROM auth_user WHERE id = %s", [second.pk])
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET lock_timeout = '300ms'")
            with pytest.raises(Exception, match="lock timeout"):
                cursor.execute(draft_sql, [fund_book.pk, may.pk, "晚到凭证", second.pk])
            cursor.execute("ROLLBACK")
        other.commit()
        with pytest.raises(Exception, match="does not exist"), connection.cursor() as cursor:
            cursor.execute(draft_sql, [fund_book.pk, may.pk, "晚到凭证", second.pk])
    finally:
        other.close()
    assert JournalEntry.objects.get(memo="在途凭证").made_by_id == first.pk
    assert User.objects.filter(pk=first.pk).exists() and not User.objects.filter(pk=second.pk).exists()
    assert not JournalEntry.objects.filter(memo="晚到凭证").exists()


def test_lines_slipped_under_a_voucher_in_flight_by_another_connection_refuse_their_own_commit(fund_book, signed):
    """The posting service writes a voucher's lines before the voucher, under an id it has reserved. Lines
    another connection writes under that id while it is in flight, committed after it, would have passed
    a foreign key (the voucher exists by then) and joined the posted voucher, still balanced. The record
    of lines awaiting their entry (migration 0015) finds the voucher written by another transaction."""
    import psycopg

    from ledger.services import entry_post

    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value + 1 FROM ledger_journalentry_id_seq")
        (reserved_next,) = cursor.fetchone()
    bank, income = (fund_book.accounts.get(code=c).pk for c in ("1004", "3001"))
    other = _second_connection()
    try:
        with other.cursor() as cursor:
            cursor.execute("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen,"
                           " memo, counterparty) VALUES (%s, %s, 7, %s, 99900, 0, '', ''), (%s, %s, 8, %s, 0, 99900,"
                           " '', '')", [reserved_next, fund_book.pk, bank, reserved_next, fund_book.pk, income])
        voucher = entry_post(book=fund_book, date=date(2015, 5, 6), memo="拨付五月", lines=_lines(50000), **signed)
        assert voucher.pk == reserved_next
        with pytest.raises(psycopg.errors.CheckViolation, match="written by another transaction"):
            other.commit()
    finally:
        other.close()
    assert sorted(Posting.objects.filter(entry=voucher).values_list("line", flat=True)) == [1, 2]
    result = ledger_verify(book=fund_book)
    assert result.ok, result.problems
