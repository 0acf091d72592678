"""Bulk inserts for the paths that write hundreds of thousands of rows (postings, claims)."""

import contextlib
import gc
import queue
import sqlite3
import sys
import threading
from itertools import chain

from django.db import connection


def rows_insert(table: str, columns: tuple, rows: list[tuple], suffix: str = "") -> None:
    """Bulk insert: COPY on PostgreSQL, multi-row INSERT … VALUES on SQLite.

    Measured here with 20,000 entries: on PostgreSQL, multi-row INSERTs took 5.8 s
    where COPY took 1.7 s (row triggers fire either way); SQLite takes up to 32,766
    parameters a statement and has no COPY.
    """
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not suffix:
            rows_copy(cursor.cursor, table, columns, rows)
        elif connection.vendor == "sqlite":
            # Written with SQLite's own ? and run as sqlite3's own execute: Django's wrapper rewrites %s to ? by
            # regular expression on every statement, a tenth of the posting time at 20,000 entries. (One
            # statement run per row by executemany measured slower than these multi-row statements.)
            raw = cursor.cursor
            _values_insert(lambda sql, params: sqlite3.Cursor.execute(raw, sql, params), "?", table, columns, rows,
                           suffix)
        else:
            _values_insert(cursor.execute, "%s", table, columns, rows, suffix)


def rows_copy(driver_cursor, table: str, columns: tuple, rows: list, types: tuple | None = None) -> None:
    """PostgreSQL: COPY the rows on a driver (psycopg) cursor, each formatted by psycopg's C code (about
    1 µs a claim row; formatting the same text in Python beforehand, rows_prepare, took 6-7).

    With `types` (each column's PostgreSQL type, exactly the table's: binary data is not converted), in
    COPY's binary format: neither side turns numbers and dates into text and back (a million claim rows
    into a bare table 1.55–1.63 s against 2.60–2.74 s as text)."""
    binary = " (FORMAT BINARY)" if types else ""
    with driver_cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as copy:
        if types:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _values_insert(execute, placeholder: str, table: str, columns: tuple, rows: list[tuple], suffix: str = "",
                   verb: str = "INSERT", fixed: dict | None = None) -> None:
    fixed = fixed or {}
    if not set(fixed) <= set(columns):
        raise ValueError(f"fixed columns {sorted(set(fixed) - set(columns))} are not among {columns}")
    per_statement = max(1, 16000 // max(1, len(columns) - len(fixed)))
    head = f"{verb} INTO {table} ({', '.join(columns)}) VALUES "
    group = "(" + ", ".join([_literal(fixed[c]) if c in fixed else placeholder for c in columns]) + ")"
    # A fixed column's values are taken out of the flat list by one slice each, last column first (each
    # removal narrows every row by one): faster than picking the other columns out of each row.
    unbound = sorted((i for i, column in enumerate(columns) if column in fixed), reverse=True)
    for i in range(0, len(rows), per_statement):
        chunk = rows[i:i + per_statement]
        params = list(chain.from_iterable(chunk))
        width = len(columns)
        if len(params) != width * len(chunk):  # a row of another width would shift every column after it
            raise ValueError(f"rows of {width} values expected for {table}")
        for j in unbound:
            del params[j::width]
            width -= 1
        execute(head + ", ".join([group] * len(chunk)) + suffix, params)


def _literal(value) -> str:
    """A fixed column's value as SQL: an integer or NULL only, so that no text is ever spliced into a statement."""
    if value is None:
        return "NULL"
    if type(value) is not int:
        raise TypeError(f"a fixed column holds an integer or None, not {type(value).__name__}")
    return str(value)


def ids_reserve(table: str, n: int) -> list[int]:
    """Ids for n new rows of `table` (an auto-increment id), taken before they are written, so that rows
    naming them can be made first and all be written by COPY or multi-row INSERT, which return no ids.

    PostgreSQL: from the id column's sequence (never handed out twice, even if this transaction rolls
    back). SQLite: after the highest id ever given, as its AUTOINCREMENT would; the transaction holds the
    database's write lock from its start (transaction_mode IMMEDIATE), so no other writer takes them."""
    if n <= 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The sequence named once: pg_get_serial_sequence per id was 3 % of the server's posting time.
            cursor.execute("SELECT nextval(s.seq) FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) s,"
                           " generate_series(1, %s)", [table, n])
            return [row[0] for row in cursor.fetchall()]
    start = last_id(table) + 1
    return list(range(start, start + n))


def last_id(table: str) -> int:
    """SQLite: the highest id `table` has ever given (0 if none); every row written after has a higher one."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0),"
                       " coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))", [table])
        return cursor.fetchone()[0]


# COPY's text format: a field's backslash, tab, newline and carriage return are escaped; \N is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    text = value if type(value) is str else str(value)
    return text.translate(_COPY_ESCAPES) if text and not text.isalnum() else text


def rows_prepare(vendor: str, table: str, columns: tuple, rows: list[tuple], *, verb: str = "INSERT",
                 fixed: dict | None = None) -> list[tuple[str, object]]:
    """rows_insert's statements made ready beforehand, as (statement, data) pairs for prepared_write: on
    PostgreSQL a COPY and its rows as COPY text, on SQLite each multi-row INSERT and its parameters (`verb`
    may name a conflict clause: INSERT OR FAIL). SQLite: `fixed` names columns that hold the same integer
    (or None) in every row, written into the statement once instead of bound for each row (sqlite3 converts
    each bound value holding the GIL: a million claims' 18 million took 1.5 s from the caller's thread).

    A Writer's caller prepares here, on its own thread, what the writer's thread then only sends: psycopg
    formats COPY rows holding the GIL, which on the writer's thread kept the caller waiting."""
    if not rows:
        return []
    if vendor == "postgresql":
        field, tabs = _copy_field, len(columns) - 1
        lines = []
        for row in rows:
            # Most rows need no escaping: each value as its text, NULL as \N (a boolean as True/False, which
            # PostgreSQL reads). A row whose text holds more tabs than its fields need, a line break, or a
            # backslash that is not a NULL's is made field by field (a third of the time at a million claims).
            line = "\t".join(["\\N" if v is None else v if type(v) is str else str(v) for v in row])
            if line.count("\t") != tabs or "\n" in line or "\r" in line or line.count("\\") != row.count(None):
                line = "\t".join([field(v) for v in row])
            lines.append(line)
        text = "\n".join(lines) + "\n"
        return [(f"COPY {table} ({', '.join(columns)}) FROM STDIN", text.encode())]
    statements = []
    _values_insert(lambda sql, params: statements.append((sql, params)), "?", table, columns, rows, verb=verb,
                   fixed=fixed)
    return statements


def prepared_write(cursor, vendor: str, statements: list[tuple[str, object]]) -> None:
    """Run what rows_prepare made on a driver cursor."""
    for sql, data in statements:
        if vendor == "postgresql":
            with cursor.copy(sql) as copy:
                copy.write(data)
        else:
            sqlite3.Cursor.execute(cursor, sql, data)


class _Tuning:
    """A setting of the whole interpreter changed while any bulk call needs it, restored when the last one
    ends: calls on other threads (other requests, other workers' threads) overlap, and the first to start
    must not restore while another still runs, nor the last leave it changed."""

    def __init__(self, change, restore):
        self._change, self._restore = change, restore
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None

    @contextlib.contextmanager
    def held(self):
        with self._lock:
            if self._users == 0:
                self._saved = self._change()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._restore(self._saved)


def _collector_off():
    was_on = gc.isenabled()
    gc.disable()
    return was_on


def _switch_faster():
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, _SWITCH_INTERVAL))
    return before


# Python's cyclic garbage collector, off during a bulk call. A bulk call's temporaries (checked rows,
# tuples for the database) hold no cycles: reference counting frees them when the call returns.
# Collections during the call only moved them to older generations, and every few calls that set off a
# full collection of the whole process's heap: 300 ms every fourth batch of 5,000 vouchers in the ledger
# benchmark, the writer thread (below) waiting for the GIL meanwhile.
_COLLECTOR = _Tuning(_collector_off, lambda was_on: gc.enable() if was_on else None)

# The writer's thread needs the GIL back each time the database answers (psycopg sends COPY data in
# 128 KB pieces, each a wait); at the default 5 ms switch interval against a caller computing in Python,
# that cost a second per 100,000 vouchers.
_SWITCH_INTERVAL = 0.0005  # seconds
_SWITCH = _Tuning(_switch_faster, sys.setswitchinterval)


@contextlib.contextmanager
def page_cache_held(kib: int):
    """SQLite: the connection's page cache held to `kib` KiB within the block, then as it was (a setting of
    the connection, not of the transaction: put back whatever the block raises). Elsewhere nothing."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {before}")


def collector_paused():
    """Context manager: the cyclic garbage collector off for a bulk call (_COLLECTOR says why)."""
    return _COLLECTOR.held()


class Writer:
    """A transaction's bulk writes, run in the order given on the connection's driver cursor.

    Threaded, the jobs run on a thread of their own while the caller prepares the next rows: the database
    works while Python checks and seals (PostgreSQL's server is another process; SQLite's C code runs
    without the GIL), where before the two took turns and each core idled half the time. Until close()
    returns, the connection is the writer's: the caller must not use it. A job that raises stops the jobs
    after it; close() raises its exception, in the caller's thread. Not threaded, each job runs at once
    (small batches: a thread would cost more than it saves), and its exception waits for close() the same.
    """

    def __init__(self, *, threaded: bool):
        connection.ensure_connection()
        self.vendor = connection.vendor
        self._raw = connection.connection
        self._cursor = None
        self._error = None
        self._closed = False
        self._jobs = None
        self._thread = None
        self._switch = None
        if threaded:
            self._switch = _SWITCH.held()  # given back by close()
            self._switch.__enter__()
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._work, name="bulk-writer", daemon=True)
            self._thread.start()

    def submit(self, job) -> None:
        """job(driver cursor, vendor), run after every job submitted before it."""
        assert not self._closed, "the writer is closed"
        if self._jobs is not None:
            self._jobs.put(job)
        else:
            self._run(job)

    def _run(self, job) -> None:
        if self._error is not None:
            return
        try:
            if self._cursor is None:
                self._cursor = self._raw.cursor()
            job(self._cursor, self.vendor)
        except BaseException as exc:  # handed to the caller's thread by close()
            self._error = exc

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(job)

    def close(self) -> None:
        """Wait for every job; raise the first one's exception, if any. Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._switch.__exit__(None, None, None)
        if self._cursor is not None:
            self._cursor.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
