"""Every raw-SQL path to the posted books closed, on SQLite and on PostgreSQL (DESIGN.md, "Ledger invariants").

Someone with a database login (the application's connection, the sqlite3 shell, psql) gets these refused:

1. SQLite's REPLACE (INSERT OR REPLACE, UPDATE OR REPLACE, REPLACE INTO) deletes the row it collides with
   and, with recursive_triggers off (the shell's default), fires no DELETE trigger. A BEFORE INSERT and a
   BEFORE UPDATE trigger on every guarded table refuse a row whose primary or unique key collides with an
   existing row, so REPLACE never gets to delete. The balance table is the exception the posting service
   needs: it moves balances with INSERT … ON CONFLICT (account_id, period_id) DO UPDATE, which fires the
   BEFORE INSERT trigger just as REPLACE does. There the trigger notes the row it collides with, and an
   AFTER INSERT trigger (which an upsert turned update never fires) refuses if that row has gone.
   PostgreSQL has no REPLACE; its INSERT … ON CONFLICT DO UPDATE fires the UPDATE triggers.
2. PostgreSQL's TRUNCATE fires no row trigger: a BEFORE TRUNCATE trigger on every guarded table refuses it
   (TRUNCATE … CASCADE fires those of every table it reaches).
3. A period is inserted open, with the dates of its year and month, never into a year already closed.
   Status changes cannot be told apart from the services' by the database, so a trigger records every one
   in ledger_periodstatuschange (append-only); ledger.guards_check compares it with the audit trail.
4. A draft turns posted only numbered next in its book and year, at the next position of its book's chain,
   linked to the entry before (prev_hash = that entry's hash, '' at position 1) and sealed with a
   64-hex-digit hash. PostgreSQL checks it once per statement in ledger_entry_guard_posting (a window
   over the statement's rows and one index lookup per book and year); SQLite row by row, by index lookups.
5. Balances never shrink, move to another account or period, or disappear; a balance row's account and
   period belong to its book. Increases cannot be told from the service's: verify_ledger recomputes them.
6. An account with postings keeps its type and normal side (book, code and parent: migration 0002).
Also, for the sqlite3 shell, where foreign keys are off: a book, account or period the posted books use is
never deleted, and a book's code and chain only move forward.

Beware: on SQLite, a later migration that alters one of these tables rebuilds it and loses its triggers;
tests/ledger/test_database_guards.py checks they are all there.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from core.migrations_sql import run_by_vendor

_people_guard = importlib.import_module("ledger.migrations.0005_posted_entry_names_two_people")

# Guarded tables, their trigger prefix, what the message calls a row, and their unique keys beside the id.
_KEYS = {
    "ledger_journalentry": ("ledger_entry", "an entry", [("book_id", "fiscal_year", "number"), ("book_id", "seq"),
                                                         ("book_id", "idempotency_key"), ("reverses_id",)]),
    "ledger_posting": ("ledger_posting", "a posting", [("entry_id", "line")]),
    "ledger_period": ("ledger_period", "a period", [("book_id", "year", "month")]),
    "ledger_accountbalance": ("ledger_balance", "a balance", [("account_id", "period_id")]),
    "accounts_account": ("ledger_account", "an account", [("book_id", "code")]),
    "accounts_book": ("ledger_book", "a book", [("code",)]),
    "ledger_periodstatuschange": ("ledger_period_history", "a period status change", []),
}


def _collides(table: str, keys, *, other_than_old: bool) -> str:
    # `=` never matches NULL, as a unique index lets NULLs repeat; each test is one index probe.
    tests = [f"EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id)"] if not other_than_old else []
    for key in keys:
        cond = " AND ".join(f"{c} = NEW.{c}" for c in key)
        tests.append(f"EXISTS (SELECT 1 FROM {table} WHERE {cond}{' AND id <> OLD.id' if other_than_old else ''})")
    return "\n           OR ".join(tests)


def _no_replace(table: str) -> list[str]:
    prefix, what, keys = _KEYS[table]
    statements = []
    if table != "ledger_accountbalance":  # its insert trigger is below: the posting service upserts into it
        statements.append(f"""
    CREATE TRIGGER {prefix}_no_replace_insert BEFORE INSERT ON {table}
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: {what} never replaces another (its key is taken; REPLACE is refused)')
        WHERE {_collides(table, keys, other_than_old=False)};
    END""")
    columns = ["id"] + sorted({c for key in keys for c in key})
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)
    collision = (f"""
        SELECT RAISE(ABORT, 'ledger invariant: {what} never replaces another (its key is taken; REPLACE is refused)')
        WHERE {_collides(table, keys, other_than_old=True)};""" if keys else "")
    statements.append(f"""
    CREATE TRIGGER {prefix}_no_replace_update BEFORE UPDATE OF {', '.join(columns)} ON {table}
    FOR EACH ROW WHEN {changed} BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a row''s id never changes')
        WHERE NEW.id IS NOT OLD.id;{collision}
    END""")
    return statements


_POSTED_USE = {
    # What a row is used by in the posted books (checked before the shell, foreign keys off, deletes it).
    "account": "EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = OLD.id)"
               " OR EXISTS (SELECT 1 FROM ledger_accountbalance WHERE account_id = OLD.id)",
    "period": "EXISTS (SELECT 1 FROM ledger_journalentry WHERE period_id = OLD.id AND status = 'posted')"
              " OR EXISTS (SELECT 1 FROM ledger_accountbalance WHERE period_id = OLD.id)"
              " OR EXISTS (SELECT 1 FROM ledger_periodstatuschange WHERE period_id = OLD.id)",
    "book": "EXISTS (SELECT 1 FROM ledger_journalentry WHERE book_id = OLD.id AND status = 'posted')"
            " OR EXISTS (SELECT 1 FROM ledger_accountbalance WHERE book_id = OLD.id)",
}

SQLITE = [
    *[sql for table in _KEYS for sql in _no_replace(table)],
    # -- 4. posting seals the entry into its book ----------------------------------------------------------
    # Row by row: the posting service's UPDATE visits its rows by (book, seq), so each entry's predecessor
    # is posted by the time its turn comes; a statement visiting them in another order is refused, never
    # let through.
    """
    CREATE TRIGGER ledger_entry_guard_seal BEFORE UPDATE OF status ON ledger_journalentry
    FOR EACH ROW WHEN OLD.status = 'draft' AND NEW.status = 'posted' BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only numbered, placed in its book''s chain and sealed (a 64-hex-digit hash)')
        WHERE NEW.number IS NULL OR NEW.number < 1 OR NEW.seq IS NULL OR NEW.seq < 1 OR NEW.posted_at IS NULL
           OR NEW.prev_hash IS NULL OR length(NEW.hash) IS NOT 64 OR NEW.hash GLOB '*[^0-9a-f]*';
        SELECT RAISE(ABORT, 'ledger invariant: a voucher number is the next in its book and year')
        WHERE NEW.number > 1 AND NOT EXISTS (
            SELECT 1 FROM ledger_journalentry e WHERE e.book_id = NEW.book_id AND e.fiscal_year = NEW.fiscal_year
              AND e.number = NEW.number - 1 AND e.status = 'posted');
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts next in its book''s chain, linked to the hash of the entry before')
        WHERE CASE WHEN NEW.seq = 1 THEN NEW.prev_hash IS NOT ''
                   ELSE NOT EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.book_id = NEW.book_id
                                    AND e.seq = NEW.seq - 1 AND e.status = 'posted' AND e.hash = NEW.prev_hash) END;
    END
    """,
    # -- 3. periods ------------------------------------------------------------------------------------------
    """
    CREATE TRIGGER ledger_period_guard_insert BEFORE INSERT ON ledger_period
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a period runs from the first to the last day of its year and month')
        WHERE NEW.month NOT BETWEEN 1 AND 12
           OR NEW.start_date IS NOT printf('%04d-%02d-01', NEW.year, NEW.month)
           OR NEW.end_date IS NOT date(printf('%04d-%02d-01', NEW.year, NEW.month), '+1 month', '-1 day');
        SELECT RAISE(ABORT, 'ledger invariant: a period is opened open; it is closed by the services')
        WHERE NEW.status IS NOT 'open';
        SELECT RAISE(ABORT, 'ledger invariant: no period is added to a year closed for good')
        WHERE EXISTS (SELECT 1 FROM ledger_period WHERE book_id = NEW.book_id AND year = NEW.year AND status = 'final');
    END
    """,
    f"""
    CREATE TRIGGER ledger_period_guard_delete_used BEFORE DELETE ON ledger_period
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a period the posted books use is never deleted')
        WHERE {_POSTED_USE["period"]};
    END
    """,
    """
    CREATE TRIGGER ledger_period_history AFTER UPDATE OF status ON ledger_period
    FOR EACH ROW WHEN NEW.status IS NOT OLD.status BEGIN
        INSERT INTO ledger_periodstatuschange (book_id, period_id, year, month, old_status, new_status, at, db_user)
        VALUES (NEW.book_id, NEW.id, NEW.year, NEW.month, OLD.status, NEW.status,
                strftime('%Y-%m-%d %H:%M:%f', 'now'), '');
    END
    """,
    # The history is append-only, and a row added by hand must at least tell the truth about the period now.
    """
    CREATE TRIGGER ledger_period_history_guard_insert BEFORE INSERT ON ledger_periodstatuschange
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a period status change records the period as it now is')
        WHERE NEW.old_status IS NEW.new_status OR NOT EXISTS (
            SELECT 1 FROM ledger_period p WHERE p.id = NEW.period_id AND p.book_id = NEW.book_id
              AND p.year = NEW.year AND p.month = NEW.month AND p.status = NEW.new_status);
    END
    """,
    """
    CREATE TRIGGER ledger_period_history_guard_update BEFORE UPDATE ON ledger_periodstatuschange
    BEGIN SELECT RAISE(ABORT, 'ledger invariant: the period status history is append-only'); END
    """,
    """
    CREATE TRIGGER ledger_period_history_guard_delete BEFORE DELETE ON ledger_periodstatuschange
    BEGIN SELECT RAISE(ABORT, 'ledger invariant: the period status history is append-only'); END
    """,
    # -- 5. balances -----------------------------------------------------------------------------------------
    # Rows of the balance table a statement is about to collide with. Empty between statements.
    "CREATE TABLE ledger_balance_replace_watch (balance_id integer NOT NULL)",
    """
    CREATE TRIGGER ledger_balance_guard_insert BEFORE INSERT ON ledger_accountbalance
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a balance never replaces another (its key is taken; REPLACE is refused)')
        WHERE EXISTS (SELECT 1 FROM ledger_accountbalance WHERE id = NEW.id);
        SELECT RAISE(ABORT, 'ledger invariant: a balance is of an account and a period of its own book')
        WHERE NEW.book_id IS NOT (SELECT book_id FROM accounts_account WHERE id = NEW.account_id)
           OR NEW.book_id IS NOT (SELECT book_id FROM ledger_period WHERE id = NEW.period_id);
        SELECT RAISE(ABORT, 'ledger invariant: balances only grow from zero')
        WHERE NEW.debit_fen < 0 OR NEW.credit_fen < 0;
        INSERT INTO ledger_balance_replace_watch (balance_id)
        SELECT id FROM ledger_accountbalance WHERE account_id = NEW.account_id AND period_id = NEW.period_id;
    END
    """,
    # Fired by a real insert only: an upsert turned update never gets here, REPLACE does.
    """
    CREATE TRIGGER ledger_balance_guard_replaced AFTER INSERT ON ledger_accountbalance
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a balance never replaces another (REPLACE is refused)')
        WHERE EXISTS (SELECT 1 FROM ledger_balance_replace_watch w
                      WHERE NOT EXISTS (SELECT 1 FROM ledger_accountbalance b WHERE b.id = w.balance_id));
        DELETE FROM ledger_balance_replace_watch;
    END
    """,
    """
    CREATE TRIGGER ledger_balance_guard_update BEFORE UPDATE ON ledger_accountbalance
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a balance keeps its book, account and period')
        WHERE NEW.id IS NOT OLD.id OR NEW.book_id IS NOT OLD.book_id OR NEW.account_id IS NOT OLD.account_id
           OR NEW.period_id IS NOT OLD.period_id;
        SELECT RAISE(ABORT, 'ledger invariant: balances only grow (postings are never removed; reversals add to the other side)')
        WHERE NEW.debit_fen < OLD.debit_fen OR NEW.credit_fen < OLD.credit_fen;
    END
    """,
    """
    CREATE TRIGGER ledger_balance_guard_updated AFTER UPDATE ON ledger_accountbalance
    FOR EACH ROW BEGIN
        DELETE FROM ledger_balance_replace_watch WHERE balance_id = OLD.id;
    END
    """,
    """
    CREATE TRIGGER ledger_balance_guard_delete BEFORE DELETE ON ledger_accountbalance
    BEGIN SELECT RAISE(ABORT, 'ledger invariant: a balance never disappears'); END
    """,
    # -- 6. accounts and books -----------------------------------------------------------------------------
    """
    CREATE TRIGGER ledger_account_guard_kind BEFORE UPDATE OF type, normal_side ON accounts_account
    FOR EACH ROW WHEN NEW.type IS NOT OLD.type OR NEW.normal_side IS NOT OLD.normal_side BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an account with postings keeps its type and normal side')
        WHERE EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = OLD.id)
           OR EXISTS (SELECT 1 FROM ledger_accountbalance WHERE account_id = OLD.id);
    END
    """,
    f"""
    CREATE TRIGGER ledger_account_guard_delete BEFORE DELETE ON accounts_account
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an account with postings is never deleted')
        WHERE {_POSTED_USE["account"]};
    END
    """,
    """
    CREATE TRIGGER ledger_book_guard_update BEFORE UPDATE ON accounts_book
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a book with posted entries keeps its code (its chain is sealed over it)')
        WHERE NEW.code IS NOT OLD.code
          AND EXISTS (SELECT 1 FROM ledger_journalentry WHERE book_id = OLD.id AND status = 'posted');
        SELECT RAISE(ABORT, 'ledger invariant: a book''s chain only grows')
        WHERE NEW.chain_length < OLD.chain_length
           OR (NEW.chain_length = OLD.chain_length AND NEW.chain_head IS NOT OLD.chain_head);
    END
    """,
    f"""
    CREATE TRIGGER ledger_book_guard_delete BEFORE DELETE ON accounts_book
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a book with posted entries is never deleted')
        WHERE {_POSTED_USE["book"]};
    END
    """,
]

SQLITE_TRIGGERS = [
    *[f"{_KEYS[t][0]}_no_replace_{op}" for t in _KEYS for op in ("insert", "update")
      if not (t == "ledger_accountbalance" and op == "insert")],
    "ledger_entry_guard_seal", "ledger_period_guard_insert", "ledger_period_guard_delete_used",
    "ledger_period_history", "ledger_period_history_guard_insert", "ledger_period_history_guard_update",
    "ledger_period_history_guard_delete", "ledger_balance_guard_insert", "ledger_balance_guard_replaced",
    "ledger_balance_guard_update", "ledger_balance_guard_updated", "ledger_balance_guard_delete",
    "ledger_account_guard_kind", "ledger_account_guard_delete", "ledger_book_guard_update",
    "ledger_book_guard_delete",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS] + [
    "DROP TABLE IF EXISTS ledger_balance_replace_watch"]

# -- PostgreSQL ------------------------------------------------------------------------------------------

_TRUNCATE_GUARDED = {
    "ledger_journalentry": "ledger_entry_no_truncate",
    "ledger_posting": "ledger_posting_no_truncate",
    "ledger_period": "ledger_period_no_truncate",
    "ledger_accountbalance": "ledger_balance_no_truncate",
    "ledger_periodstatuschange": "ledger_period_history_no_truncate",
    "accounts_account": "ledger_account_no_truncate",
    "accounts_book": "ledger_book_no_truncate",
}

# Checked once per statement over the entries it turned posted (the row trigger refuses touching an entry
# posted before, so every posted row here was a draft): each book's new numbers per year and new chain
# positions run on without a gap inside the statement (a window over its rows), and each run's first one
# follows the last posted before it — one lookup per book (and year) in the unique indexes on
# (book, fiscal_year, number) and (book, seq), never a count.
_SEAL = """
        SELECT a.id INTO bad FROM updated a
        WHERE a.status = 'posted'
          AND (a.number IS NULL OR a.number < 1 OR a.seq IS NULL OR a.seq < 1 OR a.posted_at IS NULL
               OR a.prev_hash IS NULL OR a.hash IS NULL OR a.hash !~ '^[0-9a-f]{64}$')
        LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s posts only numbered, placed in its book''s chain and sealed (a 64-hex-digit hash)', bad.id));
        END IF;
        SELECT x.id, x.number INTO bad FROM (
            SELECT a.id, a.number, lag(a.number) OVER (PARTITION BY a.book_id, a.fiscal_year ORDER BY a.number) AS before
            FROM updated a WHERE a.status = 'posted') x
        WHERE x.before IS NOT NULL AND x.number <> x.before + 1
        LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s: voucher number %s is not the next in its book and year', bad.id, bad.number));
        END IF;
        FOR first IN SELECT a.book_id, a.fiscal_year, min(a.number) AS number FROM updated a
                     WHERE a.status = 'posted' GROUP BY a.book_id, a.fiscal_year LOOP
            IF first.number > 1 AND NOT EXISTS (
                SELECT 1 FROM ledger_journalentry e WHERE e.book_id = first.book_id
                  AND e.fiscal_year = first.fiscal_year AND e.number = first.number - 1 AND e.status = 'posted') THEN
                PERFORM ledger_refuse(format('voucher number %s of %s is not the next in its book and year (no posted %s before it)',
                                             first.number, first.fiscal_year, first.number - 1));
            END IF;
        END LOOP;
        SELECT x.id, x.seq INTO bad FROM (
            SELECT a.id, a.seq, a.prev_hash, lag(a.seq) OVER w AS before_seq, lag(a.hash) OVER w AS before_hash
            FROM updated a WHERE a.status = 'posted'
            WINDOW w AS (PARTITION BY a.book_id ORDER BY a.seq)) x
        WHERE x.before_seq IS NOT NULL AND (x.seq <> x.before_seq + 1 OR x.prev_hash <> x.before_hash)
        LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s at chain position %s does not follow the entry before it (position and hash)', bad.id, bad.seq));
        END IF;
        FOR first IN SELECT DISTINCT ON (a.book_id) a.id, a.book_id, a.seq, a.prev_hash FROM updated a
                     WHERE a.status = 'posted' ORDER BY a.book_id, a.seq LOOP
            IF (first.seq = 1 AND first.prev_hash <> '') OR (first.seq > 1 AND NOT EXISTS (
                SELECT 1 FROM ledger_journalentry e WHERE e.book_id = first.book_id AND e.seq = first.seq - 1
                  AND e.status = 'posted' AND e.hash = first.prev_hash)) THEN
                PERFORM ledger_refuse(format('entry %s at chain position %s is not linked to the hash of the posted entry before it',
                                             first.id, first.seq));
            END IF;
        END LOOP;
"""
_POSTING_CHECK = _people_guard._POSTING_CHECK.replace("bad record;", "bad record;\n        first record;")

POSTGRES = [
    # -- 2. TRUNCATE -------------------------------------------------------------------------------------------
    """
    CREATE FUNCTION ledger_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM ledger_refuse(format('%s is never truncated: the books are corrected by reversals, never emptied', TG_TABLE_NAME));
        RETURN NULL;
    END $$
    """,
    *[f"CREATE TRIGGER {name} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate()"
      for table, name in _TRUNCATE_GUARDED.items()],
    # -- 4. posting seals the entry into its book ------------------------------------------------------------
    _POSTING_CHECK.replace("%(people)s", _people_guard._PEOPLE + _SEAL),
    # -- 3. periods ----------------------------------------------------------------------------------------------
    """
    CREATE FUNCTION ledger_period_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.month NOT BETWEEN 1 AND 12
           OR NEW.start_date IS DISTINCT FROM make_date(NEW.year, NEW.month, 1)
           OR NEW.end_date IS DISTINCT FROM (make_date(NEW.year, NEW.month, 1) + interval '1 month - 1 day')::date THEN
            PERFORM ledger_refuse(format('period %s-%s runs from the first to the last day of its year and month (not %s to %s)',
                                         NEW.year, NEW.month, NEW.start_date, NEW.end_date));
        END IF;
        IF NEW.status IS DISTINCT FROM 'open' THEN
            PERFORM ledger_refuse(format('period %s-%s is opened open; it is closed by the services', NEW.year, NEW.month));
        END IF;
        IF EXISTS (SELECT 1 FROM ledger_period WHERE book_id = NEW.book_id AND year = NEW.year AND status = 'final') THEN
            PERFORM ledger_refuse(format('no period is added to year %s, closed for good', NEW.year));
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_period_guard_insert BEFORE INSERT ON ledger_period
    FOR EACH ROW EXECUTE FUNCTION ledger_period_guard_insert()
    """,
    """
    CREATE FUNCTION ledger_period_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO ledger_periodstatuschange (book_id, period_id, year, month, old_status, new_status, at, db_user)
        VALUES (NEW.book_id, NEW.id, NEW.year, NEW.month, OLD.status, NEW.status, clock_timestamp(), session_user);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_period_history AFTER UPDATE ON ledger_period
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION ledger_period_history()
    """,
    # Written only by the trigger above (depth 2: the period's trigger, then this one), never changed.
    """
    CREATE FUNCTION ledger_period_history_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' OR pg_trigger_depth() < 2 THEN
            PERFORM ledger_refuse('the period status history is append-only and written by the period''s own trigger');
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_period_history_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_periodstatuschange
    FOR EACH ROW EXECUTE FUNCTION ledger_period_history_guard()
    """,
    # -- 5. balances ---------------------------------------------------------------------------------------------
    # Few rows a batch (one per account and period it touches), so a row trigger costs nothing noticeable.
    """
    CREATE FUNCTION ledger_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM ledger_refuse(format('the balance of account %s in period %s never disappears', OLD.account_id, OLD.period_id));
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF (NEW.id, NEW.book_id, NEW.account_id, NEW.period_id)
               IS DISTINCT FROM (OLD.id, OLD.book_id, OLD.account_id, OLD.period_id) THEN
                PERFORM ledger_refuse('a balance keeps its book, account and period');
            END IF;
            IF NEW.debit_fen < OLD.debit_fen OR NEW.credit_fen < OLD.credit_fen THEN
                PERFORM ledger_refuse(format('the balance of account %s in period %s only grows (postings are never removed; reversals add to the other side)',
                                             OLD.account_id, OLD.period_id));
            END IF;
            RETURN NEW;
        END IF;
        IF NEW.book_id IS DISTINCT FROM (SELECT book_id FROM accounts_account WHERE id = NEW.account_id)
           OR NEW.book_id IS DISTINCT FROM (SELECT book_id FROM ledger_period WHERE id = NEW.period_id) THEN
            PERFORM ledger_refuse(format('a balance is of an account and a period of its own book (account %s, period %s)',
                                         NEW.account_id, NEW.period_id));
        END IF;
        IF NEW.debit_fen < 0 OR NEW.credit_fen < 0 THEN
            PERFORM ledger_refuse('balances only grow from zero');
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_balance_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_accountbalance
    FOR EACH ROW EXECUTE FUNCTION ledger_balance_guard()
    """,
    # -- 6. accounts and books -----------------------------------------------------------------------------
    """
    CREATE FUNCTION ledger_account_guard_kind() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = OLD.id)
           OR EXISTS (SELECT 1 FROM ledger_accountbalance WHERE account_id = OLD.id) THEN
            PERFORM ledger_refuse(format('account %s has postings and keeps its type and normal side', OLD.code));
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_account_guard_kind BEFORE UPDATE ON accounts_account
    FOR EACH ROW WHEN ((NEW.type, NEW.normal_side) IS DISTINCT FROM (OLD.type, OLD.normal_side))
    EXECUTE FUNCTION ledger_account_guard_kind()
    """,
    """
    CREATE FUNCTION ledger_book_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.code IS DISTINCT FROM OLD.code
           AND EXISTS (SELECT 1 FROM ledger_journalentry WHERE book_id = OLD.id AND status = 'posted') THEN
            PERFORM ledger_refuse(format('book %s has posted entries and keeps its code (its chain is sealed over it)', OLD.code));
        END IF;
        IF NEW.chain_length < OLD.chain_length
           OR (NEW.chain_length = OLD.chain_length AND NEW.chain_head IS DISTINCT FROM OLD.chain_head) THEN
            PERFORM ledger_refuse(format('the chain of book %s only grows', OLD.code));
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_book_guard BEFORE UPDATE ON accounts_book
    FOR EACH ROW EXECUTE FUNCTION ledger_book_guard()
    """,
]

POSTGRES_TRIGGERS = {
    **{name: table for table, name in _TRUNCATE_GUARDED.items()},
    "ledger_period_guard_insert": "ledger_period",
    "ledger_period_history": "ledger_period",
    "ledger_period_history_guard": "ledger_periodstatuschange",
    "ledger_balance_guard": "ledger_accountbalance",
    "ledger_account_guard_kind": "accounts_account",
    "ledger_book_guard": "accounts_book",
}
POSTGRES_DROP = [
    *[f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in POSTGRES_TRIGGERS.items()],
    *[f"DROP FUNCTION IF EXISTS {name}()" for name in (
        "ledger_refuse_truncate", "ledger_period_guard_insert", "ledger_period_history",
        "ledger_period_history_guard", "ledger_balance_guard", "ledger_account_guard_kind", "ledger_book_guard")],
    # The posting check as migration 0005 left it.
    *_people_guard.POSTGRES,
]


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0005_posted_entry_names_two_people"),
        ("accounts", "0002_verbose_names"),
    ]

    operations = [
        # A new table: no existing table is altered, so no SQLite table is rebuilt (which would drop its triggers).
        migrations.CreateModel(
            name="PeriodStatusChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("year", models.PositiveSmallIntegerField(verbose_name="year")),
                ("month", models.PositiveSmallIntegerField(verbose_name="month")),
                ("old_status", models.CharField(max_length=8, verbose_name="status before")),
                ("new_status", models.CharField(max_length=8, verbose_name="status after")),
                ("at", models.DateTimeField(verbose_name="changed at")),
                ("db_user", models.CharField(blank=True, default="", max_length=150, verbose_name="database user")),
                ("book", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                           to="accounts.book", verbose_name="book")),
                ("period", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                             related_name="status_changes", to="ledger.period",
                                             verbose_name="period")),
            ],
            options={
                "verbose_name": "period status change",
                "verbose_name_plural": "period status changes",
                "ordering": ["book", "year", "month", "id"],
            },
        ),
        migrations.RunPython(
            run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "ledger raw-SQL guards"),
            run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "ledger raw-SQL guards"),
        ),
    ]
