"""凭证号 numbered within each month in date order (会计基础工作规范 第五十一条), held by the database.

`month_number` is given at posting: the next in the entry's period, and the entry's date no earlier
than the previous number's (序时控制: a voucher dated before the last one posted in its month is
refused, so numbers and dates run together). `number` stays the order of posting within the year.
Vouchers posted before this migration keep their yearly number as their label.

Added with ADD COLUMN / CREATE UNIQUE INDEX, not AddField/AddConstraint: on SQLite those rebuild the
table, which would drop the ledger's triggers on it.
"""

from django.conf import settings
from django.db import migrations, models

from core.migrations_sql import run_by_vendor

_COLUMN = ["ALTER TABLE ledger_journalentry ADD COLUMN month_number integer NULL CHECK (month_number >= 1)",
           "CREATE UNIQUE INDEX entry_month_number_unique ON ledger_journalentry (period_id, month_number)"]
_COLUMN_DROP = ["DROP INDEX entry_month_number_unique", "ALTER TABLE ledger_journalentry DROP COLUMN month_number"]

SQLITE = [
    *_COLUMN,
    """
    CREATE TRIGGER ledger_entry_guard_month_number BEFORE UPDATE OF status ON ledger_journalentry
    FOR EACH ROW WHEN OLD.status = 'draft' AND NEW.status = 'posted' BEGIN
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
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS ledger_entry_guard_month_number", *_COLUMN_DROP]

# Once per statement over the entries it turned posted (the posting service turns a batch posted in one
# statement): within the statement each period's numbers run on in date order, and each period's first
# new number follows the last posted before it, dated no later.
POSTGRES = [
    *_COLUMN,
    """
    CREATE FUNCTION ledger_entry_guard_month_number() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
        first record;
    BEGIN
        SELECT a.id INTO bad FROM updated a
        WHERE a.status = 'posted' AND (a.month_number IS NULL OR a.month_number < 1) LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s: a voucher posts with a number in its month', bad.id));
        END IF;
        SELECT x.id INTO bad FROM (
            SELECT a.id, a.month_number, a.date, lag(a.month_number) OVER w AS before, lag(a.date) OVER w AS before_date
            FROM updated a WHERE a.status = 'posted'
            WINDOW w AS (PARTITION BY a.period_id ORDER BY a.month_number)) x
        WHERE x.before IS NOT NULL AND (x.month_number <> x.before + 1 OR x.date < x.before_date)
        LIMIT 1;
        IF FOUND THEN
            PERFORM ledger_refuse(format('entry %s: a voucher number is the next in its month, dated no earlier than the one before', bad.id));
        END IF;
        FOR first IN SELECT DISTINCT ON (a.period_id) a.id, a.period_id, a.month_number, a.date FROM updated a
                     WHERE a.status = 'posted' ORDER BY a.period_id, a.month_number LOOP
            IF (first.month_number = 1 AND EXISTS (
                    SELECT 1 FROM ledger_journalentry e WHERE e.period_id = first.period_id AND e.status = 'posted'
                      AND e.month_number IS NOT NULL AND e.id <> first.id AND e.id NOT IN (SELECT id FROM updated)))
               OR (first.month_number > 1 AND NOT EXISTS (
                    SELECT 1 FROM ledger_journalentry e WHERE e.period_id = first.period_id
                      AND e.month_number = first.month_number - 1 AND e.status = 'posted' AND e.date <= first.date)) THEN
                PERFORM ledger_refuse(format('entry %s: a voucher number is the next in its month, dated no earlier than the one before', first.id));
            END IF;
        END LOOP;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER ledger_entry_guard_month_number AFTER UPDATE ON ledger_journalentry "
    "REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_guard_month_number()",
]
POSTGRES_DROP = ["DROP TRIGGER IF EXISTS ledger_entry_guard_month_number ON ledger_journalentry",
                 "DROP FUNCTION IF EXISTS ledger_entry_guard_month_number()", *_COLUMN_DROP]


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_book_supervisor"),
        ("ledger", "0009_voucher_supervisor_attachments"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="journalentry",
            options={"ordering": ["book", "date", "month_number", "number", "id"],
                     "permissions": [("post_journalentry", "Can review and post vouchers (审核记账)")],
                     "verbose_name": "journal entry", "verbose_name_plural": "journal entries"},
        ),
        migrations.AlterField(
            model_name="journalentry",
            name="number",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="posting number in the year"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="journalentry",
                    name="month_number",
                    field=models.PositiveIntegerField(blank=True, null=True, verbose_name="voucher number in the month"),
                ),
                migrations.AddConstraint(
                    model_name="journalentry",
                    constraint=models.UniqueConstraint(fields=("period", "month_number"),
                                                       name="entry_month_number_unique"),
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "monthly voucher numbers"),
                    run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "monthly voucher numbers"),
                ),
            ],
        ),
    ]
