"""The audit trail closed to the raw-SQL paths that 0002 left open, on SQLite and on PostgreSQL.

- SQLite's REPLACE deletes the event it collides with and, with recursive_triggers off (the sqlite3 shell's
  default), fires no DELETE trigger: an insert whose id is taken is refused before REPLACE gets to delete.
  (UPDATE OR REPLACE is refused by 0002's UPDATE trigger, which fires first.)
- PostgreSQL's TRUNCATE fires no row trigger: a statement trigger refuses it. INSERT … ON CONFLICT DO
  UPDATE fires 0002's UPDATE trigger and is refused by it.
- An event is written at the database's own time: one more than 5 minutes before or after the database's
  clock is refused, so nobody slips a back-dated event into the trail. PostgreSQL compares with
  clock_timestamp() (now() is the transaction's start: a long import's last event would look late);
  SQLite with julianday('now'), on Django's UTC text ('YYYY-MM-DD HH:MM:SS.ffffff', an offset allowed).
"""

from django.db import migrations

from core.migrations_sql import run_by_vendor

TOLERANCE_MINUTES = 5
_LATE = f"audit trail: an event is written at the database''s own time (within {TOLERANCE_MINUTES} minutes)"

SQLITE = [
    f"""
    CREATE TRIGGER audit_event_guard_insert BEFORE INSERT ON audit_auditevent
    FOR EACH ROW BEGIN
        SELECT RAISE(ABORT, 'audit trail is append-only: an event never replaces another')
        WHERE EXISTS (SELECT 1 FROM audit_auditevent WHERE id = NEW.id);
        SELECT RAISE(ABORT, '{_LATE}')
        WHERE julianday(NEW.at) IS NULL OR abs(julianday(NEW.at) - julianday('now')) * 1440 > {TOLERANCE_MINUTES};
    END
    """,
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_event_guard_insert"]

POSTGRES = [
    f"""
    CREATE FUNCTION audit_event_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.at IS NULL OR abs(extract(epoch FROM NEW.at - clock_timestamp())) > {TOLERANCE_MINUTES * 60} THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('{_LATE}: %s is not %s', NEW.at, clock_timestamp());
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER audit_event_guard_insert BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard_insert()
    """,
    """
    CREATE FUNCTION audit_event_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'audit trail is append-only: it is never truncated';
    END $$
    """,
    """
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate()
    """,
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_guard_insert ON audit_auditevent",
    "DROP FUNCTION IF EXISTS audit_event_no_truncate()",
    "DROP FUNCTION IF EXISTS audit_event_guard_insert()",
]


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_action_refused")]

    operations = [
        migrations.RunPython(run_by_vendor({"sqlite": SQLITE, "postgresql": POSTGRES}, "audit raw-SQL guards"),
                             run_by_vendor({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}, "audit raw-SQL guards")),
    ]
