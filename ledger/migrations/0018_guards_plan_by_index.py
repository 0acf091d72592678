"""PostgreSQL: the ledger's statement guards look their rows up by index, whatever the statistics say.

A PL/pgSQL function plans each query once per session and keeps the plan. Planned while the lines table
was small (a fresh database, a new deployment, before autovacuum's first ANALYZE), the check of a
statement's new vouchers against their lines kept a hash join over a sequential scan of every line in the
database, for every later statement: 8-25 ms a statement at 237,000 lines, growing with the table (at
10 million lines, seconds per import batch); a merge join read the whole lines index instead. With
sequential scans, hash and merge joins priced out inside these functions, each statement's rows are
found through the indexes (nested loops, in time proportional to the statement), and the plan the
session keeps stays right as the tables grow. The lookups with parameters (the voucher before a
statement's first, by number and by chain position) kept a plan that took the first index on the book
and filtered every voucher of the book (4-5 ms a statement at 50,000): they are planned at each use,
when the planner sees the table's present size and takes the unique index that finds the one row.

A later migration that re-creates one of these functions (CREATE OR REPLACE resets its settings) must set
them again: tests/ledger/test_posting_pipeline.py checks that they hold.
"""

from importlib import import_module

from django.db import migrations

from core.migrations_sql import run_by_vendor

_m16 = import_module("ledger.migrations.0016_entry_checks_in_fewer_passes")

# Lines added to drafts already written: each line's draft was found by the join and then tested against
# the array of the statement's drafts, a linear search per line — harmless under the hash join the
# planner took, 24 s for 100,000 draft vouchers' lines under nested loops. The join alone finds them.
_LINES_JOIN_BEFORE = "JOIN ledger_journalentry e ON e.id = n.entry_id AND e.id = ANY(written)"
assert _LINES_JOIN_BEFORE in _m16._LINES
_LINES = _m16._LINES.replace(_LINES_JOIN_BEFORE, "JOIN ledger_journalentry e ON e.id = n.entry_id")

FUNCTIONS = (
    "ledger_entry_guard_posting", "ledger_entry_guard_inserted", "ledger_entry_guard_month_number",
    "ledger_entry_references", "ledger_posting_guard_insert", "ledger_lines_awaiting_check",
)
SETTINGS = (("enable_seqscan", "off"), ("enable_hashjoin", "off"), ("enable_mergejoin", "off"),
            ("plan_cache_mode", "force_custom_plan"))

# CREATE OR REPLACE resets a function's settings: the function is re-created before they are set.
POSTGRES = [_LINES] + [f"ALTER FUNCTION {name}() SET {setting} = {value}" for name in FUNCTIONS for setting, value in SETTINGS]
POSTGRES_DROP = [f"ALTER FUNCTION {name}() RESET ALL" for name in FUNCTIONS] + [_m16._LINES]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0017_sqlite_entry_lines_read_once")]

    operations = [
        migrations.RunPython(
            run_by_vendor({"sqlite": [], "postgresql": POSTGRES}, "guards planned by index"),
            run_by_vendor({"sqlite": [], "postgresql": POSTGRES_DROP}, "guards planned by index"),
        ),
    ]
