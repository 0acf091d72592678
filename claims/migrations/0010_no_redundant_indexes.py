"""Two single-column indexes every claim paid for on insert and on each update, though composite indexes
leading with the same column serve every read (issue 16: a million claims a year).

Dropped by raw SQL (the names are the ones Django gave them on both databases): an AlterField would
rebuild the table on SQLite.
"""

from django.db import migrations, models
import django.db.models.deletion

DROP = ["DROP INDEX IF EXISTS claims_claim_book_id_d999ffd8",
        "DROP INDEX IF EXISTS claims_claim_contract_year_id_7987aa54"]
CREATE = ["CREATE INDEX IF NOT EXISTS claims_claim_book_id_d999ffd8 ON claims_claim (book_id)",
          "CREATE INDEX IF NOT EXISTS claims_claim_contract_year_id_7987aa54 ON claims_claim (contract_year_id)"]


class Migration(migrations.Migration):
    dependencies = [("claims", "0009_admin_indexes"), ("accounts", "0004_book_supervisor"),
                    ("contracts", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="claim", name="book",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="+", to="accounts.book", verbose_name="insurer book"),
                ),
                migrations.AlterField(
                    model_name="claim", name="contract_year",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="claims", to="contracts.contractyear",
                                            verbose_name="contract year"),
                ),
            ],
            database_operations=[migrations.RunSQL(DROP, CREATE)],
        ),
    ]
