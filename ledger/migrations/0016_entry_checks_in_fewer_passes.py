"""PostgreSQL: a statement's new vouchers are checked in fewer passes over their lines (issue 16).

Measured on 5,000 vouchers a statement (11,850 lines), each pass 15-50 ms: the seal's shape was checked by
a regular expression per voucher (47 ms; `ltrim` over the hex digits, 15 ms); the lines of vouchers
inserted posted were read three times, for their balance, their book and their accounts' leaves. Now:

- each line's account is of the line's own book and a leaf, checked once per statement over the
  statement's distinct (account, book) pairs when the lines go in — whether their voucher is written yet
  or not (the leaf check already was, migration 0015);
- a posted voucher's lines are read once, for their count, their balance and their book (the line's book
  is the voucher's);
- a draft inserted after its lines (by hand: the application never does) still has its lines' book
  checked as it arrives;
- at commit, the entries lines awaited are looked for before any of their lines (migration 0015).
"""

from importlib import import_module

from django.db import migrations

from core.migrations_sql import run_by_vendor

_m5 = import_module("ledger.migrations.0005_posted_entry_names_two_people")
_m6 = import_module("ledger.migrations.0006_raw_sql_guards")
_m13 = import_module("ledger.migrations.0013_entries_posted_on_insert")
_m15 = import_module("ledger.migrations.0015_lines_await_their_entry")

_POSTING_CHECK_BEFORE = _m6._POSTING_CHECK.replace("%(people)s", _m5._PEOPLE + _m6._SEAL)

_BALANCE_BEFORE = """
        SELECT a.id, count(p.id) AS n, coalesce(sum(p.debit_fen), 0) AS dr, coalesce(sum(p.credit_fen), 0) AS cr
        INTO bad
        FROM updated a LEFT JOIN ledger_posting p ON p.entry_id = a.id
        WHERE a.status = 'posted'
        GROUP BY a.id
        HAVING count(p.id) < 2 OR coalesce(sum(p.debit_fen), 0) <> coalesce(sum(p.credit_fen), 0)
            OR coalesce(sum(p.debit_fen), 0) <= 0
        LIMIT 1;
        IF FOUND THEN
"""
_BALANCE = """
        SELECT a.id, count(p.id) AS n, coalesce(sum(p.debit_fen), 0) AS dr, coalesce(sum(p.credit_fen), 0) AS cr,
               bool_or(p.book_id <> a.book_id) AS foreign_line
        INTO bad
        FROM updated a LEFT JOIN ledger_posting p ON p.entry_id = a.id
        WHERE a.status = 'posted'
        GROUP BY a.id
        HAVING count(p.id) < 2 OR coalesce(sum(p.debit_fen), 0) <> coalesce(sum(p.credit_fen), 0)
            OR coalesce(sum(p.debit_fen), 0) <= 0 OR bool_or(p.book_id <> a.book_id)
        LIMIT 1;
        IF FOUND THEN
            IF bad.foreign_line THEN
                PERFORM ledger_refuse(format('entry %s: a posting belongs to its entry''s book and goes to an account of that book', bad.id));
            END IF;
"""
_HEX_BEFORE = "a.hash !~ '^[0-9a-f]{64}$'"
_HEX = "length(a.hash) <> 64 OR ltrim(a.hash, '0123456789abcdef') <> ''"

assert _BALANCE_BEFORE in _POSTING_CHECK_BEFORE and _HEX_BEFORE in _POSTING_CHECK_BEFORE
_POSTING_CHECK = _POSTING_CHECK_BEFORE.replace(_BALANCE_BEFORE, _BALANCE).replace(_HEX_BEFORE, _HEX)

_LINES_BEFORE_ENTRY = _m15._POSTING_GUARD_INSERT
_LINES_MARK = "    -- Entries already written take lines only as drafts"
assert _LINES_MARK in _LINES_BEFORE_ENTRY
_LINES = _LINES_BEFORE_ENTRY.replace(_LINES_MARK, """    -- Each line's account is of the line's own book (the line's book is its entry's: checked with the
    -- entry, now if it is written, else as it arrives).
    SELECT n.account_id INTO bad FROM (SELECT DISTINCT account_id, book_id FROM inserted) n
    JOIN accounts_account c ON c.id = n.account_id WHERE c.book_id <> n.book_id LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', bad.account_id));
    END IF;
""" + _LINES_MARK, 1)

_INSERTED_BEFORE = _m13.POSTGRES[2]
assert "CREATE FUNCTION ledger_entry_guard_inserted()" in _INSERTED_BEFORE
_INSERTED = """
    CREATE OR REPLACE FUNCTION ledger_entry_guard_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT a.id, a.status INTO bad FROM updated a WHERE a.status NOT IN ('draft', 'posted') LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s: an entry is inserted as a draft, or posted with its postings already in (not %s)',
                                         bad.id, bad.status));
        END IF;
        SELECT a.id, a.date INTO bad FROM updated a
        WHERE NOT EXISTS (SELECT 1 FROM ledger_period p WHERE p.id = a.period_id AND p.book_id = a.book_id
                          AND p.status = 'open' AND p.year = a.fiscal_year
                          AND a.date BETWEEN p.start_date AND p.end_date) LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry dated %s: its period must be an open period of its book containing its date', bad.date));
        END IF;
        -- A draft's lines that arrived before it (a posted entry's are checked with its balance; every
        -- line's account, its book and leaf, when the line went in).
        SELECT p.account_id INTO bad FROM updated a JOIN ledger_posting p ON p.entry_id = a.id
        WHERE a.status <> 'posted' AND p.book_id <> a.book_id LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', bad.account_id));
        END IF;
        RETURN NULL;
    END $$
"""

_AWAITING_CHECK_BEFORE = next(sql for sql in _m15._AWAITING if "FUNCTION ledger_lines_awaiting_check" in sql)
_MISSING_BEFORE = """        SELECT x.id INTO bad FROM unnest(NEW.entry_ids) AS x(id)
        WHERE NOT EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.id = x.id)
          AND EXISTS (SELECT 1 FROM ledger_posting p WHERE p.entry_id = x.id) LIMIT 1;"""
# The entries looked for first (all found, usually), their lines only for those missing: the planner took
# the lines first, 22 ms for 5,000 entries where the entries alone take 5.
_MISSING = """        WITH missing AS MATERIALIZED (
            SELECT x.id FROM unnest(NEW.entry_ids) AS x(id)
            WHERE NOT EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.id = x.id))
        SELECT m.id INTO bad FROM missing m
        WHERE EXISTS (SELECT 1 FROM ledger_posting p WHERE p.entry_id = m.id) LIMIT 1;"""
assert _MISSING_BEFORE in _AWAITING_CHECK_BEFORE
_AWAITING_CHECK = _AWAITING_CHECK_BEFORE.replace(_MISSING_BEFORE, _MISSING).replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)

POSTGRES = [_POSTING_CHECK, _LINES, _INSERTED, _AWAITING_CHECK]
POSTGRES_DROP = [
    _AWAITING_CHECK_BEFORE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    _POSTING_CHECK_BEFORE,
    _LINES_BEFORE_ENTRY,
    _INSERTED_BEFORE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0015_lines_await_their_entry")]

    operations = [
        migrations.RunPython(
            run_by_vendor({"sqlite": [], "postgresql": POSTGRES}, "entry checks in fewer passes"),
            run_by_vendor({"sqlite": [], "postgresql": POSTGRES_DROP}, "entry checks in fewer passes"),
        ),
    ]
