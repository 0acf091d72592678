"""Counterparty names held once, for the voucher search (issue 16).

The search for a counterparty's words ran a trigram index over every line (10 million in the page
benchmark): the trigrams of a hospital's name (人民医, 民医院 …) are in millions of lines, and reading
their posting lists took 108-144 ms before a single line was fetched. The names themselves are few (a
province's hospitals, banks, bureaus and insurers): the words are now looked up among the names, and the
lines naming the names found through a plain index on (counterparty, entry) that holds only the lines
with a counterparty.

The names are kept by the database from the lines, whatever wrote them (the posting service, the admin's
draft lines, raw SQL): after each statement adding lines on PostgreSQL (from its transition table), after
each line on SQLite; a name is added when no row holds it yet. Two transactions adding the same new name
at once both add it (the search reads names as a set): a unique index would make the second wait for the
first to commit, and two adding two new names in opposite turns deadlock.
A name cannot be renamed, nor removed while a line names it: a missing name would hide its lines from the
search. The trigram index moves from the lines to the names (PostgreSQL).
"""

from django.db import migrations, models

from core.migrations_sql import run_by_vendor

_LINES_INDEX = ("CREATE INDEX IF NOT EXISTS posting_counterparty ON ledger_posting (counterparty, entry_id) "
                "WHERE counterparty <> ''")
_FILL = ("INSERT INTO ledger_counterparty (name) SELECT DISTINCT l.counterparty FROM {lines} l "
         "WHERE l.counterparty <> '' "
         "AND NOT EXISTS (SELECT 1 FROM ledger_counterparty c WHERE c.name = l.counterparty)")
# One statement, so that a benchmark's bulk load (triggers off) can fill the names as the migration does.
FILL = _FILL.format(lines="ledger_posting")

SQLITE = [
    _LINES_INDEX,
    FILL,
    """
    CREATE TRIGGER ledger_posting_counterparty_insert AFTER INSERT ON ledger_posting
    FOR EACH ROW WHEN NEW.counterparty <> '' BEGIN
        INSERT INTO ledger_counterparty (name) SELECT NEW.counterparty
        WHERE NOT EXISTS (SELECT 1 FROM ledger_counterparty WHERE name = NEW.counterparty);
    END
    """,
    """
    CREATE TRIGGER ledger_posting_counterparty_update AFTER UPDATE OF counterparty ON ledger_posting
    FOR EACH ROW WHEN NEW.counterparty <> '' BEGIN
        INSERT INTO ledger_counterparty (name) SELECT NEW.counterparty
        WHERE NOT EXISTS (SELECT 1 FROM ledger_counterparty WHERE name = NEW.counterparty);
    END
    """,
    """
    CREATE TRIGGER ledger_counterparty_guard_update BEFORE UPDATE ON ledger_counterparty
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a counterparty name is never renamed (its lines would no longer be found)');
    END
    """,
    """
    CREATE TRIGGER ledger_counterparty_guard_delete BEFORE DELETE ON ledger_counterparty
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'ledger invariant: a counterparty name stays while a line names it')
        WHERE EXISTS (SELECT 1 FROM ledger_posting WHERE counterparty = OLD.name AND counterparty <> '');
    END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS ledger_posting_counterparty_insert",
    "DROP TRIGGER IF EXISTS ledger_posting_counterparty_update",
    "DROP TRIGGER IF EXISTS ledger_counterparty_guard_update",
    "DROP TRIGGER IF EXISTS ledger_counterparty_guard_delete",
    "DROP INDEX IF EXISTS posting_counterparty",
]

POSTGRES = [
    _LINES_INDEX,
    "DROP INDEX IF EXISTS posting_counterparty_trgm",
    "CREATE INDEX IF NOT EXISTS counterparty_name_trgm ON ledger_counterparty USING gin (upper(name::text) gin_trgm_ops)",
    FILL,
    """
    CREATE FUNCTION ledger_counterparty_names() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        """ + _FILL.format(lines="written") + """;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER ledger_posting_counterparty_insert AFTER INSERT ON ledger_posting "
    "REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION ledger_counterparty_names()",
    "CREATE TRIGGER ledger_posting_counterparty_update AFTER UPDATE ON ledger_posting "
    "REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION ledger_counterparty_names()",
    """
    CREATE FUNCTION ledger_counterparty_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            PERFORM ledger_refuse('a counterparty name is never renamed (its lines would no longer be found)');
        ELSIF EXISTS (SELECT 1 FROM ledger_posting WHERE counterparty = OLD.name AND counterparty <> '') THEN
            PERFORM ledger_refuse(format('counterparty %s stays while a line names it', quote_literal(OLD.name)));
        END IF;
        RETURN OLD;
    END $$
    """,
    "CREATE TRIGGER ledger_counterparty_guard BEFORE UPDATE OR DELETE ON ledger_counterparty "
    "FOR EACH ROW EXECUTE FUNCTION ledger_counterparty_guard()",
    "CREATE TRIGGER ledger_counterparty_no_truncate BEFORE TRUNCATE ON ledger_counterparty "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS ledger_counterparty_no_truncate ON ledger_counterparty",
    "DROP TRIGGER IF EXISTS ledger_counterparty_guard ON ledger_counterparty",
    "DROP FUNCTION IF EXISTS ledger_counterparty_guard()",
    "DROP TRIGGER IF EXISTS ledger_posting_counterparty_update ON ledger_posting",
    "DROP TRIGGER IF EXISTS ledger_posting_counterparty_insert ON ledger_posting",
    "DROP FUNCTION IF EXISTS ledger_counterparty_names()",
    "DROP INDEX IF EXISTS counterparty_name_trgm",
    "DROP INDEX IF EXISTS posting_counterparty",
    "CREATE INDEX IF NOT EXISTS posting_counterparty_trgm ON ledger_posting "
    "USING gin (upper(counterparty::text) gin_trgm_ops)",
]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0019_people_unindexed")]

    operations = [
        migrations.CreateModel(
            name="Counterparty",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(db_index=True, max_length=200, verbose_name="counterparty")),
            ],
            options={"verbose_name": "counterparty", "verbose_name_plural": "counterparties"},
        ),
        migrations.RunPython(
            run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "counterparty names"),
            run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "counterparty names"),
        ),
    ]
