"""The audit trail is append-only, held by the database: no UPDATE, no DELETE, whoever asks.

(PostgreSQL's TRUNCATE, used by test-database flushes, is not a row operation and is not caught;
nothing in the application truncates.)
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

MESSAGE = "audit trail is append-only: events are never changed or deleted"

SQLITE = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_event_no_update", "DROP TRIGGER IF EXISTS audit_event_no_delete"]
POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
        FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
]
POSTGRES_DROP = ["DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent",
                 "DROP FUNCTION IF EXISTS audit_event_append_only()"]


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "audit guards"),
                                       run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "audit guards"))]
