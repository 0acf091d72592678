"""SQLite: a voucher inserted posted has its lines read once, for their count, balance and book.

Migration 0013 read an inserted voucher's lines four times (count, sums, book and account's book, leaf).
Each line's account is already checked, as the line goes in, to be a leaf of the line's own book (the
line's guard, whether its voucher exists yet or not), so the voucher needs only its lines' count, sums
and book: one aggregate over them. A draft inserted after its lines (by hand: the application never
does) still has its lines' book checked. PostgreSQL: migration 0016.
"""

from importlib import import_module

from django.db import migrations

from core.migrations_sql import run_by_vendor

_m13 = import_module("ledger.migrations.0013_entries_posted_on_insert")

_INSERT = f"""
    CREATE TRIGGER ledger_entry_guard_insert BEFORE INSERT ON ledger_journalentry
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an entry is inserted as a draft, or posted with its postings already in')
        WHERE NEW.status IS NOT 'draft' AND NEW.status IS NOT 'posted';
        SELECT RAISE(ABORT, 'ledger invariant: the entry''s period must be an open period of its book containing its date')
        WHERE NOT EXISTS {_m13._PERIOD_OPEN};
        SELECT RAISE(ABORT, 'ledger invariant: a posting belongs to its entry''s book and goes to an account of that book')
        WHERE NEW.status IS NOT 'posted'
          AND EXISTS (SELECT 1 FROM ledger_posting p WHERE p.entry_id = NEW.id AND p.book_id IS NOT NEW.book_id);
    END
"""

_LINES_BEFORE = """        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only with at least two postings')
        WHERE (SELECT count(*) FROM ledger_posting WHERE entry_id = NEW.id) < 2;
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only when debits equal credits and are above zero')
        WHERE (SELECT coalesce(sum(debit_fen), 0) <> coalesce(sum(credit_fen), 0) OR coalesce(sum(debit_fen), 0) <= 0
               FROM ledger_posting WHERE entry_id = NEW.id);
"""
_LINES = """        SELECT CASE
            WHEN n < 2 THEN RAISE(ABORT, 'ledger invariant: an entry posts only with at least two postings')
            WHEN dr <> cr OR dr <= 0
                THEN RAISE(ABORT, 'ledger invariant: an entry posts only when debits equal credits and are above zero')
            WHEN foreign_lines
                THEN RAISE(ABORT, 'ledger invariant: a posting belongs to its entry''s book and goes to an account of that book')
            END
        FROM (SELECT count(*) AS n, coalesce(sum(debit_fen), 0) AS dr, coalesce(sum(credit_fen), 0) AS cr,
                     coalesce(max(book_id IS NOT NEW.book_id), 0) AS foreign_lines
              FROM ledger_posting WHERE entry_id = NEW.id);
"""
_POSTED_BEFORE = next(sql for sql in _m13.SQLITE if "ledger_entry_guard_posted_insert BEFORE INSERT" in sql)
_INSERT_BEFORE = next(sql for sql in _m13.SQLITE if "ledger_entry_guard_insert BEFORE INSERT" in sql)
assert _LINES_BEFORE in _POSTED_BEFORE
_POSTED = _POSTED_BEFORE.replace(_LINES_BEFORE, _LINES)

SQLITE = ["DROP TRIGGER ledger_entry_guard_posted_insert", "DROP TRIGGER ledger_entry_guard_insert", _INSERT, _POSTED]
SQLITE_DROP = ["DROP TRIGGER ledger_entry_guard_posted_insert", "DROP TRIGGER ledger_entry_guard_insert",
               _INSERT_BEFORE, _POSTED_BEFORE]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0016_entry_checks_in_fewer_passes")]

    operations = [
        migrations.RunPython(
            run_by_vendor({"sqlite": SQLITE, "postgresql": []}, "entry lines read once"),
            run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": []}, "entry lines read once"),
        ),
        # SQLite fires a table's triggers newest first: the REPLACE guards go after the ones recreated here.
        migrations.RunPython(_m13._no_replace_fires_first, _m13._no_replace_fires_first),
    ]
