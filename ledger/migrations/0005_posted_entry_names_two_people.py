"""A posted entry names two different people: who prepared it (制单) and who approved it (审核).

Held by the database as well as by the services, so a raw UPDATE that turns a draft posted
without its maker and reviewer is refused on both vendors. PostgreSQL checks it in the
statement-level posting trigger (set-based, as the balance check); SQLite in a row trigger.
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

SQLITE = [
    """
    CREATE TRIGGER ledger_entry_guard_people BEFORE UPDATE OF status ON ledger_journalentry
    FOR EACH ROW WHEN NEW.status = 'posted' BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a posted entry names its maker and a different reviewer')
        WHERE NEW.made_by_id IS NULL OR NEW.reviewed_by_id IS NULL OR NEW.made_by_id = NEW.reviewed_by_id;
    END
    """,
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS ledger_entry_guard_people"]

_POSTING_CHECK = """
    CREATE OR REPLACE FUNCTION ledger_entry_guard_posting() RETURNS trigger LANGUAGE plpgsql AS $$
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
        %(people)s
        RETURN NULL;
    END $$
"""
_PEOPLE = """
        SELECT a.id INTO bad FROM updated a
        WHERE a.status = 'posted'
          AND (a.made_by_id IS NULL OR a.reviewed_by_id IS NULL OR a.made_by_id = a.reviewed_by_id)
        LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s: a posted entry names its maker and a different reviewer', bad.id));
        END IF;
"""
POSTGRES = [_POSTING_CHECK.replace("%(people)s", _PEOPLE)]
POSTGRES_DROP = [_POSTING_CHECK.replace("%(people)s", "")]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_alter_journalentry_options")]

    operations = [
        migrations.RunPython(
            run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "ledger people guard"),
            run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "ledger people guard"),
        ),
    ]
