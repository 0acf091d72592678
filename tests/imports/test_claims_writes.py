"""A claims import writes all or nothing: a dry run nothing at all, a collision with another import a refusal."""

import csv

import pytest

from bench.claims_data import HEADER
from claims.identity import check_digit
from claims.models import Claim, Hospital
from claims.services import claims_import
from core.errors import Refused

from .counts import assert_nothing_written, table_counts

PERSON = "14052519800101001" + check_digit("14052519800101001")


def _file(path, numbers, hospital="H777"):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for no in numbers:
            w.writerow([no, PERSON, "general", "2019-03-01", "2019-03-10", "2019-03-10", hospital, "泽州县人民医院",
                        "18000.00", "6000.00", "direct"])
    return path


def test_a_dry_run_notes_a_new_hospital_and_creates_none(jincheng, preparer, tmp_path):
    before = table_counts()
    result = claims_import(path=_file(tmp_path / "c.csv", ["JC-1", "JC-2"]), contract=jincheng.contract, by=preparer,
                           dry_run=True)
    assert (result.rows, result.created, result.problems) == (2, 0, [])
    assert_nothing_written(before)
    assert not Hospital.objects.filter(code="H777").exists()
    # The real import creates it, once.
    claims_import(path=_file(tmp_path / "c.csv", ["JC-1", "JC-2"]), contract=jincheng.contract, by=preparer)
    assert Hospital.objects.filter(code="H777").count() == 1


def test_numbers_another_import_committed_meanwhile_are_refused_by_name(jincheng, preparer, tmp_path):
    # Claim numbers are not looked up before they are written: the book's unique (book, claim_no) index refuses
    # a taken one as its chunk is written, whenever the other import committed it; the chunk is rolled back
    # to its savepoint and the taken numbers named by row.
    claims_import(path=_file(tmp_path / "first.csv", ["JC-7"]), contract=jincheng.contract, by=preparer)
    before = table_counts()
    with pytest.raises(Refused) as info:
        claims_import(path=_file(tmp_path / "second.csv", ["JC-6", "JC-7", "JC-8"]), contract=jincheng.contract,
                      by=preparer)
    assert_nothing_written(before)
    assert [(p["row"], p["field"], p["found"]) for p in info.value.problems] == [(3, "claim_no", "JC-7")]
    assert info.value.problems[0]["expected"] == "a claim number not already in the books"
    assert Claim.objects.filter(claim_no="JC-7").count() == 1


def test_an_xlsx_file_with_date_and_number_cells_imports(jincheng, preparer, tmp_path):
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(HEADER)
    # Date cells reach the reader as datetimes ("2019-03-01 00:00:00"), amounts as numbers.
    wb.active.append(["JC-1", PERSON, "general", datetime(2019, 3, 1), datetime(2019, 3, 10), datetime(2019, 3, 10),
                      "H001", "晋城市人民医院", 18000, 6000.5, "direct"])
    wb.save(tmp_path / "c.xlsx")
    result = claims_import(path=tmp_path / "c.xlsx", contract=jincheng.contract, by=preparer)
    claim = Claim.objects.get()
    assert result.created == 1 and (claim.settled_on.isoformat(), str(claim.paid.amount)) == ("2019-03-10", "6000.50")
