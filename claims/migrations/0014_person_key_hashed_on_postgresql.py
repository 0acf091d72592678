"""PostgreSQL: the claims' person index as a hash of the pseudonym's first eight characters (issue 16).

The person index is only ever asked for given persons (an import's "out-of-pocket so far" of the persons
in a chunk, a late file's replay of its persons' years): PostgreSQL's replay of a year sorts the year itself
(claims.services._recompute_sql) and never reads it in the index's order. A pseudonym is random by design,
so every claim written went to a random page of the B-tree: 2.36 s of server time for a million claims
written in file order, against 1.16 s as a hash index (measured alone on a copy of the table, each index
by itself). A hash index holds one key, so the contract year is no longer in it: the person's claims of
every year are found and the year's kept, a handful a person.

SQLite keeps claim_person_key: it has no hash index, and its replay reads the year in the index's order.
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

HASHED = "CREATE INDEX IF NOT EXISTS claim_person_hash ON claims_claim USING hash (substr(person, 1, 8))"
ORDERED = "CREATE INDEX IF NOT EXISTS claim_person_key ON claims_claim (contract_year_id, substr(person, 1, 8))"

FORWARD = {"postgresql": [HASHED, "DROP INDEX IF EXISTS claim_person_key"], "sqlite": []}
BACKWARD = {"postgresql": [ORDERED, "DROP INDEX IF EXISTS claim_person_hash"], "sqlite": []}


class Migration(migrations.Migration):
    dependencies = [("claims", "0013_person_order_by_short_key")]
    operations = [
        migrations.RunPython(run_by_vendor(FORWARD, "the person index"),
                             run_by_vendor(BACKWARD, "the person index")),
    ]
