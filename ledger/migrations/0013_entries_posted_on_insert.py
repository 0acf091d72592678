"""A batch of new vouchers is written posted in one pass: its lines first, then the entries, each entry
checked by the database as it arrives (issue 16: posting at a bare insert's speed).

Until now an entry was inserted as a draft, its postings added, and the entries turned posted by an UPDATE:
every voucher written twice, with every index of the table. Now the posting service reserves the entries'
ids, inserts their postings (the entry does not exist yet: the foreign key is checked at commit, so a line
whose entry never comes refuses the commit), then inserts the entries as posted. On that insert the
database checks what it checked when a draft turned posted — at least two lines, debits equal credits
above zero, two different people, numbered next in its book and year and in its month, next in its book's
chain, sealed, period open — and now also the lines' book and accounts, which the lines' own insert could
not check without their entry. Drafts (prepared in the admin) still turn posted by an UPDATE, checked as
before.

PostgreSQL runs every insert check once per statement over the inserted entries, set-based: the posted
checks are the same functions as the UPDATE's (whose transition table is also named `updated`), and the
status and open-period checks move there from the row trigger, which now guards updates and deletes only.
The entries' fillfactor of 80 (room for the draft → posted update) goes back to 100. SQLite checks each
row before it is inserted, seeing the earlier rows of the same statement.
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

_PERIOD_OPEN = """(SELECT 1 FROM ledger_period p WHERE p.id = NEW.period_id AND p.book_id = NEW.book_id
                          AND p.status = 'open' AND p.year = NEW.fiscal_year
                          AND NEW.date BETWEEN p.start_date AND p.end_date)"""

SQLITE = [
    "DROP TRIGGER ledger_entry_guard_insert",
    f"""
    CREATE TRIGGER ledger_entry_guard_insert BEFORE INSERT ON ledger_journalentry
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an entry is inserted as a draft, or posted with its postings already in')
        WHERE NEW.status IS NOT 'draft' AND NEW.status IS NOT 'posted';
        SELECT RAISE(ABORT, 'ledger invariant: the entry''s period must be an open period of its book containing its date')
        WHERE NOT EXISTS {_PERIOD_OPEN};
        SELECT RAISE(ABORT, 'ledger invariant: a posting belongs to its entry''s book and goes to an account of that book')
        WHERE EXISTS (SELECT 1 FROM ledger_posting p LEFT JOIN accounts_account c ON c.id = p.account_id
                      WHERE p.entry_id = NEW.id AND (p.book_id IS NOT NEW.book_id OR c.book_id IS NOT NEW.book_id));
        SELECT RAISE(ABORT, 'ledger invariant: postings go to leaf accounts only')
        WHERE EXISTS (SELECT 1 FROM ledger_posting p WHERE p.entry_id = NEW.id
                      AND EXISTS (SELECT 1 FROM accounts_account c WHERE c.parent_id = p.account_id));
    END
    """,
    """
    CREATE TRIGGER ledger_entry_guard_posted_insert BEFORE INSERT ON ledger_journalentry
    FOR EACH ROW WHEN NEW.status = 'posted' BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only with at least two postings')
        WHERE (SELECT count(*) FROM ledger_posting WHERE entry_id = NEW.id) < 2;
        SELECT RAISE(ABORT, 'ledger invariant: an entry posts only when debits equal credits and are above zero')
        WHERE (SELECT coalesce(sum(debit_fen), 0) <> coalesce(sum(credit_fen), 0) OR coalesce(sum(debit_fen), 0) <= 0
               FROM ledger_posting WHERE entry_id = NEW.id);
        SELECT RAISE(ABORT, 'ledger invariant: a posted entry names its maker and a different reviewer')
        WHERE NEW.made_by_id IS NULL OR NEW.reviewed_by_id IS NULL OR NEW.made_by_id = NEW.reviewed_by_id;
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
        SELECT RAISE(ABORT, 'ledger invariant: a voucher posts with a number in its month')
        WHERE NEW.month_number IS NULL OR NEW.month_number < 1;
        SELECT RAISE(ABORT, 'ledger invariant: a voucher number is the next in its month, dated no earlier than the one before')
        WHERE CASE WHEN NEW.month_number = 1
                   THEN EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.period_id = NEW.period_id
                                AND e.status = 'posted' AND e.month_number IS NOT NULL)
                   ELSE NOT EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.period_id = NEW.period_id
                                    AND e.month_number = NEW.month_number - 1 AND e.status = 'posted'
                                    AND e.date <= NEW.date) END;
    END
    """,
    # A line may now arrive before its entry (which then checks it); to an entry already there, only a draft.
    "DROP TRIGGER ledger_posting_guard_insert",
    """
    CREATE TRIGGER ledger_posting_guard_insert BEFORE INSERT ON ledger_posting
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: postings are added only to a draft entry')
        WHERE EXISTS (SELECT 1 FROM ledger_journalentry WHERE id = NEW.entry_id AND status IS NOT 'draft');
        SELECT RAISE(ABORT, 'ledger invariant: a posting belongs to its entry''s book and goes to an account of that book')
        WHERE EXISTS (SELECT 1 FROM ledger_journalentry WHERE id = NEW.entry_id AND book_id IS NOT NEW.book_id)
           OR NEW.book_id IS NOT (SELECT book_id FROM accounts_account WHERE id = NEW.account_id);
        SELECT RAISE(ABORT, 'ledger invariant: postings go to leaf accounts only')
        WHERE EXISTS (SELECT 1 FROM accounts_account WHERE parent_id = NEW.account_id);
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER ledger_entry_guard_posted_insert",
    "DROP TRIGGER ledger_entry_guard_insert",
    f"""
    CREATE TRIGGER ledger_entry_guard_insert BEFORE INSERT ON ledger_journalentry
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: an entry is inserted as a draft and posted once its postings are in')
        WHERE NEW.status IS NOT 'draft';
        SELECT RAISE(ABORT, 'ledger invariant: the entry''s period must be an open period of its book containing its date')
        WHERE NOT EXISTS {_PERIOD_OPEN};
    END
    """,
    "DROP TRIGGER ledger_posting_guard_insert",
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
]


def _posting_guard_insert(missing_entry_ok: bool) -> str:
    entry_state = ("e.id IS NOT NULL AND e.status <> 'draft'" if missing_entry_ok
                   else "e.status IS DISTINCT FROM 'draft'")
    return f"""
    CREATE OR REPLACE FUNCTION ledger_posting_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT n.entry_id, e.status INTO bad FROM inserted n LEFT JOIN ledger_journalentry e ON e.id = n.entry_id
        WHERE {entry_state} LIMIT 1;
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
    """


POSTGRES = [
    # Inserts are checked once per statement, set-based (a COPY of 5,000 vouchers is one check, not 5,000
    # calls of a row trigger); updates and deletes stay with the row trigger.
    "DROP TRIGGER ledger_entry_guard ON ledger_journalentry",
    "CREATE TRIGGER ledger_entry_guard BEFORE UPDATE OR DELETE ON ledger_journalentry "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entry_guard()",
    """
    CREATE FUNCTION ledger_entry_guard_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
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
        -- The lines that arrived before their entry.
        SELECT p.account_id INTO bad FROM updated a
        JOIN ledger_posting p ON p.entry_id = a.id
        LEFT JOIN accounts_account c ON c.id = p.account_id
        WHERE p.book_id IS DISTINCT FROM a.book_id OR c.book_id IS DISTINCT FROM a.book_id LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', bad.account_id));
        END IF;
        SELECT p.account_id INTO bad FROM updated a JOIN ledger_posting p ON p.entry_id = a.id
        WHERE EXISTS (SELECT 1 FROM accounts_account c WHERE c.parent_id = p.account_id) LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('account %s has sub-accounts; postings go to leaf accounts only', bad.account_id));
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER ledger_entry_guard_inserted AFTER INSERT ON ledger_journalentry "
    "REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_guard_inserted()",
    # The UPDATE's posted checks, run on the inserted entries too (they read only the `updated` table).
    "CREATE TRIGGER ledger_entry_guard_posting_insert AFTER INSERT ON ledger_journalentry "
    "REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_guard_posting()",
    "CREATE TRIGGER ledger_entry_guard_month_number_insert AFTER INSERT ON ledger_journalentry "
    "REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_guard_month_number()",
    _posting_guard_insert(missing_entry_ok=True),
    # Room on each page was kept for the draft → posted update (migration 0002); new vouchers are no longer
    # updated, and full pages are fewer pages to write and read.
    "ALTER TABLE ledger_journalentry RESET (fillfactor)",
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS ledger_entry_guard_month_number_insert ON ledger_journalentry",
    "DROP TRIGGER IF EXISTS ledger_entry_guard_posting_insert ON ledger_journalentry",
    "DROP TRIGGER IF EXISTS ledger_entry_guard_inserted ON ledger_journalentry",
    "DROP FUNCTION IF EXISTS ledger_entry_guard_inserted()",
    _posting_guard_insert(missing_entry_ok=False),
    "DROP TRIGGER IF EXISTS ledger_entry_guard ON ledger_journalentry",
    "CREATE TRIGGER ledger_entry_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_journalentry "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entry_guard()",
    "ALTER TABLE ledger_journalentry SET (fillfactor = 80)",
]


def _no_replace_fires_first(apps, schema_editor):
    """SQLite fires a table's triggers newest first: the REPLACE guards (migration 0006) are created again
    after the insert guards recreated above, so that a colliding row is still refused as a collision."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in ("ledger_entry_no_replace_insert", "ledger_posting_no_replace_insert"):
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [name])
            (sql,) = cursor.fetchone()
            cursor.execute(f"DROP TRIGGER {name}")
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_entry_period_index")]

    operations = [
        migrations.RunPython(
            run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "entries posted on insert"),
            run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "entries posted on insert"),
        ),
        migrations.RunPython(_no_replace_fires_first, _no_replace_fires_first),
    ]
