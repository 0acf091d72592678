"""A large batch in date order is checked, sealed and written chunk by chunk, the database writing one
chunk while the next is checked (ledger.services._chunks, core.bulk.Writer): still one act, all or nothing.

The Shandong fund pays premium tranches to its insurer from 支出户 1004 (opened with 400,000,000.00), as a
year's import would bring them: 2,600 vouchers, more than two chunks' worth, in date order.
"""

import gc
import sys
from datetime import date, timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from django.db import connection

from core.bulk import Writer
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import AccountBalance, JournalEntry, Posting
from ledger.selectors import account_balance
from ledger.services import _PIPELINE, EntrySpec, Line, _chunks, entries_post_many, entry_post
from tests.conftest import FUND_OPENING, premium_lines
from tests.ledger.test_database_guards import _account_id, _next_entry_id, _sql

N = 2600


def _tranches(n: int = N, *, start: date = date(2015, 1, 5)) -> list[EntrySpec]:
    """n payments of (i + 1) yuan, ten a day from `start`, in date order."""
    return [EntrySpec(date=start + timedelta(days=i // 10), lines=premium_lines(f"{i + 1}.00"),
                      memo=f"拨付大病保险费 第{i + 1}笔", idempotency_key=f"tranche-{i + 1}") for i in range(n)]


def _nothing_written(book):
    assert not JournalEntry.objects.filter(book=book).exists()
    assert not Posting.objects.filter(book=book).exists()
    assert not AccountBalance.objects.filter(book=book).exists()


@pytest.fixture
def interpreter_state():
    """The collector and the GIL's switch interval, as a batch found them, must be as it leaves them."""
    before = gc.isenabled(), sys.getswitchinterval()
    yield
    assert (gc.isenabled(), sys.getswitchinterval()) == before


def test_chunks_start_small_and_cover_the_batch_once():
    bounds = _chunks(N, in_order=True)
    assert bounds[0] == (0, 250) and bounds[1] == (250, 750) and bounds[-1][1] == N
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert max(stop - start for start, stop in bounds) == _PIPELINE
    assert _chunks(N, in_order=False) == [(0, N)]
    assert _chunks(_PIPELINE, in_order=True) == [(0, _PIPELINE)]


def test_a_large_batch_in_date_order_posts_as_one_numbered_chained_and_balanced(fund_book, signed,
                                                                                 interpreter_state):
    specs = _tranches()
    posted = entries_post_many(book=fund_book, entries=specs, source="import", **signed)

    assert [e.idempotency_key for e in posted] == [s.idempotency_key for s in specs]
    stored = list(JournalEntry.objects.filter(book=fund_book).order_by("seq"))
    assert len(stored) == N and all(e.status == JournalEntry.Status.POSTED for e in stored)
    assert [e.number for e in stored] == list(range(1, N + 1))
    assert [e.pk for e in stored] == [e.pk for e in posted]
    # 凭证号 within each month run 1, 2, 3 … in date order.
    by_month = {}
    for e in stored:
        by_month.setdefault(e.date.month, []).append(e.month_number)
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in by_month.values())
    # Σ (1 … 2,600) yuan = 3,381,300.00 left 支出户.
    paid = Decimal(N * (N + 1) // 2)
    bank = fund_book.accounts.get(code="1004")
    assert account_balance(account=bank, as_of=date(2015, 12, 31)).amount == Decimal(FUND_OPENING) - paid
    assert Posting.objects.filter(book=fund_book).count() == 2 * N
    assert ledger_verify(book=fund_book).ok

    again = entries_post_many(book=fund_book, entries=specs, source="import", **signed)
    assert [e.pk for e in again] == [e.pk for e in posted]
    assert JournalEntry.objects.filter(book=fund_book).count() == N


def test_problems_in_an_early_and_a_late_chunk_are_both_named_and_nothing_is_written(fund_book, signed,
                                                                                     interpreter_state):
    specs = _tranches()
    specs[10] = EntrySpec(date=specs[10].date, lines=[Line("9999", debit="11.00"), Line("1004", credit="11.00")],
                          memo=specs[10].memo, idempotency_key=specs[10].idempotency_key)
    specs[2400] = EntrySpec(date=specs[2400].date, lines=[Line("5101", debit="2401.00"), Line("1004", credit="2400.00")],
                            memo=specs[2400].memo, idempotency_key=specs[2400].idempotency_key)
    with pytest.raises(Refused) as refused:
        entries_post_many(book=fund_book, entries=specs, source="import", **signed)
    shown = [str(p["entry"]) for p in refused.value.problems]
    assert shown == ["entry 11 key tranche-11", "entry 2401 key tranche-2401"]
    assert "9999" in str(refused.value.problems[0]["found"])
    _nothing_written(fund_book)


def test_a_late_chunk_dated_before_its_months_last_voucher_refuses_the_batch(fund_book, signed, interpreter_state):
    entry_post(book=fund_book, date=date(2015, 9, 20), memo="九月已记账", lines=premium_lines("1.00"), **signed)
    # Ten a day from 5 January: vouchers 2,391 … 2,600 fall on 1-21 September, the 190 of the 1st-19th before
    # the 20th, where September's numbers already stand (序时控制), all in the last chunk.
    specs = _tranches()
    assert specs[2390].date == date(2015, 9, 1) and specs[-1].date == date(2015, 9, 21)
    with pytest.raises(Refused) as refused:
        entries_post_many(book=fund_book, entries=specs, source="import", **signed)
    assert len(refused.value.problems) == 190
    assert str(refused.value.problems[0]["entry"]) == "entry 2391 key tranche-2391"
    assert str(refused.value.problems[-1]["entry"]) == "entry 2580 key tranche-2580"
    assert JournalEntry.objects.filter(book=fund_book).count() == 1
    assert Posting.objects.filter(book=fund_book).count() == 2


def test_lines_planted_under_an_id_a_late_chunk_will_take_are_found_and_nothing_is_written(
        fund_book, signed, interpreter_state):
    planted = _next_entry_id() + 2000
    income, bank = _account_id(fund_book, "3001"), _account_id(fund_book, "1004")
    for line, account, dr, cr in ((7, bank, 99900, 0), (8, income, 0, 99900)):
        _sql("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo,"
             " counterparty) VALUES (%s, %s, %s, %s, %s, %s, '', '')", [planted, fund_book.pk, line, account, dr, cr])
    with pytest.raises(Refused) as refused:
        entries_post_many(book=fund_book, entries=_tranches(), source="import", **signed)
    assert "2 lines written there beforehand" in str(refused.value.problems)
    assert not JournalEntry.objects.filter(book=fund_book).exists()
    assert Posting.objects.filter(book=fund_book).count() == 2  # the planted pair, nothing else
    _sql("DELETE FROM ledger_posting WHERE entry_id = %s", [planted])


@pytest.mark.parametrize("threaded", [False, True])
def test_a_writer_runs_its_jobs_in_order_and_stops_at_the_first_that_fails(db, threaded):
    done = []

    def job(name, fail=False):
        def run(cursor, vendor):
            cursor.execute("SELECT 1")
            done.append(name)
            if fail:
                raise ValueError(name)
        return run

    switch = sys.getswitchinterval()
    writer = Writer(threaded=threaded)
    for name, fail in (("first", False), ("second", True), ("third", False)):
        writer.submit(job(name, fail))
    with pytest.raises(ValueError, match="second"):
        writer.close()
    assert done == ["first", "second"]
    writer.close()  # closing again neither waits nor raises
    assert sys.getswitchinterval() == switch
    with pytest.raises(AssertionError):
        writer.submit(job("fourth"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan settings")
def test_the_statement_guards_keep_their_rows_looked_up_by_index(db):
    migration = import_module("ledger.migrations.0018_guards_plan_by_index")
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s)", [list(migration.FUNCTIONS)])
        settings = dict(cursor.fetchall())
    assert set(settings) == set(migration.FUNCTIONS)
    for name in migration.FUNCTIONS:
        assert set(settings[name] or ()) >= {f"{s}={v}" for s, v in migration.SETTINGS}, name


def test_overlapping_bulk_calls_leave_the_interpreter_as_they_found_it():
    # Two requests' imports on two threads: the first to finish must not switch the collector back on or
    # the switch interval back while the other still runs, and the last must.
    from core.bulk import _SWITCH, _SWITCH_INTERVAL, collector_paused

    switch, collecting = sys.getswitchinterval(), gc.isenabled()
    first, second = collector_paused(), collector_paused()
    first_switch, second_switch = _SWITCH.held(), _SWITCH.held()
    first.__enter__(), first_switch.__enter__()
    second.__enter__(), second_switch.__enter__()
    first.__exit__(None, None, None), first_switch.__exit__(None, None, None)
    assert not gc.isenabled() and sys.getswitchinterval() == min(switch, _SWITCH_INTERVAL)
    second.__exit__(None, None, None), second_switch.__exit__(None, None, None)
    assert gc.isenabled() == collecting and sys.getswitchinterval() == switch


def test_text_with_tabs_newlines_backslashes_and_formula_signs_is_stored_as_typed(fund_book, signed):
    # The writer sends rows as COPY text on PostgreSQL: a field's tab, newline, carriage return and backslash
    # must arrive as themselves, and a memo reading \N must not turn into NULL.
    memo = "拨付\t第1笔\\N\n第二行\r=cmd|' /C calc'!A0 \\ 1e30"
    counterparty = "\\N"
    specs = [EntrySpec(date=date(2015, 3, 2), memo=f"{memo} {i}", idempotency_key=f"odd-{i}",
                       lines=[Line("5101", debit="1.00", memo=memo, counterparty=counterparty),
                              Line("1004", credit="1.00", memo="\\", counterparty="\t")]) for i in range(_PIPELINE + 1)]
    entries_post_many(book=fund_book, entries=specs, source="import", **signed)
    stored = JournalEntry.objects.get(book=fund_book, idempotency_key="odd-7")
    assert stored.memo == f"{memo} 7"
    lines = list(stored.postings.order_by("line").values_list("memo", "counterparty"))
    assert lines == [(memo, counterparty), ("\\", "\t")]
    assert ledger_verify(book=fund_book).ok


def test_a_nul_character_is_refused_where_it_stands_and_nothing_is_written(fund_book, signed, maker):
    # PostgreSQL cannot keep a NUL (0x00) in text: its driver refused the whole batch naming neither entry
    # nor field; SQLite kept it. Both now refuse it, naming the entry, the field and the position.
    from django.utils import translation

    from ledger.services import entry_draft_save

    specs = _tranches(_PIPELINE + 2)
    specs[3] = EntrySpec(date=specs[3].date, memo="拨付\x00", idempotency_key=specs[3].idempotency_key,
                         lines=premium_lines("4.00"))
    specs[-1] = EntrySpec(date=specs[-1].date, memo=specs[-1].memo, idempotency_key=specs[-1].idempotency_key,
                          lines=[Line("5101", debit="1002.00", counterparty="人保\x00财险"),
                                 Line("1004", credit="1002.00", memo="\x00")])
    with pytest.raises(Refused) as refused:
        entries_post_many(book=fund_book, entries=specs, source="import", **signed)
    found = [(p["entry"], p["field"], p["found"]) for p in refused.value.problems]
    assert found == [("entry 4 key tranche-4", "memo", "a NUL character at position 3"),
                     ("entry 1002 key tranche-1002", "line 1 counterparty", "a NUL character at position 3"),
                     ("entry 1002 key tranche-1002", "line 2 memo", "a NUL character at position 1")]
    with translation.override("zh-hans"):
        assert "第 2 行分录的摘要" in str(refused.value)
    _nothing_written(fund_book)

    with pytest.raises(Refused) as refused:
        entry_draft_save(book=fund_book, date=date(2015, 3, 2), memo="草稿", made_by=maker,
                         lines=[Line("5101", debit="1.00"), Line("1004", credit="1.00", counterparty="\x00")])
    assert refused.value.problems[0]["field"] == "line 2 counterparty"
    assert not JournalEntry.objects.filter(book=fund_book).exists()
