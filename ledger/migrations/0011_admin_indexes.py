"""Indexes the admin's voucher list reads at a province's size (issue 16).

Raw SQL, not AddIndex: the trigram indexes are PostgreSQL's own, and keeping all of them out of the model
state leaves the models' Meta as they were. The list is ordered by book, year, date and voucher number;
filtered by book and year it reads one book-year in that order. Memo and counterparty searches use trigram
indexes on PostgreSQL (pg_trgm), where a substring search would otherwise read every voucher.
"""

from django.db import migrations

BOTH = [
    "CREATE INDEX IF NOT EXISTS entry_admin_list ON ledger_journalentry "
    "(book_id, fiscal_year, date, month_number, number, id)",
    "CREATE INDEX IF NOT EXISTS entry_admin_newest ON ledger_journalentry (date, month_number, number, id)",
    "CREATE INDEX IF NOT EXISTS entry_key ON ledger_journalentry (idempotency_key)",
]
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS entry_memo_trgm ON ledger_journalentry USING gin (upper(memo::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS posting_counterparty_trgm ON ledger_posting USING gin (upper(counterparty::text) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS entry_admin_list", "DROP INDEX IF EXISTS entry_admin_newest",
        "DROP INDEX IF EXISTS entry_key"]
POSTGRES_DROP = ["DROP INDEX IF EXISTS entry_memo_trgm", "DROP INDEX IF EXISTS posting_counterparty_trgm"]


def _run(both, postgres):
    def run(apps, schema_editor):
        for sql in both + (postgres if schema_editor.connection.vendor == "postgresql" else []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0010_voucher_numbered_in_month")]
    operations = [migrations.RunPython(_run(BOTH, POSTGRES), _run(DROP, POSTGRES_DROP))]
