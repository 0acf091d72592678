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
    assert out == {"ok": True, "books": 2, "entries": 5, "postings": 10, "problems": [], "warnings": []}


def test_a_posted_amount_changed_with_the_guards_dropped_is_named(year_of_entries, fund_book):
    first = year_of_entries[0]
    _drop_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET debit_fen = debit_fen - 100 WHERE entry_id = %s AND line = 1",
                       [first.pk])
    code, out = _run_verify()
    assert code == 1 and out["ok"] is False
    checks = {(p["book"], p["entry"], p["check"]) for p in out["problems"]}
    assert ("FUND-37", "记-2015-04-0001", "seal (content or chain changed after posting)") in checks
    assert ("FUND-37", "记-2015-04-0001", "balance") in checks
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
    assert ("记-2015-12-0001", "chain position") in named
    assert ("记-2015-12-0001", "previous hash") in named
    assert ("year 2015", "voucher numbers") in named


def test_lines_and_people_the_database_lost_track_of_are_named(year_of_entries, fund_book, maker):
    """PostgreSQL holds what lines and vouchers name by its guards, not by foreign keys (migrations 0014,
    0015): written with the triggers off — a superuser's replica session, as a restore tool runs — a line
    under no entry and a voucher's maker deleted are found by verification (on SQLite, before the
    commit that its foreign keys would refuse)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the fixtures' pending checks, settled first
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("INSERT INTO ledger_posting (entry_id, book_id, line, account_id, debit_fen, credit_fen, memo,"
                       " counterparty) VALUES (999999, %s, 1, %s, 500, 0, '', '')",
                       [fund_book.pk, fund_book.accounts.get(code="5101").pk])
        cursor.execute("CREATE TEMPORARY TABLE maker_saved AS SELECT * FROM auth_user WHERE id = %s", [maker.pk])
        cursor.execute("DELETE FROM auth_user WHERE id = %s", [maker.pk])
    result = ledger_verify(book=fund_book)
    named = {(p["entry"], p["check"], p["found"]) for p in result.problems}
    assert ("entry id 999999", "postings", "1 under an entry that does not exist or is of another book") in named
    assert ("记-2015-04-0001", "people named", str(maker.pk)) in {(e, c, f.split(", ")[0]) for e, c, f in named}
    assert len([p for p in result.problems if p["check"] == "people named"]) == 3  # both fund vouchers and the reversal
    with connection.cursor() as cursor:  # put back what the test's own end checks (its foreign keys) would refuse
        cursor.execute("INSERT INTO auth_user SELECT * FROM maker_saved")
        cursor.execute("DROP TABLE maker_saved")
        cursor.execute("DELETE FROM ledger_posting WHERE entry_id = 999999")
    assert ledger_verify(book=fund_book).ok


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
        ("记-2015-05-0001", "seal (content or chain changed after posting)"),
    ]


# -- someone who can write every table, but does not hold the seal key ---------------------------------

def _attacker_reseals(book, *, key: str) -> None:
    """What a database owner can do without the key: recompute every link under a key they guess, the
    content digests, the book's head and the balance table, so that everything agrees with itself."""
    import hashlib
    import hmac

    from ledger import chain
    from ledger.models import AccountBalance, JournalEntry

    head = ""
    seq_of = dict(JournalEntry.objects.filter(book=book, status="posted").values_list("id", "seq"))
    for e in JournalEntry.objects.filter(book=book, status="posted").order_by("seq"):
        lines = [chain.LineContent(p.account.code, int(p.debit.amount * 100), int(p.credit.amount * 100), p.memo,
                                   p.counterparty) for p in e.postings.select_related("account").order_by("line")]
        content = chain.content_digest(entry_date=e.date, memo=e.memo, lines=lines)
        payload = chain._dumps([book.code, e.seq, e.fiscal_year, e.number, str(e.period), e.source,
                                e.idempotency_key, seq_of.get(e.reverses_id), e.made_by_id, e.reviewed_by_id, content])
        link = hmac.new(key.encode(), head.encode() + payload, hashlib.sha256).hexdigest()
        JournalEntry.objects.filter(pk=e.pk).update(prev_hash=head, hash=link, content_digest=content)
        head = link
    count = JournalEntry.objects.filter(book=book, status="posted").count()
    type(book).objects.filter(pk=book.pk).update(chain_length=count, chain_head=head)
    AccountBalance.objects.filter(book=book).delete()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO ledger_accountbalance (book_id, account_id, period_id, debit_fen, credit_fen) "
                       "SELECT p.book_id, p.account_id, e.period_id, SUM(p.debit_fen), SUM(p.credit_fen) "
                       "FROM ledger_posting p JOIN ledger_journalentry e ON e.id = p.entry_id "
                       "WHERE p.book_id = %s AND e.status = 'posted' GROUP BY p.book_id, p.account_id, e.period_id",
                       [book.pk])


def _drop_every_guard():
    from importlib import import_module

    if connection.vendor == "postgresql":  # the test's transaction holds deferred FK checks: settle them first
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    # Newest first: 0013's insert triggers run 0002's function, which cannot go while they use it (and 0020's
    # TRUNCATE guard 0006's).
    for app, name in (("ledger", "0020_counterparty_names"), ("ledger", "0013_entries_posted_on_insert"),
                      ("ledger", "0002_database_guards"),
                      ("ledger", "0005_posted_entry_names_two_people")):
        module = import_module(f"{app}.migrations.{name}")
        with connection.cursor() as cursor:
            for sql in (module.POSTGRES_DROP if connection.vendor == "postgresql" else module.SQLITE_DROP):
                if "CREATE" in sql:
                    continue  # restoring an earlier guard, not dropping one
                cursor.execute(sql)
    try:  # the raw-SQL guards of migration 0006, where present
        module = import_module("ledger.migrations.0006_raw_sql_guards")
        with connection.cursor() as cursor:
            for sql in (module.POSTGRES_DROP if connection.vendor == "postgresql" else module.SQLITE_DROP):
                cursor.execute(sql)
    except ModuleNotFoundError:
        pass


@pytest.fixture
def checkpointed(fund_book, signed, django_capture_on_commit_callbacks):
    """Three vouchers of the Shandong fund, each commit followed by its checkpoint outside the database."""
    with django_capture_on_commit_callbacks(execute=True):
        entries = [entry_post(book=fund_book, date=date(2015, m, 28), memo=f"拨付{m}月", lines=premium_lines(f"{m}00.00"),
                              **signed) for m in (4, 5, 6)]
    return entries


TAMPERING = {
    "an amount": "UPDATE ledger_posting SET debit_fen = debit_fen + 100 WHERE entry_id = {first} AND line = 1;"
                 "UPDATE ledger_posting SET credit_fen = credit_fen + 100 WHERE entry_id = {first} AND line = 2",
    "a memo": "UPDATE ledger_journalentry SET memo = '拨付4月（改）' WHERE id = {first}",
    "an account": "UPDATE ledger_posting SET account_id = (SELECT id FROM accounts_account WHERE book_id = {book}"
                  " AND code = '1003') WHERE entry_id = {first} AND line = 2",
    "a period": "UPDATE ledger_journalentry SET period_id = (SELECT id FROM ledger_period WHERE book_id = {book}"
                " AND year = 2015 AND month = 7), date = '2015-07-28' WHERE id = {first}",
    "the last entries": "DELETE FROM ledger_posting WHERE entry_id IN ({second}, {last});"
                        "DELETE FROM ledger_journalentry WHERE id IN ({second}, {last})",
    "the last entry, then a new one": "DELETE FROM ledger_posting WHERE entry_id = {last};"
                                      "DELETE FROM ledger_journalentry WHERE id = {last}",
}


@pytest.mark.parametrize("what", list(TAMPERING))
@pytest.mark.parametrize("key", ["", "a-guessed-key"])
def test_no_edit_passes_verification_without_the_seal_key(checkpointed, fund_book, what, key):
    first, second, last = (e.pk for e in checkpointed)
    assert ledger_verify(book=fund_book).ok
    _drop_every_guard()
    with connection.cursor() as cursor:
        for sql in TAMPERING[what].format(first=first, second=second, last=last, book=fund_book.pk).split(";"):
            cursor.execute(sql)
    _attacker_reseals(fund_book, key=key)  # everything agrees with itself again …
    result = ledger_verify(book=fund_book)
    assert not result.ok, what  # … but not with the seal, nor with the last checkpoint
    checks = {p["check"] for p in result.problems}
    if what.startswith("the last"):
        assert "chain length" in checks  # the checkpoint outside the database still has them
    else:
        assert "seal (content or chain changed after posting)" in checks


def test_a_forged_checkpoint_line_is_named_and_ignored(checkpointed, fund_book, settings):
    path = settings.LEDGER_CHECKPOINT_DIR / "FUND-37.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["length"] == 3
    forged = json.loads(lines[-1])
    forged["length"] = 1  # claim the book once had one entry only: the seal no longer fits
    path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    result = ledger_verify(book=fund_book)
    assert [(p["entry"], p["check"]) for p in result.problems] == [("(checkpoints)", "sealed checkpoint lines")]


def test_a_restored_older_database_is_found_by_the_checkpoint(checkpointed, fund_book, signed,
                                                              django_capture_on_commit_callbacks):
    # A fourth voucher commits and is checkpointed; then the database is "restored" to before it.
    with django_capture_on_commit_callbacks(execute=True):
        fourth = entry_post(book=fund_book, date=date(2015, 7, 28), memo="拨付7月", lines=premium_lines("700.00"),
                            **signed)
    _drop_every_guard()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_posting WHERE entry_id = %s", [fourth.pk])
        cursor.execute("DELETE FROM ledger_journalentry WHERE id = %s", [fourth.pk])
        cursor.execute("UPDATE accounts_book SET chain_length = 3, chain_head = %s WHERE id = %s",
                       [checkpointed[-1].hash, fund_book.pk])
        cursor.execute("UPDATE ledger_accountbalance SET debit_fen = debit_fen - 70000 WHERE book_id = %s AND "
                       "debit_fen >= 70000 AND period_id = %s", [fund_book.pk, fourth.period_id])
        cursor.execute("UPDATE ledger_accountbalance SET credit_fen = credit_fen - 70000 WHERE book_id = %s AND "
                       "credit_fen >= 70000 AND period_id = %s", [fund_book.pk, fourth.period_id])
    result = ledger_verify(book=fund_book)
    assert [(p["check"], p["expected"]) for p in result.problems] == [
        ("chain length", "at least 4 entries (the checkpoint)")]
