"""SQLite: a claim naming a summary that does not exist stops its statement by RAISE(FAIL), not RAISE(ABORT)
(issue 16).

RAISE(ABORT) undoes the statement's earlier rows, so SQLite copied every page a multi-row INSERT was about
to change before changing it (its statement journal): 8 s of a million-claim import, more than the rows
themselves. RAISE(FAIL) refuses the same row with the same message and keeps the rows before it in the
statement, each of which passed this check; the import writes by INSERT OR FAIL and rolls a refused file
back whole (claims.services._ClaimsWriter), and a statement run by hand keeps only claims naming real
summaries. The check on UPDATE is left as it was: updates of the reference are rare and row by row.
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

_TRIGGER = """
    CREATE TRIGGER claims_claim_summary_exists BEFORE INSERT ON claims_claim
    FOR EACH ROW WHEN NEW.summary_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM claims_claimsummary WHERE id = NEW.summary_id) BEGIN
        SELECT RAISE({action}, 'a claim names a claims summary that does not exist');
    END"""

FORWARD = {"postgresql": [], "sqlite": ["DROP TRIGGER IF EXISTS claims_claim_summary_exists",
                                         _TRIGGER.format(action="FAIL")]}
BACKWARD = {"postgresql": [], "sqlite": ["DROP TRIGGER IF EXISTS claims_claim_summary_exists",
                                          _TRIGGER.format(action="ABORT")]}


class Migration(migrations.Migration):
    dependencies = [("claims", "0014_person_key_hashed_on_postgresql")]
    operations = [
        migrations.RunPython(run_by_vendor(FORWARD, "the claims' summary check"),
                             run_by_vendor(BACKWARD, "the claims' summary check")),
    ]
