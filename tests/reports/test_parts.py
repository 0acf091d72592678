"""A long 明细账 is cut into parts that workers lay out side by side, then joined and numbered."""

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from ledger.services import EntrySpec, entries_post_many, entry_post
from reports.models import ReportJob
from reports.registry import ledger_split
from reports.services import report_job_run, report_verify
from tests.conftest import premium_lines


def _account(code, n):
    return {"code": code, "name": f"科目{code}", "opening": "0.00", "debit": "0.00", "credit": "0.00",
            "closing": "0.00", "lines": [{"voucher": f"{code}-{i}"} for i in range(n)]}


def test_cutting_a_ledger_keeps_every_line_once_in_order():
    data = {"title": "明细账", "accounts": [_account("1002", 10), _account("1004", 250), _account("5101", 3)],
            "totals": {}}
    parts = ledger_split(data, 60)
    pieces = [a for p in parts for a in p["accounts"]]
    for code, n in (("1002", 10), ("1004", 250), ("5101", 3)):
        mine = [a for a in pieces if a["code"] == code]
        assert [ln["voucher"] for a in mine for ln in a["lines"]] == [f"{code}-{i}" for i in range(n)]
        # The opening row only on the first piece, the total row only on the last.
        assert [a["continued"] for a in mine] == [False] + [True] * (len(mine) - 1)
        assert [a["unfinished"] for a in mine] == [True] * (len(mine) - 1) + [False]
    # No part holds more than 60 rows (lines plus four rows of heading, column heads, opening, total).
    assert all(sum(len(a["lines"]) + 4 for a in p["accounts"]) <= 60 for p in parts)
    # 1002 whole (14 rows) and 42 lines of 1004; three parts of 56 lines; its last 40 lines and 5101.
    assert [[len(a["lines"]) for a in p["accounts"]] for p in parts] == [[10, 42], [56], [56], [56], [40, 3]]
    assert ledger_split({"accounts": [], "totals": {}}, 60) == [{"accounts": [], "totals": {}}]


@pytest.fixture
def long_ledger(fund_book):
    # 300 premium entries: 5101 and 1004 each get 300 lines, 600 rows of 明细账 in all.
    day = date(2015, 1, 1)
    entries_post_many(book=fund_book, entries=[
        EntrySpec(day + timedelta(days=i), premium_lines(f"{1000 + i}.00"), f"第{i + 1}笔大病保险费划拨")
        for i in range(300)])
    return fund_book


def _pages(path):
    return [page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages]


def test_a_long_ledger_is_laid_out_in_parts_joined_numbered_and_verifiable(long_ledger, settings):
    settings.REPORT_PART_ROWS = 150
    job = ReportJob.objects.create(kind="ledger", book=long_ledger, year=2015, requested_by="测试")
    job = report_job_run(job_id=job.pk)
    assert (job.status, job.parts, job.parts_done, job.progress) == ("done", 5, 5, 100)
    pages = _pages(Path(job.file))
    n = len(pages)
    assert job.stage == f"完成，共 {n} 页"
    for i, text in enumerate(pages, 1):
        assert f"第 {i} 页 / 共 {n} 页" in text.replace("\n", " ")
    text = "".join(pages)
    assert text.count("明细账") >= n  # the running title on every page, the heading once
    assert "5101大病保险支出（续）" in text.replace(" ", "")
    assert text.count("期初余额") == 2 and text.count("本期合计") == 2  # one per account, not per part
    # Totals in the record are the whole ledger's: 300 × 1000 + (0 + … + 299) = 344,850.00 each side.
    assert job.record.totals == {"debit": "344850.00", "credit": "344850.00"}
    assert report_verify(path=job.file).ok
    entry_post(book=long_ledger, date=date(2015, 12, 31), memo="补记", lines=premium_lines("1.00"))
    assert not report_verify(path=job.file).ok
