"""Every raw-SQL path to the posted books is closed (migrations ledger 0006 and audit 0005).

Each attempt goes around the services straight to the tables, as someone with a database login would:
through the application's own connection and, on SQLite, through a plain `sqlite3.connect()` to a copy of
the test database — the sqlite3 shell's view: foreign keys off, recursive_triggers off. (pytest-django's
SQLite test database lives in memory inside the test's transaction; the copy is written table by table
and trigger by trigger from that same connection, so it holds exactly the books the test built.)
Each attempt is refused with a message naming the rule, and the books read exactly as before; where the
database cannot refuse, verify_ledger or period_history_problems names the entry or period.
"""

import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from ledger.guards_check import period_history_problems
from ledger.integrity import ledger_verify
from ledger.models import AccountBalance, JournalEntry, Period, PeriodStatusChange, Posting
from ledger.services import (
    entry_draft_save,
    entry_post,
    fiscal_year_open,
    period_close,
    period_reopen,
    year_close,
)
from tests.conftest import premium_lines

# Every table whose rows the posted books depend on, in the order a snapshot reads them.
GUARDED = ["accounts_book", "accounts_account", "ledger_period", "ledger_journalentry", "ledger_posting",
           "ledger_accountbalance", "ledger_periodstatuschange", "audit_auditevent"]
SEAL = "ab" * 32  # 64 hex digits: all the database can ask of a seal; only verify_ledger holds the key
SQLITE_ONLY = pytest.mark.skipif("connection.vendor != 'sqlite'")
POSTGRES_ONLY = pytest.mark.skipif("connection.vendor != 'postgresql'")


# -- sessions: the application's connection, and the sqlite3 shell's ----------------------------------------

class AppSession:
    """The application's own connection (on SQLite: foreign keys and recursive_triggers on)."""

    name = "app"

    def run(self, sql: str, params=()):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)

    def rows(self, sql: str, params=()) -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


class ShellSession:
    """A plain sqlite3 connection to a file copy of the test database, as the sqlite3 shell opens it."""

    name = "shell"

    def __init__(self, path):
        _sqlite_copy(path)
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit, no PRAGMAs: the shell's defaults
        assert self.db.execute("PRAGMA foreign_keys").fetchone() == (0,)
        assert self.db.execute("PRAGMA recursive_triggers").fetchone() == (0,)
        # The copy holds every trigger and every row the test's books have.
        triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        assert self.rows(triggers) == AppSession().rows(triggers)
        assert _snapshot(self).keys() == set(GUARDED) and all(
            len(rows) == len(AppSession().rows(f"SELECT id FROM {t}")) for t, rows in _snapshot(self).items())

    def run(self, sql: str, params=()):
        self.db.execute(sql.replace("%s", "?"), tuple(params))

    def rows(self, sql: str, params=()) -> list:
        return self.db.execute(sql.replace("%s", "?"), tuple(params)).fetchall()


def _sqlite_copy(path) -> None:
    """Copy the test database (the test's transaction included) into a file: tables, rows, then indexes
    and triggers, so that copying the rows trips no trigger. The backup API cannot read a connection
    that is inside a transaction, and the test's data lives only in that transaction."""
    connection.ensure_connection()
    source = connection.connection
    objects = source.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                             " AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall()
    target = sqlite3.connect(path, isolation_level=None)
    target.execute("BEGIN")
    for kind, name, sql in objects:
        if kind == "table":
            target.execute(sql)
            rows = source.execute(f'SELECT * FROM "{name}"').fetchall()
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                target.executemany(f'INSERT INTO "{name}" VALUES ({marks})', [tuple(_plain(v) for v in r) for r in rows])
    for kind, _, sql in objects:
        if kind in ("index", "trigger", "view"):
            target.execute(sql)
    target.execute("COMMIT")
    target.close()


def _plain(value):
    # Django's connection converts declared types on the way out; the file stores them as Django writes them.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if value.tzinfo else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


@pytest.fixture(params=["app", "shell"])
def via(request, tmp_path):
    """Opens the session a test attacks through, once the test's books are built."""
    if request.param == "shell" and connection.vendor != "sqlite":
        pytest.skip("the sqlite3 shell's defaults (foreign keys and recursive_triggers off) are SQLite's; "
                    "psql is a session like the application's")
    return lambda: AppSession() if request.param == "app" else ShellSession(tmp_path / "copy.sqlite3")


def _snapshot(session) -> dict:
    return {t: session.rows(f"SELECT * FROM {t} ORDER BY id") for t in GUARDED}


def _refused(session, sql: str, params=(), *, naming: str = "") -> str:
    with pytest.raises((DatabaseError, sqlite3.DatabaseError)) as info:
        session.run(sql, params)
    message = str(info.value)
    assert re.search(naming, message), message
    return message


def _attempts_refused(session, attempts, naming: str = ""):
    """Each (sql, params) is refused (with a message matching `naming`, a regular expression), and the
    books read exactly as before them all."""
    before = _snapshot(session)
    messages = [_refused(session, sql, params, naming=naming) for sql, params in attempts]
    assert _snapshot(session) == before
    return messages


def _now_param(delta=timedelta(0)):
    when = datetime.now(UTC) + delta
    # SQLite keeps Django's UTC text; PostgreSQL takes the aware time.
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") if connection.vendor == "sqlite" else when


def _id(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _account(book, code) -> int:
    return book.accounts.get(code=code).pk


def _period(book, year, month) -> Period:
    return Period.objects.get(book=book, year=year, month=month)


@pytest.fixture
def draft(fund_book, maker):
    """A draft voucher in May: something a script may still change."""
    return entry_draft_save(book=fund_book, date=date(2015, 5, 6), memo="五月草稿", lines=premium_lines("1.00"),
                            made_by=maker)


@pytest.fixture
def closed_year(fund_book, posted_premium, maker):
    """2015 posted, December closed and then the whole year closed for good; 2016 opened."""
    period_close(period=_period(fund_book, 2015, 12), by=maker)
    year_close(book=fund_book, year=2015, by=maker)
    fiscal_year_open(book=fund_book, year=2016)
    return fund_book


# -- 1. SQLite's REPLACE: refused before it gets to delete ----------------------------------------------------

@SQLITE_ONLY
def test_the_applications_sqlite_connection_fires_delete_triggers_on_replace(db):
    # config/settings.py: a REPLACE's deletion fires the DELETE guards too; the shell's connection does not.
    assert connection.connection.execute("PRAGMA recursive_triggers").fetchone() == (1,)


@SQLITE_ONLY
def test_replace_cannot_unbalance_or_unpost_a_posted_entry(via, fund_book, posted_premium, draft):
    s = via()
    line1, line2 = Posting.objects.filter(entry=posted_premium).order_by("line").values_list("id", flat=True)
    acc_1004, acc_5101 = _account(fund_book, "1004"), _account(fund_book, "5101")
    columns = "(id, entry_id, book_id, line, account_id, debit_fen, credit_fen, memo, counterparty)"
    messages = _attempts_refused(s, [
        # Line 2 taken off the posted entry into a draft: a posted entry of one line of 256,000,000.00.
        (f"REPLACE INTO ledger_posting {columns} VALUES (%s, %s, %s, 9, %s, 0, 100, '', '')",
         [line2, draft.pk, fund_book.pk, acc_1004]),
        # Line 1 rewritten to 64,000,000.00 with nothing on the other side.
        (f"INSERT OR REPLACE INTO ledger_posting {columns} VALUES (%s, %s, %s, 1, %s, 6400000000, 0, '', '')",
         [line1, posted_premium.pk, fund_book.pk, acc_5101]),
        # A draft's line moved onto the posted entry's line 2 (the unique key entry, line).
        ("UPDATE OR REPLACE ledger_posting SET entry_id = %s, line = 2 WHERE entry_id = %s AND line = 1",
         [posted_premium.pk, draft.pk]),
        # The posted entry replaced by a draft of itself.
        ("INSERT OR REPLACE INTO ledger_journalentry (id, book_id, period_id, date, fiscal_year, status, memo, source,"
         " content_digest, created_at, prev_hash, hash) SELECT id, book_id, period_id, date, fiscal_year, 'draft',"
         " memo, source, content_digest, created_at, '', '' FROM ledger_journalentry WHERE id = %s",
         [posted_premium.pk]),
        # A draft taking the posted entry's voucher number and chain position.
        ("UPDATE OR REPLACE ledger_journalentry SET number = 1, seq = 1 WHERE id = %s", [draft.pk]),
        ("UPDATE OR REPLACE ledger_journalentry SET id = %s WHERE id = %s", [posted_premium.pk, draft.pk]),
    ])
    assert any("never replaces another" in m for m in messages)
    assert ledger_verify(book=fund_book).ok


@SQLITE_ONLY
def test_replace_cannot_rewrite_an_audit_event(via, posted_premium):
    event = AuditEvent.objects.filter(action="entry_posted").latest("id")
    s = via()
    _attempts_refused(s, [
        ("REPLACE INTO audit_auditevent (id, at, actor, action, outcome, object_type, object_id, object_repr,"
         " book_code, digest, ip, detail) VALUES (%s, %s, 'nobody', 'login', 'ok', '', '', '', '', '', NULL, '{}')",
         [event.pk, _now_param()]),
        ("INSERT OR REPLACE INTO audit_auditevent SELECT * FROM audit_auditevent WHERE id = %s", [event.pk]),
    ], naming="audit trail")


@SQLITE_ONLY
def test_replace_cannot_reopen_a_year_closed_period_to_post_into_it(via, closed_year):
    book = closed_year
    april, january_2016 = _period(book, 2015, 4), _period(book, 2016, 1)
    s = via()
    _attempts_refused(s, [
        ("REPLACE INTO ledger_period (id, book_id, year, month, start_date, end_date, status, closed_at, closed_by_id)"
         " VALUES (%s, %s, 2015, 4, '2015-04-01', '2015-04-30', 'open', NULL, NULL)", [april.pk, book.pk]),
        # An open period of 2016 taking April 2015's id (and with it April's entries).
        ("UPDATE OR REPLACE ledger_period SET id = %s WHERE id = %s", [april.pk, january_2016.pk]),
    ])
    assert s.rows("SELECT status FROM ledger_period WHERE id = %s", [april.pk]) == [("final",)]


def _unique_keys(table: str) -> list[tuple]:
    # The table's unique keys as SQLite knows them (not the primary key, which the test takes separately).
    keys = []
    for _, index, unique, origin, _ in connection.connection.execute(f"PRAGMA index_list({table})").fetchall():
        if unique and origin != "pk":
            keys.append(tuple(r[2] for r in connection.connection.execute(f"PRAGMA index_info({index})")))
    return keys


@SQLITE_ONLY
@pytest.mark.parametrize("table", GUARDED)
def test_every_guarded_table_refuses_replace_on_its_id_and_each_unique_key(via, closed_year, table):
    """The same row inserted again with OR REPLACE: by its id, then by each unique key alone."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT 1")
        columns = [c[0] for c in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
    attempts = [(f"INSERT OR REPLACE INTO {table} SELECT * FROM {table} WHERE id = %s", [row["id"]])]
    keys = _unique_keys(table)
    nullable = {r[1] for r in connection.connection.execute(f"PRAGMA table_info({table})") if not r[3]}
    every_key_column = {c for key in keys for c in key}
    for key in keys:
        if any(row[c] is None for c in key):
            continue  # NULLs never collide
        # Only this key collides: the other keys' nullable columns are blanked, so they cannot.
        blank = (every_key_column - set(key)) & nullable
        picked = ", ".join("NULL" if c in blank else c for c in columns if c != "id")
        attempts.append((f"INSERT OR REPLACE INTO {table} ({', '.join(c for c in columns if c != 'id')})"
                         f" SELECT {picked} FROM {table} WHERE id = %s", [row["id"]]))
    if table == "ledger_journalentry":
        assert len(attempts) >= 4  # id; (book, year, number); (book, seq); (book, idempotency key)
    _attempts_refused(via(), attempts)


def test_on_conflict_do_update_is_held_by_each_tables_update_guard(via, closed_year, maker):
    """PostgreSQL's INSERT … ON CONFLICT DO UPDATE fires the UPDATE triggers: each guarded table's refuses
    what it would refuse of an UPDATE. The proposed row is the existing one, made acceptable to the insert
    guards where they would refuse it first, so the update is what is tried. (SQLite refuses the colliding
    insert itself.)"""
    book = closed_year
    entry = JournalEntry.objects.get(book=book, status="posted")
    posting = Posting.objects.filter(entry=entry).first()
    balance = AccountBalance.objects.filter(book=book, debit__gt=0).first()
    change = PeriodStatusChange.objects.filter(book=book).first()
    event = AuditEvent.objects.latest("id")
    march_2016 = period_close(period=_period(book, 2016, 3), by=maker)
    s = via()

    def upsert(table, pk, assignment, **proposed):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} WHERE false")
            columns = [c[0] for c in cursor.description]
        picked = ", ".join(proposed.get(c, c) for c in columns)
        return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picked} FROM {table} WHERE id = %s"
                f" ON CONFLICT (id) DO UPDATE SET {assignment}", [pk])

    messages = _attempts_refused(s, [
        # As a draft of an open period: what the entry's insert guard accepts.
        upsert("ledger_journalentry", entry.pk, "memo = 'x'", status="'draft'", date="'2016-04-28'",
               fiscal_year="2016", period_id=str(_period(book, 2016, 4).pk)),
        upsert("ledger_posting", posting.pk, "debit_fen = excluded.debit_fen + 1"),
        upsert("ledger_period", march_2016.pk, "year = 2017", status="'open'"),
        upsert("ledger_accountbalance", balance.pk, "debit_fen = 0"),
        upsert("accounts_account", posting.account_id, "code = 'X'"),
        upsert("accounts_account", posting.account_id, "type = 'income'"),
        upsert("accounts_book", book.pk, "code = 'X'"),
        upsert("accounts_book", book.pk, "chain_length = 0"),
        upsert("ledger_periodstatuschange", change.pk, "new_status = 'open'"),
        upsert("audit_auditevent", event.pk, "actor = 'x'"),
    ])
    if connection.vendor == "postgresql":
        expected = ["never changes", "never change", "keeps its book, year and dates", "only grows",
                    "keeps its book, code and parent", "keeps its type and normal side", "keeps its code",
                    "only grows", "append-only", "append-only"]
        assert all(word in m for word, m in zip(expected, messages, strict=True)), [m.splitlines()[0] for m in messages]
    else:
        assert all("never replaces another" in m for m in messages), messages


@pytest.mark.parametrize("replace", [False, True])
def test_the_posting_service_still_moves_balances_by_upsert_and_replace_of_a_balance_is_refused(
        via, fund_book, signed, replace):
    april = _period(fund_book, 2015, 4)
    for n in (1, 2):
        entry_post(book=fund_book, date=date(2015, 4, 10 + n), memo=f"拨付{n}", lines=premium_lines("100.00"), **signed)
    balance = AccountBalance.objects.get(account__code="5101", period=april)
    assert balance.debit.amount == 200  # two increments on one row: INSERT … ON CONFLICT DO UPDATE works
    assert ledger_verify(book=fund_book).ok
    s = via()
    acc = _account(fund_book, "5101")
    if not replace:
        # A raw increase goes through, as the service's would: only verification can tell it was not posted.
        s.run("INSERT INTO ledger_accountbalance (book_id, account_id, period_id, debit_fen, credit_fen)"
              " VALUES (%s, %s, %s, 1, 0) ON CONFLICT (account_id, period_id) DO UPDATE"
              " SET debit_fen = ledger_accountbalance.debit_fen + excluded.debit_fen", [fund_book.pk, acc, april.pk])
        assert s.rows("SELECT debit_fen FROM ledger_accountbalance WHERE id = %s", [balance.pk]) == [(20001,)]
        if s.name == "app":
            problems = ledger_verify(book=fund_book).problems
            assert [p["entry"] for p in problems] == ["balance 5101 2015-04"]
        return
    if connection.vendor != "sqlite":
        pytest.skip("REPLACE is SQLite's")
    # The same row re-inserted lower, under a new id: REPLACE would delete the old row silently.
    # Refused in the shell by the AFTER INSERT check (the old row is gone); on the application's connection
    # (recursive_triggers on) already by the DELETE trigger REPLACE fires there.
    _attempts_refused(s, [("INSERT OR REPLACE INTO ledger_accountbalance (book_id, account_id, period_id, debit_fen,"
                           " credit_fen) VALUES (%s, %s, %s, 1, 0)", [fund_book.pk, acc, april.pk])],
                      naming="never replaces another" if s.name == "shell" else "never disappears")
    assert s.rows("SELECT count(*) FROM ledger_balance_replace_watch") == [(0,)]


# -- 2. TRUNCATE (PostgreSQL); DELETE without WHERE (SQLite, refused row by row) ------------------------------

@pytest.mark.parametrize("table", GUARDED)
def test_no_guarded_table_can_be_emptied(via, closed_year, table):
    s = via()
    if connection.vendor == "postgresql":
        _foreign_keys_checked_now()  # TRUNCATE refuses to run while the transaction has deferred checks pending
        # Without CASCADE a table others refer to is refused by its foreign keys first; with it, by the triggers.
        _attempts_refused(s, [(f"TRUNCATE {table}", [])], naming="never truncated|foreign key|audit trail")
        _attempts_refused(s, [(f"TRUNCATE {table} CASCADE", [])],
                          naming="never truncated" if table != "audit_auditevent" else "audit trail")
        if table == "ledger_journalentry":
            # The CASCADE reaches the postings and every document pointing at an entry: all refused together.
            _attempts_refused(s, [("TRUNCATE ledger_journalentry, ledger_posting, accounts_book CASCADE", [])])
    else:
        _attempts_refused(s, [(f"DELETE FROM {table}", [])])


# -- 3. periods: their own dates, opened open, never into a closed year; status changes recorded ------------

def test_a_period_is_inserted_only_with_its_own_dates_open_and_not_into_a_closed_year(via, closed_year):
    book = closed_year
    columns = "(book_id, year, month, start_date, end_date, status, closed_at, closed_by_id)"
    # A year closed for good but one month (removed while it was open), as a script could leave it.
    may_2016 = _period(book, 2016, 5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_period WHERE id = %s", [may_2016.pk])
        cursor.execute("UPDATE ledger_period SET status = 'final' WHERE book_id = %s AND year = 2016", [book.pk])
    s = via()
    _attempts_refused(s, [
        # "2099-01" covering April 2015: a way to post into a closed year.
        (f"INSERT INTO ledger_period {columns} VALUES (%s, 2099, 1, '2015-04-01', '2015-04-30', 'open', NULL, NULL)",
         [book.pk]),
        (f"INSERT INTO ledger_period {columns} VALUES (%s, 2017, 2, '2017-02-01', '2017-03-01', 'open', NULL, NULL)",
         [book.pk]),
    ], naming="first to the last day")
    _attempts_refused(s, [
        (f"INSERT INTO ledger_period {columns} VALUES (%s, 2017, 1, '2017-01-01', '2017-01-31', 'closed', NULL, NULL)",
         [book.pk]),
    ], naming="opened open")
    _attempts_refused(s, [
        (f"INSERT INTO ledger_period {columns} VALUES (%s, 2016, 5, '2016-05-01', '2016-05-31', 'open', NULL, NULL)",
         [book.pk]),
    ], naming="closed for good")
    s.run(f"INSERT INTO ledger_period {columns} VALUES (%s, 2017, 2, '2017-02-01', '2017-02-28', 'open', NULL, NULL)",
          [book.pk])  # a proper month of a new year is fine


def test_a_fake_period_cannot_carry_an_entry_into_a_closed_year(via, closed_year, maker, reviewer):
    book = closed_year
    s = via()
    _attempts_refused(s, [
        ("INSERT INTO ledger_period (book_id, year, month, start_date, end_date, status, closed_at, closed_by_id)"
         " VALUES (%s, 2099, 1, '2015-04-01', '2015-04-30', 'open', NULL, NULL)", [book.pk]),
        # Nor can an entry of April 2015 go into an open period of another year, or into April itself.
        ("INSERT INTO ledger_journalentry (book_id, period_id, date, fiscal_year, status, memo, source,"
         " content_digest, created_at, prev_hash, hash) VALUES (%s, %s, '2015-04-06', 2015, 'draft', 'x', 'sql', '',"
         " '2015-04-06 10:00:00', '', '')", [book.pk, _period(book, 2016, 4).pk]),
        ("INSERT INTO ledger_journalentry (book_id, period_id, date, fiscal_year, status, memo, source,"
         " content_digest, created_at, prev_hash, hash) VALUES (%s, %s, '2015-04-06', 2015, 'draft', 'x', 'sql', '',"
         " '2015-04-06 10:00:00', '', '')", [book.pk, _period(book, 2015, 4).pk]),
    ])


def test_period_status_changes_are_recorded_and_those_behind_the_services_back_are_named(fund_book, maker):
    june, july = _period(fund_book, 2015, 6), _period(fund_book, 2015, 7)
    period_close(period=june, by=maker)
    period_reopen(period=june, by=maker)
    period_close(period=june, by=maker)
    assert list(PeriodStatusChange.objects.filter(period=june).values_list("old_status", "new_status")) == [
        ("open", "closed"), ("closed", "open"), ("open", "closed")]
    assert period_history_problems(fund_book) == []

    with connection.cursor() as cursor:  # reopened and July closed by a script: no audit events
        cursor.execute("UPDATE ledger_period SET status = 'open' WHERE id = %s", [june.pk])
        cursor.execute("UPDATE ledger_period SET status = 'closed' WHERE id = %s", [july.pk])
    problems = period_history_problems(fund_book)
    assert [(p["entry"], p["field"]) for p in problems] == [
        ("book FUND-37 period 2015-06", "status change"), ("book FUND-37 period 2015-07", "status change")]
    assert "closed → open" in problems[0]["found"] and "period_reopened" in problems[0]["expected"]

    year_close(book=fund_book, year=2015, by=maker)  # the services' own: accounted for by year_closed
    assert len(period_history_problems(fund_book)) == 2


def test_the_period_status_history_is_append_only(via, fund_book, maker):
    june = _period(fund_book, 2015, 6)
    period_close(period=june, by=maker)
    change = PeriodStatusChange.objects.get(period=june)
    s = via()
    columns = "(book_id, period_id, year, month, old_status, new_status, at, db_user)"
    attempts = [
        ("UPDATE ledger_periodstatuschange SET new_status = 'open' WHERE id = %s", [change.pk]),
        ("DELETE FROM ledger_periodstatuschange WHERE id = %s", [change.pk]),
        # A change that did not happen (June is closed, not final).
        (f"INSERT INTO ledger_periodstatuschange {columns} VALUES (%s, %s, 2015, 6, 'closed', 'final', %s, '')",
         [fund_book.pk, june.pk, _now_param()]),
    ]
    if connection.vendor == "postgresql":
        # Only the period's own trigger writes here: even a truthful-looking row by hand is refused.
        attempts.append((f"INSERT INTO ledger_periodstatuschange {columns}"
                         " VALUES (%s, %s, 2015, 6, 'open', 'closed', %s, '')", [fund_book.pk, june.pk, _now_param()]))
    _attempts_refused(s, attempts)


# -- 4. a draft turned posted by SQL: numbered next, next in the chain, sealed ---------------------------------

def test_a_draft_turned_posted_by_sql_needs_the_next_number_the_next_link_and_a_seal(
        via, fund_book, posted_premium, maker, reviewer):
    draft = entry_draft_save(book=fund_book, date=date(2015, 5, 6), memo="五月", lines=premium_lines("5.00"),
                             made_by=maker)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_journalentry SET reviewed_by_id = %s WHERE id = %s", [reviewer.pk, draft.pk])
    head = posted_premium.hash
    s = via()

    def post(number, seq, prev_hash, hash_, month_number=1):  # the first voucher of May
        return ("UPDATE ledger_journalentry SET status = 'posted', number = %s, month_number = %s, seq = %s,"
                " prev_hash = %s, hash = %s, posted_at = '2015-05-06 10:00:00+00:00' WHERE id = %s",
                [number, month_number, seq, prev_hash, hash_, draft.pk])

    _attempts_refused(s, [
        # PostgreSQL's CHECK (entry_posted_is_numbered) refuses the first before the statement trigger runs;
        # SQLite's check of the monthly number may speak first.
        ("UPDATE ledger_journalentry SET status = 'posted', number = 99 WHERE id = %s", [draft.pk]),
        post(2, 2, head, "not a seal"),
        post(2, 2, head, SEAL.upper()),
    ], naming="sealed|entry_posted_is_numbered|number in its month")
    # 凭证号 in the month: the next after the last posted in May (none yet), so 1 — not 2, not missing.
    _attempts_refused(s, [post(2, 2, head, SEAL, month_number=2), post(2, 2, head, SEAL, month_number=None)],
                      naming="in its month")
    _attempts_refused(s, [post(99, 2, head, SEAL), post(3, 2, head, SEAL)], naming="next in its book and year")
    _attempts_refused(s, [post(2, 3, head, SEAL), post(2, 2, "cd" * 32, SEAL), post(2, 2, "", SEAL),
                          post(2, 1, "", SEAL)])
    assert s.rows("SELECT status FROM ledger_journalentry WHERE id = %s", [draft.pk]) == [("draft",)]
    if s.name == "shell":
        return
    # Everything the database can check holds: it lets it post. The seal and the balances it never moved
    # are verify_ledger's to find, and it names the entry.
    s.run(*post(2, 2, head, SEAL))
    problems = ledger_verify(book=fund_book).problems
    named = {(p["entry"], p["check"]) for p in problems}
    assert any(entry == "记-2015-05-0001" and ("hash" in check or "seal" in check) for entry, check in named), problems
    assert ("balance 5101 2015-05", "period balance = Σ postings") in named


def test_a_batch_posted_by_the_service_passes_the_checks_across_years(fund_book, signed):
    # One call posts entries of two years interleaved: they are numbered and chained in date order (so 2015's
    # first), numbers run per year and per month, the chain across both; results come back in the order given.
    from ledger.services import EntrySpec, entries_post_many

    fiscal_year_open(book=fund_book, year=2016)
    specs = [EntrySpec(date(2016 - i % 2, 3, 1 + i), premium_lines(f"{i + 1}.00"), f"批{i}") for i in range(6)]
    entries = entries_post_many(book=fund_book, entries=specs, **signed)
    assert [(e.fiscal_year, e.number, e.month_number, e.seq) for e in entries] == [
        (2016, 1, 1, 4), (2015, 1, 1, 1), (2016, 2, 2, 5), (2015, 2, 2, 2), (2016, 3, 3, 6), (2015, 3, 3, 3)]
    assert [e.voucher for e in entries[:2]] == ["记-2016-03-0001", "记-2015-03-0001"]
    assert ledger_verify(book=fund_book).ok


# -- 5. balances: never lower, never moved, never gone, never another book's ----------------------------------

def test_balances_only_grow_and_stay_where_they_are(via, fund_book, insurer_book, posted_premium):
    april = _period(fund_book, 2015, 4)
    balance = AccountBalance.objects.get(account__code="5101", period=april)
    s = via()
    _attempts_refused(s, [
        ("UPDATE ledger_accountbalance SET debit_fen = debit_fen - 1 WHERE id = %s", [balance.pk]),
        ("UPDATE ledger_accountbalance SET credit_fen = credit_fen - 1 WHERE credit_fen > 0 AND book_id = %s",
         [fund_book.pk]),
    ], naming="only grow")
    _attempts_refused(s, [
        ("UPDATE ledger_accountbalance SET period_id = %s WHERE id = %s", [_period(fund_book, 2015, 5).pk, balance.pk]),
        ("UPDATE ledger_accountbalance SET account_id = %s WHERE id = %s", [_account(fund_book, "1003"), balance.pk]),
    ], naming="keeps its book, account and period")
    _attempts_refused(s, [
        ("DELETE FROM ledger_accountbalance WHERE id = %s", [balance.pk]),
        ("DELETE FROM ledger_accountbalance", []),
    ])
    _attempts_refused(s, [
        ("INSERT INTO ledger_accountbalance (book_id, account_id, period_id, debit_fen, credit_fen)"
         " VALUES (%s, %s, %s, 100, 0)", [fund_book.pk, _account(insurer_book, "1002"), april.pk]),
        ("INSERT INTO ledger_accountbalance (book_id, account_id, period_id, debit_fen, credit_fen)"
         " VALUES (%s, %s, %s, 100, 0)", [fund_book.pk, _account(fund_book, "1003"),
                                         _period(insurer_book, 2015, 4).pk]),
    ], naming="of its own book")


def _foreign_keys_checked_now():
    # PostgreSQL checks Django's foreign keys at commit (deferred); the test's transaction never commits,
    # so the delete of a row still referred to is made to fail at once, as it would at commit.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# -- 6. accounts with postings keep their type and normal side ------------------------------------------------

def test_an_account_with_postings_keeps_its_type_and_normal_side(via, fund_book, posted_premium):
    acc = fund_book.accounts.get(code="5101")
    unused = fund_book.accounts.filter(children__isnull=True, postings__isnull=True).exclude(code="5101").first()
    _foreign_keys_checked_now()
    s = via()
    _attempts_refused(s, [
        ("UPDATE accounts_account SET type = 'asset' WHERE id = %s", [acc.pk]),
        ("UPDATE accounts_account SET normal_side = 'credit' WHERE id = %s", [acc.pk]),
        ("UPDATE accounts_account SET code = '5199' WHERE id = %s", [acc.pk]),
        ("DELETE FROM accounts_account WHERE id = %s", [acc.pk]),
    ])
    s.run("UPDATE accounts_account SET type = 'asset', normal_side = 'debit' WHERE id = %s", [unused.pk])


def test_a_book_keeps_its_code_and_its_chain_only_grows(via, fund_book, posted_premium):
    _foreign_keys_checked_now()
    s = via()
    _attempts_refused(s, [
        ("UPDATE accounts_book SET code = 'FUND-99' WHERE id = %s", [fund_book.pk]),
        ("UPDATE accounts_book SET chain_length = 0, chain_head = '' WHERE id = %s", [fund_book.pk]),
        ("UPDATE accounts_book SET chain_head = %s WHERE id = %s", [SEAL, fund_book.pk]),
        ("DELETE FROM accounts_book WHERE id = %s", [fund_book.pk]),
    ])


# -- 7. audit events are written at the database's own time --------------------------------------------------

def test_an_audit_event_cannot_be_back_dated_or_dated_ahead(via, db):
    s = via()
    insert = ("INSERT INTO audit_auditevent (at, actor, action, outcome, object_type, object_id, object_repr,"
              " book_code, digest, ip, detail) VALUES (%s, 'someone', 'period_closed', 'ok', '', '', '', '', '', NULL,"
              " '{}')")
    _attempts_refused(s, [(insert, [_now_param(-timedelta(hours=1))]),
                          (insert, [_now_param(timedelta(minutes=6))]),
                          (insert, [_now_param(-timedelta(days=400))])], naming="own time")
    if connection.vendor == "sqlite":
        _attempts_refused(s, [(insert, ["yesterday"]), (insert, ["2015-04-28 10:00:00+00:00"])], naming="own time")
        s.run(insert, [datetime.now(UTC).isoformat(" ")])  # an offset is understood
    s.run(insert, [_now_param(-timedelta(minutes=2))])  # a moment's drift between clocks is not a back-dating
    assert s.rows("SELECT count(*) FROM audit_auditevent WHERE actor = 'someone'")[0][0] == (
        2 if connection.vendor == "sqlite" else 1)
