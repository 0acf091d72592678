"""PostgreSQL: a line's voucher and a voucher's period are checked once per statement, not by foreign keys.

The last two row-by-row keys of a posting were 2.2 s of an 18.7 s posting of 100,000 vouchers (237,000
lines): each line's voucher and each voucher's period looked up and share-locked one at a time at commit.
Now:

- Lines whose voucher is already written join it only while it is a draft, under a share lock on it (a
  reviewer turning that draft posted waits for the lines' transaction, then sees them in its balance check;
  the foreign key's key-share lock let both go ahead unseen by each other).
- Lines whose voucher is not written yet (the posting service writes the lines first) are recorded, once per
  statement, in `ledger_lines_awaiting`; at commit a deferred check per record finds each voucher written by
  the same transaction as its lines, then removes the record. A voucher that never came, or one another
  transaction wrote (lines slipped in under the id a posting in flight had reserved, committed after it:
  the foreign key let those join a posted voucher), refuses the commit. The records never outlive their
  transaction; one altered or removed before the check refuses the commit too.
- A voucher's period exists and stays: key-share locked once per statement and looked for after the lock.
- A voucher with lines, a period with vouchers is never deleted nor renumbered (as the keys held).

SQLite keeps its keys (checked in the engine, cheaply, and its tables are never rebuilt under their triggers).
"""

from django.db import migrations, models

from core.migrations_sql import run_by_vendor

_DROP_KEYS = """
DO $$ DECLARE c record; BEGIN
    FOR c IN SELECT con.conname, rel.relname FROM pg_constraint con
             JOIN pg_class rel ON rel.oid = con.conrelid
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
             WHERE con.contype = 'f' AND ((rel.relname = 'ledger_posting' AND a.attname = 'entry_id')
                                          OR (rel.relname = 'ledger_journalentry' AND a.attname = 'period_id'))
    LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, c.conname);
    END LOOP;
END $$
"""

_AWAITING = [
    "CREATE TABLE ledger_lines_awaiting (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " entry_ids bigint[] NOT NULL)",
    """
    CREATE FUNCTION ledger_lines_awaiting_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM ledger_refuse('a record of lines awaiting their entry never changes');
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER ledger_lines_awaiting_guard BEFORE UPDATE ON ledger_lines_awaiting "
    "FOR EACH ROW EXECUTE FUNCTION ledger_lines_awaiting_guard()",
    """
    CREATE FUNCTION ledger_lines_awaiting_check() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
        top bigint := pg_current_xact_id()::text::bigint;
        full_xid bigint;
    BEGIN
        PERFORM 1 FROM ledger_lines_awaiting WHERE id = NEW.id;
        IF NOT FOUND THEN
            PERFORM ledger_refuse('the record of lines awaiting their entry was removed before the commit checked it');
        END IF;
        -- (Lines taken out again before the commit await nothing.)
        SELECT x.id INTO bad FROM unnest(NEW.entry_ids) AS x(id)
        WHERE NOT EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.id = x.id)
          AND EXISTS (SELECT 1 FROM ledger_posting p WHERE p.entry_id = x.id) LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('postings under entry %s, which never came', bad.id));
        END IF;
        -- Each entry written by this transaction (or one of its savepoints): of the rows this transaction
        -- sees, only its own are still in progress. xmin is the 32-bit id; widened with the epoch of this
        -- transaction's id, which is no later than its savepoints'.
        FOR bad IN SELECT e.xmin::text::bigint AS xmin, min(e.id) AS id FROM unnest(NEW.entry_ids) AS x(id)
                   JOIN ledger_journalentry e ON e.id = x.id GROUP BY e.xmin::text::bigint LOOP
            full_xid := (top >> 32 << 32) + bad.xmin;
            IF full_xid < top THEN
                full_xid := full_xid + 4294967296;
            END IF;
            IF pg_xact_status(full_xid::text::xid8) IS DISTINCT FROM 'in progress' THEN
                PERFORM ledger_refuse(format('postings under entry %s, written by another transaction than its own',
                                             bad.id));
            END IF;
        END LOOP;
        DELETE FROM ledger_lines_awaiting WHERE id = NEW.id;
        RETURN NULL;
    END $$
    """,
    "CREATE CONSTRAINT TRIGGER ledger_lines_awaiting_check AFTER INSERT ON ledger_lines_awaiting "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_lines_awaiting_check()",
]


_POSTING_GUARD_INSERT = """
CREATE OR REPLACE FUNCTION ledger_posting_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    ids bigint[];
    accounts bigint[];
    written bigint[];
BEGIN
    -- Set-based over the statement's distinct entries and accounts: a batch names thousands of entries
    -- but a dozen accounts.
    SELECT array_agg(DISTINCT entry_id), array_agg(DISTINCT account_id) INTO ids, accounts FROM inserted;
    -- Every account named exists and stays until this transaction ends, and is a leaf.
    PERFORM 1 FROM accounts_account c WHERE c.id = ANY(accounts) FOR KEY SHARE OF c;
    SELECT x.id INTO bad FROM unnest(accounts) AS x(id)
    WHERE NOT EXISTS (SELECT 1 FROM accounts_account c WHERE c.id = x.id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('posting to account %s, which does not exist', bad.id));
    END IF;
    SELECT x.id INTO bad FROM unnest(accounts) AS x(id)
    WHERE EXISTS (SELECT 1 FROM accounts_account c WHERE c.parent_id = x.id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('account %s has sub-accounts; postings go to leaf accounts only', bad.id));
    END IF;
    -- Entries already written take lines only as drafts, of their own book, checked under a share lock
    -- on each (a reviewer turning the draft posted waits, then sees these lines).
    SELECT array_agg(w.id) INTO written FROM (
        SELECT e.id FROM ledger_journalentry e WHERE e.id = ANY(ids) FOR SHARE OF e) w;
    IF written IS NOT NULL THEN
        SELECT e.id, e.status INTO bad FROM ledger_journalentry e WHERE e.id = ANY(written) AND e.status <> 'draft'
        LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('postings are added only to a draft entry (entry %s is %s)',
                                         bad.id, bad.status));
        END IF;
        SELECT n.account_id INTO bad FROM inserted n
        JOIN ledger_journalentry e ON e.id = n.entry_id AND e.id = ANY(written)
        JOIN accounts_account a ON a.id = n.account_id
        WHERE n.book_id <> e.book_id OR a.book_id <> e.book_id LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('posting to account %s: a posting belongs to its entry''s book and goes to an account of that book', bad.account_id));
        END IF;
    END IF;
    -- Entries not written yet (the posting service writes lines first): awaited, and found at commit
    -- written by this same transaction; their book is checked when they arrive (migration 0013).
    IF cardinality(ids) > coalesce(cardinality(written), 0) THEN
        INSERT INTO ledger_lines_awaiting (entry_ids)
        SELECT array_agg(x.id) FROM unnest(ids) AS x(id) WHERE written IS NULL OR NOT x.id = ANY(written);
    END IF;
    RETURN NULL;
END $$
"""


def _previous(name: str) -> str:
    """A function as migration 0014 left it: the base of this one's, and the way back."""
    from importlib import import_module

    sql = getattr(import_module("ledger.migrations.0014_references_checked_per_statement"), name)
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


# The row guard of a draft's line being changed (migrations 0002, 0014), its entry now read under a lock.
_POSTING_GUARD = _previous("_POSTING_GUARD").replace(
    "FROM ledger_journalentry WHERE id = NEW.entry_id;", "FROM ledger_journalentry WHERE id = NEW.entry_id FOR SHARE;")


_ENTRY_REFERENCES = """
CREATE OR REPLACE FUNCTION ledger_entry_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    books bigint[];
    periods bigint[];
    people integer[];
BEGIN
    -- The few books, periods and people a statement's vouchers name, locked once each (a foreign key
    -- locked them once per voucher) so that none is deleted before this transaction ends; looked for
    -- after the lock, which waits for a deletion in flight.
    SELECT array_agg(DISTINCT book_id), array_agg(DISTINCT period_id) INTO books, periods FROM updated;
    SELECT array_agg(DISTINCT x.person) INTO people FROM updated a
    CROSS JOIN LATERAL (VALUES (a.made_by_id), (a.reviewed_by_id), (a.supervisor_id)) AS x(person)
    WHERE x.person IS NOT NULL;
    PERFORM 1 FROM accounts_book b WHERE b.id = ANY(books) FOR KEY SHARE OF b;
    PERFORM 1 FROM ledger_period p WHERE p.id = ANY(periods) FOR KEY SHARE OF p;
    PERFORM 1 FROM auth_user u WHERE u.id = ANY(people) FOR KEY SHARE OF u;
    SELECT x.id INTO bad FROM unnest(books) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM accounts_book b WHERE b.id = x.id)
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('an entry names book %s, which does not exist', bad.id));
    END IF;
    SELECT x.id INTO bad FROM unnest(periods) AS x(id)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_period p WHERE p.id = x.id) LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('an entry names period %s, which does not exist', bad.id));
    END IF;
    SELECT x.id INTO bad FROM unnest(people) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.id = x.id)
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_refuse(format('an entry names user %s, who does not exist', bad.id));
    END IF;
    RETURN NULL;
END $$
"""


# Migration 0014's guard of the rows named, now also for an entry's lines and a period's entries.
_NAMED_GUARD = _previous("_NAMED_GUARD").replace("""
    END IF;
    IF TG_OP = 'DELETE' THEN""", """
    ELSIF TG_TABLE_NAME = 'ledger_journalentry' AND EXISTS (SELECT 1 FROM ledger_posting WHERE entry_id = OLD.id) THEN
        PERFORM ledger_refuse(format('entry %s has postings: they go first, and it keeps its id', OLD.id));
    ELSIF TG_TABLE_NAME = 'ledger_period' AND EXISTS (SELECT 1 FROM ledger_journalentry WHERE period_id = OLD.id) THEN
        PERFORM ledger_refuse(format('period %s has entries and stays, under its id', OLD.id));
    END IF;
    IF TG_OP = 'DELETE' THEN""", 1)
assert "FOR SHARE;" in _POSTING_GUARD and "has postings: they go first" in _NAMED_GUARD


_NAMED = (("entry", "ledger_journalentry"), ("period", "ledger_period"))

POSTGRES = [
    _DROP_KEYS,
    *_AWAITING,
    _POSTING_GUARD_INSERT,
    _POSTING_GUARD,
    _ENTRY_REFERENCES,
    _NAMED_GUARD,
    *(f"CREATE TRIGGER ledger_{name}_guard_named BEFORE DELETE OR UPDATE OF id ON {table} "
      "FOR EACH ROW EXECUTE FUNCTION ledger_named_guard()" for name, table in _NAMED),
]

POSTGRES_DROP = [
    *(f"DROP TRIGGER IF EXISTS ledger_{name}_guard_named ON {table}" for name, table in _NAMED),
    _previous("_NAMED_GUARD"),
    _previous("_ENTRY_REFERENCES"),
    _previous("_POSTING_GUARD"),
    _previous("_POSTING_GUARD_INSERT"),
    "DROP TABLE IF EXISTS ledger_lines_awaiting",
    "DROP FUNCTION IF EXISTS ledger_lines_awaiting_check()",
    "DROP FUNCTION IF EXISTS ledger_lines_awaiting_guard()",
    "ALTER TABLE ledger_posting ADD FOREIGN KEY (entry_id) REFERENCES ledger_journalentry (id) "
    "DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE ledger_journalentry ADD FOREIGN KEY (period_id) REFERENCES ledger_period (id) "
    "DEFERRABLE INITIALLY DEFERRED",
]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0014_references_checked_per_statement")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(
                run_by_vendor({"sqlite": [], "postgresql": POSTGRES}, "lines awaiting their entry"),
                run_by_vendor({"sqlite": [], "postgresql": POSTGRES_DROP}, "lines awaiting their entry"),
            )],
            state_operations=[
                migrations.AlterField(model_name="posting", name="entry", field=models.ForeignKey(
                    "ledger.journalentry", models.CASCADE, related_name="postings", verbose_name="entry",
                    db_index=False, db_constraint=False)),
                migrations.AlterField(model_name="journalentry", name="period", field=models.ForeignKey(
                    "ledger.period", models.PROTECT, related_name="entries", verbose_name="period",
                    db_index=False, db_constraint=False)),
            ],
        ),
    ]
