"""Indexes the admin's claims list and discrepancy report read at a province's size (issue 16).

Raw SQL (partial indexes; PostgreSQL's pattern operators), kept out of the model state.
"""

from django.db import migrations

BOTH = [
    # The list, newest first, of one contract year; of one book (what an insurer's accountant sees).
    "CREATE INDEX IF NOT EXISTS claim_year_newest ON claims_claim (contract_year_id, id)",
    "CREATE INDEX IF NOT EXISTS claim_book_newest ON claims_claim (book_id, id)",
    # The discrepancy report reads only the claims paid other than the policy pays: a few in a hundred.
    "CREATE INDEX IF NOT EXISTS claim_discrepant ON claims_claim (contract_year_id, settled_on, claim_no) "
    "WHERE expected_fen IS NOT NULL AND paid_fen <> expected_fen",
    "CREATE INDEX IF NOT EXISTS claim_not_recomputed ON claims_claim (contract_year_id) WHERE expected_fen IS NULL",
]
# A claim number searched by its beginning across books: LIKE 'x%' under a non-C collation needs these operators.
POSTGRES = ["CREATE INDEX IF NOT EXISTS claim_no_prefix ON claims_claim (claim_no varchar_pattern_ops)"]
SQLITE = ["CREATE INDEX IF NOT EXISTS claim_no_prefix ON claims_claim (claim_no)"]
DROP = ["DROP INDEX IF EXISTS claim_year_newest", "DROP INDEX IF EXISTS claim_book_newest", "DROP INDEX IF EXISTS claim_discrepant",
        "DROP INDEX IF EXISTS claim_not_recomputed", "DROP INDEX IF EXISTS claim_no_prefix"]


def forwards(apps, schema_editor):
    for sql in BOTH + (POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for sql in DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("claims", "0008_shipped_policies_updated")]
    operations = [migrations.RunPython(forwards, backwards)]
