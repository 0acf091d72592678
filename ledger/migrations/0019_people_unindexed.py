"""Vouchers' people (made by, reviewed by, chief accountant) no longer indexed (issue 16).

Nothing lists vouchers by these columns; every posted voucher paid for three index entries (about 2 s of
the ledger benchmark's 100,000 vouchers on PostgreSQL, with the posting book's index dropped too in that
measurement). Only deleting a user reads by them (Django's PROTECT check, the guard of migration 0014):
a rare act, refused while vouchers name the user, which now reads the vouchers through.

The model state only says db_index=False; the indexes are dropped by name as the database holds them
(an AlterField would have SQLite rebuild the table and lose its raw triggers and indexes).
"""

from django.conf import settings
from django.db import migrations, models

COLUMNS = ("made_by_id", "reviewed_by_id", "supervisor_id")
TABLE = "ledger_journalentry"


def _single_column_indexes(schema_editor) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [name for name, c in constraints.items()
            if c["index"] and not c["unique"] and not c["primary_key"] and c["columns"] in ([col] for col in COLUMNS)]


def forwards(apps, schema_editor):
    for name in _single_column_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def backwards(apps, schema_editor):
    for column in COLUMNS:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_{column} ON {TABLE} ({column})")


def _person(verbose_name):
    return models.ForeignKey(blank=True, null=True, on_delete=models.deletion.PROTECT, related_name="+",
                             to=settings.AUTH_USER_MODEL, verbose_name=verbose_name, db_constraint=False,
                             db_index=False)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0018_guards_plan_by_index"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("journalentry", "made_by", _person("made by (制单)")),
                migrations.AlterField("journalentry", "reviewed_by", _person("reviewed by (审核)")),
                migrations.AlterField("journalentry", "supervisor", _person("chief accountant (会计主管)")),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
