"""The entries' single-column period index goes: the unique (period, month_number) leads with the period
and serves every read, and each voucher posted paid for one more index (issue 16).

Raw SQL: an AlterField would rebuild the table on SQLite and drop the ledger's triggers on it.
"""

from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("ledger", "0011_admin_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="journalentry", name="period",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="entries", to="ledger.period", verbose_name="period"),
                ),
            ],
            database_operations=[migrations.RunSQL(
                ["DROP INDEX IF EXISTS ledger_journalentry_period_id_e1ba7ab5"],
                ["CREATE INDEX IF NOT EXISTS ledger_journalentry_period_id_e1ba7ab5 ON ledger_journalentry (period_id)"],
            )],
        ),
    ]
