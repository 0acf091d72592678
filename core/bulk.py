"""Bulk inserts for the paths that write hundreds of thousands of rows (postings, claims)."""

import sqlite3

from django.db import connection


def rows_insert(table: str, columns: tuple, rows: list[tuple], suffix: str = "") -> None:
    """Bulk insert: COPY on PostgreSQL, multi-row INSERT … VALUES on SQLite.

    Measured here with 20,000 entries: on PostgreSQL, multi-row INSERTs took 5.8 s
    where COPY took 1.7 s (row triggers fire either way); SQLite takes up to 32,766
    parameters a statement and has no COPY.
    """
    if not rows:
        return
    if connection.vendor == "postgresql" and not suffix:
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    per_statement = max(1, 16000 // len(columns))
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    if connection.vendor == "sqlite":
        # Written with SQLite's own ? and run on the driver's cursor: Django's wrapper rewrites %s to ? by
        # regular expression on every statement, a tenth of the posting time at 20,000 entries. (One
        # statement run per row by executemany measured slower than these multi-row statements.)
        group = "(" + ", ".join(["?"] * len(columns)) + ")"
        with connection.cursor() as cursor:
            raw = cursor.cursor
            for i in range(0, len(rows), per_statement):
                chunk = rows[i:i + per_statement]
                sqlite3.Cursor.execute(raw, head + ", ".join([group] * len(chunk)) + suffix,
                                       [v for row in chunk for v in row])
        return
    group = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for i in range(0, len(rows), per_statement):
            chunk = rows[i:i + per_statement]
            cursor.execute(head + ", ".join([group] * len(chunk)) + suffix, [v for row in chunk for v in row])
