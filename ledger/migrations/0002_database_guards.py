"""Ledger invariants 1–3 held by the database itself (DESIGN.md).

1. An entry posts only with ≥2 postings, each one-sided and positive (CHECK), and
   Σdebit = Σcredit > 0 — checked when its status turns from draft to posted.
2. A posted entry and its postings never change or disappear.
3. Nothing is entered or posted into a period that is not open.
Also: postings go to leaf accounts of the entry's own book; an account that has
postings keeps its book, code and parent; a year-closed (final) period stays final.

SQLite and PostgreSQL get the same rules in their own dialects.

Beware: on SQLite, a later migration that alters one of these tables rebuilds it and
loses its triggers; tests/ledger/test_database_guards.py checks they are all there.
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

SQLITE = [
    # -- postings ---------------------------------------------------------
    """
    CREATE TRIGGER ledger_posting_guard_insert BEFORE INSERT ON ledger_posting
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: postings are added only to a draft entry')
        WHERE (SELECT status FROM ledger_journalentry WHERE id = NEW.entry_id) IS NOT 'draft';
        SELECT RAISE(ABORT, 'ledger invariant: a posting belongs to its entry''s book and goes to an account of that book')
        WHERE NEW.book_id IS NOT (SELECT book_id FROM ledger_journalentry WHERE id = NEW.entry_id)
           OR NEW.book_id IS NOT (SELECT book_id FROM accounts_account WHERE id = NEW.account_id);
        SELECT RAISE(ABORT, 'ledger invariant: postings go to leaf accounts only')
        WHERE EXISTS (SELECT 1 FROM accounts_account WHERE parent_id = NEW.account_id);
    END
    """,
    """
    CREATE TRIGGER ledger_posting_guard_update BEFORE UPDATE ON ledger_posting
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: postings of a posted entry never change')
        WHERE (SELECT status FROM ledger_journalentry WHERE id = OLD.entry_id) IS NOT 'draft'
           OR (SELECT status FROM ledger_journalentry WHERE id = NEW.entry_id) IS NOT 'draft';
        SELECT RAISE(ABORT, 'ledger invariant: a posting belongs to its entry''s book and goes to an account of that book')
        WHERE NEW.book_id IS NOT (SELECT book_id FROM ledger_journalentry WHERE id = NEW.entry_id)
           OR NEW.book_id IS NOT (SELECT book_id FROM accounts_account WHERE id = NEW.account_id);
        SELECT RAISE(ABORT, 'ledger invariant: postings go to leaf accounts only')
        WHERE EXISTS (SELECT 1 FROM accounts_account WHERE parent_id = NEW.account_id);
    END
    """,
    """
    CREATE TRIGGER ledger_posting_guard_delete BEFORE DELETE ON ledger_posting
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: postings of a posted entry never disappear')
        WHERE (SELECT status FROM ledger_journalentry WHERE id = OLD.entry_id) = 'posted';
    END
    """,
    # -- entries ----------------------------------------------------------
    """
    CREATE TRIGGER ledger_entry_guard_insert BEFORE INSERT ON ledger_journalentry
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an entry is inserted as a draft and posted once its postings are in')
        WHERE NEW.status IS NOT 'draft';
        SELECT RAISE(ABORT, 'ledger invariant: the entry''s period must be an open period of its book containing its date')
        WHERE NOT EXISTS (SELECT 1 FROM ledger_period p WHERE p.id = NEW.period_id AND p.book_id = NEW.book_id
                          AND p.status = 'open' AND p.year = NEW.fiscal_year
                          AND NEW.date BETWEEN p.start_date AND p.end_date);
    END
    """,
    """
    CREATE TRIGGER ledger_entry_guard_update BEFORE UPDATE ON ledger_journalentry
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a posted entry never changes; correct it with a reversal')
        WHERE OLD.status = 'posted';
        SELECT RAISE(ABORT, 'ledger invariant: the entry''s period must be an open period of its book containing its date')
        WHERE NOT EXISTS (SELECT 1 FROM ledger_period p WHERE p.id = NEW.period_id AND p.book_id = NEW.book_id
                          AND p.status = 'open' AND p.year = NEW.fiscal_year
                          AND NEW.date BETWEEN p.start_date AND p.end_date);
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only with at least two postings')
        WHERE NEW.status = 'posted' AND (SELECT count(*) FROM ledger_posting WHERE entry_id = NEW.id) < 2;
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only when debits equal credits and are above zero')
        WHERE NEW.status = 'posted' AND (
            SELECT coalesce(sum(debit_fen), 0) <> coalesce(sum(credit_fen), 0) OR coalesce(sum(debit_fen), 0) <= 0
            FROM ledger_posting WHERE entry_id = NEW.id);
    END
    """,
    """
    CREATE TRIGGER ledger_entry_guard_delete BEFORE DELETE ON ledger_journalentry
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a posted entry never disappears')
        WHERE OLD.status = 'posted';
    END
    """,
    # -- periods and accounts --------------------------------------------------
    """
    CREATE TRIGGER ledger_period_guard_update BEFORE UPDATE ON ledger_period
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a period closed with its year is final')
        WHERE OLD.status = 'final';
        SELECT RAISE(ABORT, 'ledger invariant: a period keeps its book, year and dates')
        WHERE NEW.book_id IS NOT OLD.book_id OR NEW.year IS NOT OLD.year OR NEW.month IS NOT OLD.month
           OR NEW.start_date IS NOT OLD.start_date OR NEW.end_date IS NOT OLD.end_date;
    END
    """,
    """
    CREATE TRIGGER ledger_period_guard_delete BEFORE DELETE ON ledger_period
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a closed period is never deleted')
        WHERE OLD.status IS NOT 'open';
    END
    """,
    """
    CREATE TRIGGER ledger_account_guard_insert BEFORE INSERT ON accounts_account
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a sub-account belongs to its parent''s book')
        WHERE NEW.parent_id IS NOT NULL
          AND (SELECT book_id FROM accounts_account WHERE id = NEW.parent_id) IS NOT NEW.book_id;
        SELECT RAISE(ABORT, 'ledger invariant: an account with postings cannot take sub-accounts')
        WHERE NEW.parent_id IS NOT NULL AND EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = NEW.parent_id);
    END
    """,
    """
    CREATE TRIGGER ledger_account_guard_update BEFORE UPDATE ON accounts_account
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an account with postings keeps its book, code and parent')
        WHERE (NEW.book_id IS NOT OLD.book_id OR NEW.code IS NOT OLD.code OR NEW.parent_id IS NOT OLD.parent_id)
          AND EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = OLD.id);
        SELECT RAISE(ABORT, 'ledger invariant: an account with postings cannot take sub-accounts')
        WHERE NEW.parent_id IS NOT NULL AND NEW.parent_id IS NOT OLD.parent_id
          AND EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = NEW.parent_id);
    END
    """,
]

SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "ledger_posting_guard_insert", "ledger_posting_guard_update", "ledger_posting_guard_delete",
        "ledger_entry_guard_insert", "ledger_entry_guard_update", "ledger_entry_guard_delete",
        "ledger_period_guard_update", "ledger_period_guard_delete",
        "ledger_account_guard_insert", "ledger_account_guard_update",
    )
]

POSTGRES = [
    # Room on each page so posting (draft → posted) is a heap-only update that
    # rewrites no index entry.
    "ALTER TABLE ledger_journalentry SET (fillfactor = 80)",
    """
    CREATE FUNCTION ledger_refuse(msg text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = 'ledger invariant: ' || msg;
    END $$
    """,
    # -- postings ---------------------------------------------------------
    # Inserts are checked once per statement over all inserted rows (a COPY of
    # 50,000 postings is one set-based check, not 150,000 lookups); the rare
    # update or delete is checked row by row.
    """
    CREATE FUNCTION ledger_posting_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT n.entry_id, e.status INTO bad FROM inserted n LEFT JOIN ledger_journalentry e ON e.id = n.entry_id
        WHERE e.status IS DISTINCT FROM 'draft' LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('postings are added only to a draft entry (entry %s is %s)',
                                         bad.entry_id, coalesce(bad.status, 'missing')));
        END IF;
        SELECT n.account_id INTO bad FROM inserted n
        JOIN ledger_journalentry e ON e.id = n.entry_id
        LEFT JOIN accounts_account a ON a.id = n.account_id
        WHERE n.book_id IS DISTINCT FROM e.book_id OR a.book_id IS DISTINCT FROM e.book_id LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', bad.account_id));
        END IF;
        SELECT n.account_id INTO bad FROM inserted n
        WHERE EXISTS (SELECT 1 FROM accounts_account c WHERE c.parent_id = n.account_id) LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('account %s has sub-accounts; postings go to leaf accounts only', bad.account_id));
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_posting_guard_insert AFTER INSERT ON ledger_posting
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_guard_insert()
    """,
    """
    CREATE FUNCTION ledger_posting_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        entry_status text;
        entry_book bigint;
        account_book bigint;
    BEGIN
        SELECT status INTO entry_status FROM ledger_journalentry WHERE id = OLD.entry_id;
        IF entry_status = 'posted' THEN
            PERFORM ledger_refuse(format('postings of posted entry %s never change or disappear', OLD.entry_id));
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        SELECT status, book_id INTO entry_status, entry_book FROM ledger_journalentry WHERE id = NEW.entry_id;
        IF entry_status IS DISTINCT FROM 'draft' THEN
            PERFORM ledger_refuse(format('postings of posted entry %s never change', NEW.entry_id));
        END IF;
        SELECT book_id INTO account_book FROM accounts_account WHERE id = NEW.account_id;
        IF NEW.book_id IS DISTINCT FROM entry_book OR account_book IS DISTINCT FROM entry_book THEN
            PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', NEW.account_id));
        END IF;
        IF EXISTS (SELECT 1 FROM accounts_account WHERE parent_id = NEW.account_id) THEN
            PERFORM ledger_refuse(format('account %s has sub-accounts; postings go to leaf accounts only', NEW.account_id));
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_posting_guard BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_guard()
    """,
    # -- entries ----------------------------------------------------------
    """
    CREATE FUNCTION ledger_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status = 'posted' THEN
                PERFORM ledger_refuse(format('posted entry %s never disappears', OLD.id));
            END IF;
            RETURN OLD;
        END IF;
        IF TG_OP = 'INSERT' AND NEW.status <> 'draft' THEN
            PERFORM ledger_refuse('an entry is inserted as a draft and posted once its postings are in');
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.status = 'posted' THEN
            PERFORM ledger_refuse(format('posted entry %s never changes; correct it with a reversal', OLD.id));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM ledger_period p WHERE p.id = NEW.period_id AND p.book_id = NEW.book_id
                       AND p.status = 'open' AND p.year = NEW.fiscal_year
                       AND NEW.date BETWEEN p.start_date AND p.end_date) THEN
            PERFORM ledger_refuse(format('entry dated %s: its period must be an open period of its book containing its date', NEW.date));
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_entry_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_guard()
    """,
    # Balance is checked once per statement over every entry it turned posted
    # (the row trigger above already refused any change to an entry posted before).
    """
    CREATE FUNCTION ledger_entry_guard_posting() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT a.id, count(p.id) AS n, coalesce(sum(p.debit_fen), 0) AS dr, coalesce(sum(p.credit_fen), 0) AS cr
        INTO bad
        FROM updated a LEFT JOIN ledger_posting p ON p.entry_id = a.id
        WHERE a.status = 'posted'
        GROUP BY a.id
        HAVING count(p.id) < 2 OR coalesce(sum(p.debit_fen), 0) <> coalesce(sum(p.credit_fen), 0)
            OR coalesce(sum(p.debit_fen), 0) <= 0
        LIMIT 1;
        IF FOUND THEN
            IF bad.n < 2 THEN
                PERFORM ledger_refuse(format('entry %s posts only with at least two postings (has %s)', bad.id, bad.n));
            END IF;
            PERFORM ledger_refuse(format('entry %s posts only when debits equal credits above zero (debit %s fen, credit %s fen)', bad.id, bad.dr, bad.cr));
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_entry_guard_posting AFTER UPDATE ON ledger_journalentry
    REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_guard_posting()
    """,
    # -- periods and accounts --------------------------------------------------
    """
    CREATE FUNCTION ledger_period_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status <> 'open' THEN
                PERFORM ledger_refuse(format('closed period %s-%s is never deleted', OLD.year, OLD.month));
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status = 'final' THEN
            PERFORM ledger_refuse(format('period %s-%s was closed with its year and is final', OLD.year, OLD.month));
        END IF;
        IF (NEW.book_id, NEW.year, NEW.month, NEW.start_date, NEW.end_date)
           IS DISTINCT FROM (OLD.book_id, OLD.year, OLD.month, OLD.start_date, OLD.end_date) THEN
            PERFORM ledger_refuse('a period keeps its book, year and dates');
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_period_guard BEFORE UPDATE OR DELETE ON ledger_period
    FOR EACH ROW EXECUTE FUNCTION ledger_period_guard()
    """,
    """
    CREATE FUNCTION ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.parent_id IS NOT NULL THEN
            IF (SELECT book_id FROM accounts_account WHERE id = NEW.parent_id) IS DISTINCT FROM NEW.book_id THEN
                PERFORM ledger_refuse(format('sub-account %s belongs to its parent''s book', NEW.code));
            END IF;
            IF (TG_OP = 'INSERT' OR NEW.parent_id IS DISTINCT FROM OLD.parent_id)
               AND EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = NEW.parent_id) THEN
                PERFORM ledger_refuse(format('account %s has postings and cannot take sub-accounts', NEW.parent_id));
            END IF;
        END IF;
        IF TG_OP = 'UPDATE'
           AND (NEW.book_id, NEW.code, NEW.parent_id) IS DISTINCT FROM (OLD.book_id, OLD.code, OLD.parent_id)
           AND EXISTS (SELECT 1 FROM ledger_posting WHERE account_id = OLD.id) THEN
            PERFORM ledger_refuse(format('account %s has postings and keeps its book, code and parent', OLD.code));
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER ledger_account_guard BEFORE INSERT OR UPDATE ON accounts_account
    FOR EACH ROW EXECUTE FUNCTION ledger_account_guard()
    """,
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS ledger_entry_guard_posting ON ledger_journalentry",
    "DROP TRIGGER IF EXISTS ledger_posting_guard_insert ON ledger_posting",
    "DROP FUNCTION IF EXISTS ledger_entry_guard_posting()",
    "DROP FUNCTION IF EXISTS ledger_posting_guard_insert()",
    "DROP TRIGGER IF EXISTS ledger_account_guard ON accounts_account",
    "DROP TRIGGER IF EXISTS ledger_period_guard ON ledger_period",
    "DROP TRIGGER IF EXISTS ledger_entry_guard ON ledger_journalentry",
    "DROP TRIGGER IF EXISTS ledger_posting_guard ON ledger_posting",
    "DROP FUNCTION IF EXISTS ledger_account_guard()",
    "DROP FUNCTION IF EXISTS ledger_period_guard()",
    "DROP FUNCTION IF EXISTS ledger_entry_guard()",
    "DROP FUNCTION IF EXISTS ledger_posting_guard()",
    "DROP FUNCTION IF EXISTS ledger_refuse(text)",
    "ALTER TABLE ledger_journalentry RESET (fillfactor)",
]


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "ledger guards"),
            run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "ledger guards"),
        ),
    ]
