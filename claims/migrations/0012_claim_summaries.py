"""A claim finds its voucher through its summary (claims of one batch, charged year, month, hospital and
channel: what one voucher carries), not through a key of its own.

Posting a batch used to write every claim again to point it at its voucher: at a million claims on
PostgreSQL a new version of each row and of each of its index entries, and the voucher's key checked per
claim (50-60 s of a two-minute year). The import now writes each claim with its summary; posting points a
few thousand summaries at their vouchers.

Existing claims get their summaries here, each pointed at the voucher its claims named. PostgreSQL drops
the old column; SQLite keeps it, emptied (it cannot drop a column that holds a foreign key, and rebuilding
the table from the model would drop the keys SQLite keeps on the other references: claims 0011).

The new reference is checked as the others are: on PostgreSQL by the statement trigger of claims 0011 (one
lookup per summary an import names, not per claim), on SQLite by row triggers. A summary named by claims
is never deleted, truncated or given another id, and once posted it never changes (its voucher included).
"""

from django.db import migrations, models

from core.migrations_sql import run_by_vendor

_m11 = __import__("claims.migrations.0011_references_checked_per_statement", fromlist=["_NAMED"])

_NAMED = {**_m11._NAMED, "summary_id": "claims_claimsummary"}


def _checks(source: str) -> str:
    """claims 0011's checks, with the summary among the references."""
    return _m11._checks(source, _NAMED)


def _functions(named: dict, checks) -> list[str]:
    declare = "".join(f"\n    ids_{c} bigint[];" for c in named)
    return [
        f"""
CREATE OR REPLACE FUNCTION claims_claim_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;{declare}
BEGIN{checks("inserted")}
    RETURN NULL;
END $$""",
        f"""
CREATE OR REPLACE FUNCTION claims_claim_references_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;{declare}
BEGIN{checks("(SELECT NEW.*) AS changed")}
    RETURN NEW;
END $$""",
        "DROP TRIGGER IF EXISTS claims_claim_references_changed ON claims_claim",
        f"CREATE TRIGGER claims_claim_references_changed BEFORE UPDATE OF {', '.join(named)} ON claims_claim "
        "FOR EACH ROW EXECUTE FUNCTION claims_claim_references_changed()",
    ]


_SUMMARY_GUARD_PG = """
CREATE OR REPLACE FUNCTION claims_summary_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.entry_id IS NOT NULL THEN
        PERFORM ledger_refuse(format('claims summary %s is posted (entry %s) and never changes', OLD.id, OLD.entry_id));
    END IF;
    IF (TG_OP = 'DELETE' OR NEW.id <> OLD.id) AND EXISTS (SELECT 1 FROM claims_claim WHERE summary_id = OLD.id) THEN
        PERFORM ledger_refuse(format('claims summary %s is named by claims and stays, under its id', OLD.id));
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$
"""

POSTGRES = [
    *_functions(_NAMED, _checks),
    _SUMMARY_GUARD_PG,
    "CREATE TRIGGER claims_summary_guard BEFORE DELETE OR UPDATE ON claims_claimsummary "
    "FOR EACH ROW EXECUTE FUNCTION claims_summary_guard()",
    "CREATE TRIGGER claims_summary_no_truncate BEFORE TRUNCATE ON claims_claimsummary "
    "FOR EACH STATEMENT EXECUTE FUNCTION claims_named_no_truncate()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS claims_summary_no_truncate ON claims_claimsummary",
    "DROP TRIGGER IF EXISTS claims_summary_guard ON claims_claimsummary",
    "DROP FUNCTION IF EXISTS claims_summary_guard()",
    *_functions(_m11._NAMED, _m11._checks),
]

_SUMMARY_KEY = ("batch_id", "contract_year_id", "year", "month", "hospital_id", "channel")
_SAME_KEY = " AND ".join(f"s.{c} = NEW.{c}" for c in _SUMMARY_KEY)
SQLITE = [
    """
    CREATE TRIGGER claims_claim_summary_exists BEFORE INSERT ON claims_claim
    FOR EACH ROW WHEN NEW.summary_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM claims_claimsummary WHERE id = NEW.summary_id) BEGIN
        SELECT RAISE(ABORT, 'a claim names a claims summary that does not exist');
    END""",
    """
    CREATE TRIGGER claims_claim_summary_exists_update BEFORE UPDATE OF summary_id ON claims_claim
    FOR EACH ROW WHEN NEW.summary_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM claims_claimsummary WHERE id = NEW.summary_id) BEGIN
        SELECT RAISE(ABORT, 'a claim names a claims summary that does not exist');
    END""",
    """
    CREATE TRIGGER claims_summary_named_delete BEFORE DELETE ON claims_claimsummary
    FOR EACH ROW WHEN EXISTS (SELECT 1 FROM claims_claim WHERE summary_id = OLD.id) BEGIN
        SELECT RAISE(ABORT, 'a claims summary named by claims stays, under its id');
    END""",
    # INSERT OR REPLACE / UPDATE OR REPLACE would delete a colliding summary without its delete trigger.
    f"""
    CREATE TRIGGER claims_summary_no_replace_insert BEFORE INSERT ON claims_claimsummary
    FOR EACH ROW WHEN EXISTS (SELECT 1 FROM claims_claimsummary s WHERE s.id = NEW.id OR ({_SAME_KEY})) BEGIN
        SELECT RAISE(ABORT, 'a claims summary never replaces another (its key is taken; REPLACE is refused)');
    END""",
    f"""
    CREATE TRIGGER claims_summary_guard_update BEFORE UPDATE ON claims_claimsummary
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'a claims summary is posted and never changes')
        WHERE OLD.entry_id IS NOT NULL;
        SELECT RAISE(ABORT, 'a claims summary named by claims stays, under its id')
        WHERE NEW.id IS NOT OLD.id AND EXISTS (SELECT 1 FROM claims_claim WHERE summary_id = OLD.id);
        SELECT RAISE(ABORT, 'a claims summary never replaces another (its key is taken; REPLACE is refused)')
        WHERE EXISTS (SELECT 1 FROM claims_claimsummary s WHERE s.id <> OLD.id AND (s.id = NEW.id OR ({_SAME_KEY})));
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS claims_claim_summary_exists",
    "DROP TRIGGER IF EXISTS claims_claim_summary_exists_update",
    "DROP TRIGGER IF EXISTS claims_summary_named_delete",
    "DROP TRIGGER IF EXISTS claims_summary_no_replace_insert",
    "DROP TRIGGER IF EXISTS claims_summary_guard_update",
]


def _month(vendor: str, column: str) -> tuple[str, str]:
    if vendor == "sqlite":
        return f"CAST(substr({column}, 1, 4) AS integer)", f"CAST(substr({column}, 6, 2) AS integer)"
    return f"CAST(EXTRACT(YEAR FROM {column}) AS integer)", f"CAST(EXTRACT(MONTH FROM {column}) AS integer)"


def summaries_fill(apps, schema_editor):
    """Each existing claim's summary, pointed at the voucher its claims named (one per summary: posting
    made one voucher per group, and no claim of a group was posted without the others)."""
    connection = schema_editor.connection
    year, month = _month(connection.vendor, "settled_on")
    charged = "COALESCE(charged_to_id, contract_year_id)"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM claims_claim "
            f"GROUP BY batch_id, {charged}, {year}, {month}, hospital_id, channel "
            "HAVING COUNT(DISTINCT posted_entry_id) > 1) g")
        split = cursor.fetchone()[0]
        if split:
            raise RuntimeError(f"{split} groups of claims name more than one voucher: not migrated")
        cursor.execute(
            "INSERT INTO claims_claimsummary (batch_id, contract_year_id, year, month, hospital_id, channel, entry_id) "
            f"SELECT batch_id, {charged}, {year}, {month}, hospital_id, channel, MAX(posted_entry_id) "
            f"FROM claims_claim GROUP BY batch_id, {charged}, {year}, {month}, hospital_id, channel")
        cursor.execute(
            "UPDATE claims_claim SET summary_id = (SELECT s.id FROM claims_claimsummary s "
            f"WHERE s.batch_id = claims_claim.batch_id AND s.contract_year_id = {charged} AND s.year = {year} "
            f"AND s.month = {month} AND s.hospital_id = claims_claim.hospital_id AND s.channel = claims_claim.channel)")
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE claims_claim DROP COLUMN posted_entry_id")
        else:
            cursor.execute("UPDATE claims_claim SET posted_entry_id = NULL")


def summaries_unfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE claims_claim ADD COLUMN posted_entry_id bigint NULL "
                           "REFERENCES ledger_journalentry (id) DEFERRABLE INITIALLY DEFERRED")
            cursor.execute("CREATE INDEX claims_claim_posted_entry_id ON claims_claim (posted_entry_id)")
        cursor.execute("UPDATE claims_claim SET posted_entry_id = (SELECT s.entry_id FROM claims_claimsummary s "
                       "WHERE s.id = claims_claim.summary_id)")
        cursor.execute("UPDATE claims_claim SET summary_id = NULL")
        cursor.execute("DELETE FROM claims_claimsummary")
        if connection.vendor == "postgresql":  # the restored keys' checks now, not at commit: the column drop follows
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0011_references_checked_per_statement"),
        ("contracts", "0008_assigned_regions"),
        ("ledger", "0018_guards_plan_by_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ClaimSummary",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("year", models.PositiveSmallIntegerField(verbose_name="year")),
                ("month", models.PositiveSmallIntegerField(verbose_name="month")),
                ("channel", models.CharField(max_length=8, verbose_name="channel")),
                ("batch", models.ForeignKey(on_delete=models.deletion.PROTECT, related_name="summaries",
                                            to="claims.claimbatch", verbose_name="batch")),
                ("contract_year", models.ForeignKey(on_delete=models.deletion.PROTECT, related_name="+",
                                                    to="contracts.contractyear", verbose_name="charged to")),
                ("entry", models.ForeignKey(blank=True, null=True, on_delete=models.deletion.PROTECT,
                                            related_name="+", to="ledger.journalentry", verbose_name="posted in")),
                ("hospital", models.ForeignKey(on_delete=models.deletion.PROTECT, related_name="+",
                                               to="claims.hospital", verbose_name="hospital")),
            ],
            options={
                "verbose_name": "claims summary",
                "verbose_name_plural": "claims summaries",
                "constraints": [
                    models.UniqueConstraint(fields=("batch", "contract_year", "year", "month", "hospital", "channel"),
                                            name="claim_summary_once_per_batch"),
                    models.CheckConstraint(condition=models.Q(("month__gte", 1), ("month__lte", 12)),
                                           name="claim_summary_month"),
                ],
            },
        ),
        # The column by hand: on SQLite, Django would add or drop a column with an index by rebuilding the table
        # from the model, dropping the keys and the raw indexes it keeps (claims 0009, 0011).
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(
                ["ALTER TABLE claims_claim ADD COLUMN summary_id bigint NULL",
                 "CREATE INDEX claims_claim_summary_id ON claims_claim (summary_id)"],
                ["DROP INDEX IF EXISTS claims_claim_summary_id", "ALTER TABLE claims_claim DROP COLUMN summary_id"],
            )],
            state_operations=[migrations.AddField(
                model_name="claim", name="summary",
                field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=models.deletion.PROTECT,
                                        related_name="claims", to="claims.claimsummary",
                                        verbose_name="claims summary"),
            )],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(summaries_fill, summaries_unfill)],
            state_operations=[migrations.RemoveField(model_name="claim", name="posted_entry")],
        ),
        migrations.RunPython(run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "claims summaries' guards"),
                             run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP},
                                           "claims summaries' guards")),
    ]
