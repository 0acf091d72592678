"""verify_ledger catches what changed behind the application's back.

To tamper at all the test must first drop the guards (as someone with the database
owner's rights could); verification then names the first entry that no longer fits.
"""

import json
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection

from ledger.integrity import ledger_verify
from ledger.services import Line, entry_draft_post, entry_post, entry_reverse
from tests.conftest import premium_lines


def _drop_guards():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER ledger_posting_guard ON ledger_posting")
            cursor.execute("DROP TRIGGER ledger_entry_guard ON ledger_journalentry")
            cursor.execute("DROP TRIGGER ledger_entry_guard_posting ON ledger_journalentry")
        else:
            for name in ("ledger_posting_guard_update", "ledger_posting_guard_delete",
                         "ledger_entry_guard_update", "ledger_entry_guard_delete"):
                cursor.execute(f"DROP TRIGGER {name}")


def _run_verify(*args):
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_ledger", "--json", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


@pytest.fixture
def year_of_entries(fund_book, insurer_book, signed, insurer_signed, maker, reviewer):
    entries = [
        entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付首期80%", lines=premium_lines("256000000.00"),
                   **signed),
        entry_post(book=fund_book, date=date(2015, 12, 20), memo="拨付尾款20%", lines=premium_lines("64000000.00"),
                   **signed),
        entry_post(book=insurer_book, date=date(2015, 4, 29), memo="收到首期保费",
                   lines=[Line("1002", debit="256000000.00"), Line("6031", credit="256000000.00")], **insurer_signed),
        entry_post(book=insurer_book, date=date(2015, 5, 31), memo="5月赔款",
                   lines=[Line("6511", debit="18250340.27"), Line("1002", credit="18250340.27")], **insurer_signed),
    ]
    entry_draft_post(entry=entry_reverse(entry=entries[1], date=date(2015, 12, 21), made_by=maker),
                     reviewed_by=reviewer)
    return entries


def test_untouched_books_verify(year_of_entries):
    code, out = _run_verify()
    assert code == 0
    assert out == {"ok": True, "books": 2, "entries": 5, "postings": 10, "problems": []}


def test_a_posted_amount_changed_with_the_guards_dropped_is_named(year_of_entries, fund_book):
    first = year_of_entries[0]
    _drop_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET debit_fen = debit_fen - 100 WHERE entry_id = %s AND line = 1",
                       [first.pk])
    code, out = _run_verify()
    assert code == 1 and out["ok"] is False
    checks = {(p["book"], p["entry"], p["check"]) for p in out["problems"]}
    assert ("FUND-37", "记-2015-000001", "hash (content changed after posting)") in checks
    assert ("FUND-37", "记-2015-000001", "balance") in checks
    assert ("FUND-37", "balance 5101 2015-04", "period balance = Σ postings") in checks
    assert all(p["book"] == "FUND-37" for p in out["problems"])  # the insurer's book is untouched
    assert _run_verify("--book", "PICC-37-DB")[0] == 0


def test_a_posted_entry_deleted_with_the_guards_dropped_breaks_the_chain(year_of_entries, fund_book):
    _drop_guards()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_posting WHERE entry_id = %s", [year_of_entries[0].pk])
        cursor.execute("DELETE FROM ledger_journalentry WHERE id = %s", [year_of_entries[0].pk])
    result = ledger_verify(book=fund_book)
    assert not result.ok
    named = [(p["entry"], p["check"]) for p in result.problems]
    assert ("记-2015-000002", "chain position") in named
    assert ("记-2015-000002", "previous hash") in named
    assert ("year 2015", "voucher numbers") in named


def test_a_balance_row_edited_behind_the_services_is_named(year_of_entries, insurer_book):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_accountbalance SET credit_fen = credit_fen + 1 WHERE book_id = %s"
                       " AND account_id = (SELECT id FROM accounts_account WHERE book_id = %s AND code = '1002')"
                       " AND period_id = (SELECT id FROM ledger_period WHERE book_id = %s AND year = 2015 AND month = 5)",
                       [insurer_book.pk, insurer_book.pk, insurer_book.pk])
    result = ledger_verify(book=insurer_book)
    assert [(p["entry"], p["expected"], p["found"]) for p in result.problems] == [
        ("balance 1002 2015-05", "0.00 / 18250340.27", "0.00 / 18250340.28"),
    ]


def test_an_entry_memo_rewritten_with_the_guards_dropped_is_named(year_of_entries, insurer_book):
    _drop_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_journalentry SET memo = '5月赔款（改）' WHERE id = %s", [year_of_entries[3].pk])
    result = ledger_verify(book=insurer_book)
    assert [(p["entry"], p["check"]) for p in result.problems] == [
        ("记-2015-000002", "hash (content changed after posting)"),
    ]
