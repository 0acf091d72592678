"""Reading a table file: each cell trimmed of the whitespace str.strip() takes away, ideographic spaces too
(and one inside a cell read as a plain space)."""

import re
import sys

import pytest

from core.tables import _spaceless, iter_table


def test_a_row_is_taken_as_it_is_only_if_no_character_of_it_is_whitespace():
    # Every code point re's \s calls whitespace makes a row "not spaceless", wherever it stands in the row.
    space = re.compile(r"\s")
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        for text in (c, "2019-01" + c + "定点医院", c + "8803.73", "H0167" + c):
            assert _spaceless(text) == (space.search(text) is None), (hex(code), text)
    assert _spaceless("")


def test_cells_are_trimmed_of_ascii_ideographic_and_no_break_spaces(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n 1 ,\u30002\u3000,\xa03\n4,5,6\nx\u3000y,,\n", encoding="utf-8")
    assert list(iter_table(path)) == [(1, ["a", "b", "c"]), (2, ["1", "2", "3"]), (3, ["4", "5", "6"]),
                                      (4, ["x y"])]  # inside a cell, an ideographic space is a space



def test_rows_are_numbered_trimmed_and_skipped_alike_in_blocks_read_whole_and_row_by_row(tmp_path, monkeypatch):
    """Blocks of three rows: the first and third have nothing to trim and are taken whole; the second holds a
    padded cell, a row of empty cells and a row ending in empty cells, the fourth a quoted cell with a line
    break (one row, as a spreadsheet numbers it): those are read row by row, each as before."""
    import core.tables

    monkeypatch.setattr(core.tables, "_BLOCK_ROWS", 3)
    trimmed, real = [], core.tables._trimmed
    monkeypatch.setattr(core.tables, "_trimmed", lambda raw: trimmed.append(raw[0]) or real(raw))
    path = tmp_path / "t.csv"
    path.write_text('a,b\n1,2\n3,4\n 6 ,7\n,\n8,9,,\n10,11\n12,13\n14,15\n16,"17\n18"\n19,20\n', encoding="utf-8")
    assert list(iter_table(path)) == [
        (1, ["a", "b"]), (2, ["1", "2"]), (3, ["3", "4"]), (4, ["6", "7"]), (6, ["8", "9"]), (7, ["10", "11"]),
        (8, ["12", "13"]), (9, ["14", "15"]), (10, ["16", "17\n18"]), (11, ["19", "20"])]
    assert trimmed == [" 6 ", "", "8", "16", "19"]  # the second and fourth blocks only


def test_a_cell_longer_than_the_csv_reader_takes_is_refused_by_its_line(tmp_path):
    from core.errors import Refused

    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3," + "9" * 200_000 + "\n5,6\n", encoding="utf-8")
    with pytest.raises(Refused) as caught:
        list(iter_table(path))
    (p,) = caught.value.problems
    assert (p["row"], str(p["field"])) == (3, "cell") and "131072" in str(p["expected"])
    assert "t.csv line 3" in str(p["entry"]) and "field larger than field limit" in str(p["found"])
