"""Bulk writes: the statements rows_prepare makes put every row in as given, whatever columns are written once
into the statement (`fixed`, SQLite) instead of bound for each row."""

import pytest
from django.db import connection

from core.bulk import prepared_write, rows_prepare

COLUMNS = ("id", "batch_id", "claim_no", "received_on", "paid_fen")


@pytest.fixture
def table(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bulk_claims_t (id integer PRIMARY KEY, batch_id integer, claim_no text, "
                       "received_on text, paid_fen bigint)")
    yield "bulk_claims_t"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bulk_claims_t")


def _write(table, rows, **kwargs):
    statements = rows_prepare(connection.vendor, table, COLUMNS, rows, **kwargs)
    with connection.cursor() as cursor:
        prepared_write(cursor.cursor, connection.vendor, statements)
        cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY id")
        return statements, [tuple(r) for r in cursor.fetchall()]


def test_fixed_columns_are_written_once_per_statement_and_every_row_comes_back_as_given(table):
    # 8,001 rows of 3 bound values: SQLite takes 5,333 a statement, so two statements, the second one short.
    rows = [[i, 17, f"JC-2019-{i:06d}", None, i * 101 % 99991] for i in range(1, 8002)]
    statements, back = _write(table, rows, fixed={"batch_id": 17, "received_on": None})
    assert back == [tuple(r) for r in rows]
    if connection.vendor == "sqlite":
        assert len(statements) == 2
        sql, params = statements[0]
        assert sql.count("(?, 17, ?, NULL, ?)") == 5333 and len(params) == 3 * 5333
        assert params[:6] == [1, "JC-2019-000001", 101, 2, "JC-2019-000002", 202]


def test_without_fixed_columns_every_value_is_bound(table):
    rows = [[i, 3, f"N{i}", "2019-05-0" + str(i), i] for i in range(1, 6)]
    statements, back = _write(table, rows)
    assert back == [tuple(r) for r in rows]
    if connection.vendor == "sqlite":
        assert statements[0][1] == [v for r in rows for v in r]


@pytest.mark.parametrize("value", ["x'); DROP TABLE bulk_claims_t; --", True, 1.5])
def test_a_fixed_column_holds_an_integer_or_none_and_nothing_else_is_spliced_into_a_statement(table, value):
    with pytest.raises(TypeError):
        rows_prepare("sqlite", table, COLUMNS, [[1, value, "N1", None, 1]], fixed={"batch_id": value})


def test_a_row_of_another_width_or_a_fixed_column_not_written_is_refused_before_any_statement(table):
    with pytest.raises(ValueError, match="rows of 5 values"):
        rows_prepare("sqlite", table, COLUMNS, [[1, 17, "N1", None, 1], [2, 17, "N2", 5]], fixed={"batch_id": 17})
    with pytest.raises(ValueError, match="not among"):
        rows_prepare("sqlite", table, COLUMNS, [[1, 17, "N1", None, 1]], fixed={"book_id": 1})
