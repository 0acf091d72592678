"""The physical baseline of a benchmark stage: the rows the stage wrote (or read), written (or read)
again by the fastest plain path the database has, with no checks: COPY on PostgreSQL, multi-row INSERT
on SQLite, into bare copies of the tables (no indexes, constraints nor triggers). A stage's ratio is its
time over this one, measured in the same run on the same machine.
"""

import time

from django.apps import apps
from django.db import connection, models, transaction

CHUNK = 50_000  # rows fetched (not timed) and written (timed) at once: memory stays flat at any size


def _tables() -> dict[str, str]:
    """Every table with an integer primary key, by name: its key column (rows are found by key range)."""
    out = {}
    for model in apps.get_models(include_auto_created=True):
        pk = model._meta.pk
        if isinstance(pk, (models.AutoField, models.BigAutoField, models.SmallAutoField)):
            out[model._meta.db_table] = pk.column
    return out


def marks() -> dict[str, int]:
    """The highest key of every table now; what a stage writes after this lies above it."""
    tables = _tables()
    with connection.cursor() as cursor:
        out = {}
        for table, pk in tables.items():
            cursor.execute(f"SELECT MAX({pk}) FROM {table}")
            out[table] = cursor.fetchone()[0] or 0
    return out


def written_since(before: dict[str, int]) -> dict[str, tuple[int, int, int]]:
    """{table: (key above, highest key, rows)} of the rows inserted since `before`."""
    tables = _tables()
    after = marks()
    out = {}
    with connection.cursor() as cursor:
        for table, hi in after.items():
            lo = before.get(table, 0)
            if hi > lo:
                cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {tables[table]} > %s", [lo])
                out[table] = (lo, hi, cursor.fetchone()[0])
    return out


def _bare(cursor, table: str) -> str:
    bare = f"bare_{table}"[:63]
    cursor.execute(f"DROP TABLE IF EXISTS {bare}")
    if connection.vendor == "postgresql":
        cursor.execute(f"CREATE TABLE {bare} (LIKE {table})")  # columns and types only
    else:
        cursor.execute(f"CREATE TABLE {bare} AS SELECT * FROM {table} WHERE 0")
    return bare


def write_seconds(spans: dict[str, tuple[int, int, int]], *, rewrite: dict[str, str] | None = None
                  ) -> tuple[float, dict[str, int]]:
    """Seconds to write the same rows again into bare copies of their tables, commit included.

    `spans`: inserted rows by key range (written_since); `rewrite`: {table: WHERE clause} of rows a stage
    updated rather than inserted (a recomputation), written again whole. Also {table: rows rewritten}.
    """
    tables = _tables()
    selects = []
    for table, (lo, hi, _n) in spans.items():
        pk = tables[table]
        for a in range(lo, hi, CHUNK):
            selects.append((table, f"SELECT * FROM {table} WHERE {pk} > {a} AND {pk} <= {min(a + CHUNK, hi)}"))
    rewritten = {}
    for table, where in (rewrite or {}).items():
        pk = tables[table]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN({pk}), MAX({pk}), COUNT(*) FROM {table} WHERE {where}")
            lo, hi, rewritten[table] = cursor.fetchone()
        if lo is not None:
            for a in range(lo - 1, hi, CHUNK):
                selects.append((table, f"SELECT * FROM {table} WHERE {where} AND {pk} > {a} AND {pk} <= {a + CHUNK}"))
    timed = 0.0
    bare = {}
    atomic = transaction.atomic()
    atomic.__enter__()
    try:
        with connection.cursor() as cursor:
            for table, _ in selects:
                if table not in bare:
                    bare[table] = _bare(cursor, table)
            for table, select in selects:
                timed += _copy_one(cursor, select, bare[table])
        t = time.perf_counter()
    except BaseException as exc:
        atomic.__exit__(type(exc), exc, exc.__traceback__)
        raise
    atomic.__exit__(None, None, None)
    timed += time.perf_counter() - t
    with connection.cursor() as cursor:
        for name in bare.values():
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    return timed, rewritten


def _copy_one(cursor, select: str, bare: str) -> float:
    """Fetch (not timed), then write (timed): COPY text in and out on PostgreSQL, INSERT … VALUES on SQLite."""
    if connection.vendor == "postgresql":
        raw = cursor.cursor
        with raw.copy(f"COPY ({select}) TO STDOUT") as copy:
            data = b"".join(bytes(block) for block in copy)
        t = time.perf_counter()
        with raw.copy(f"COPY {bare} FROM STDIN") as copy:
            copy.write(data)
        return time.perf_counter() - t
    from core.bulk import rows_insert

    cursor.execute(select)
    columns = tuple(d[0] for d in cursor.description)
    rows = cursor.fetchall()
    t = time.perf_counter()
    rows_insert(bare, columns, rows)
    return time.perf_counter() - t


def read_seconds(selects: list[str]) -> tuple[float, int]:
    """Seconds to read what the selects return, plainly (COPY … TO STDOUT / a plain SELECT fetched), and rows."""
    rows = 0
    t = time.perf_counter()
    with connection.cursor() as cursor:
        for select in selects:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY ({select}) TO STDOUT") as copy:
                    for block in copy:
                        rows += bytes(block).count(b"\n")
            else:
                cursor.execute(select)
                while batch := cursor.fetchmany(CHUNK):
                    rows += len(batch)
    return time.perf_counter() - t, rows
