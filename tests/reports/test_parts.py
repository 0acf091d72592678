"""A long 明细账 is cut into parts that workers lay out side by side, then joined and numbered."""

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from ledger.services import EntrySpec, entries_post_many, entry_post
from reports.models import ReportJob
from reports.registry import vouchers_split
from reports.services import english, report_job_run, report_verify
from tests.conftest import premium_lines


def _voucher(n, lines):
    return {"voucher": f"记-{n}", "lines": [{"account": "5101"}] * lines}


def test_cutting_vouchers_keeps_every_voucher_once_in_order_and_whole():
    data = {"title": "记账凭证", "vouchers": [_voucher(i, 2 + i % 3) for i in range(40)], "totals": {}}
    parts = vouchers_split(data, 30)
    assert [v["voucher"] for p in parts for v in p["vouchers"]] == [f"记-{i}" for i in range(40)]
    # No part holds more than 30 rows (lines plus four: heading, column heads, total, signatures).
    assert all(sum(len(v["lines"]) + 4 for v in p["vouchers"]) <= 30 for p in parts)
    assert len(parts) == 10  # 40 vouchers of 6, 7 and 8 rows: four fit in 30 rows, never five
    assert vouchers_split({"vouchers": [], "totals": {}}, 30) == [{"vouchers": [], "totals": {}}]


@pytest.fixture
def long_ledger(fund_book, signed):
    # 300 premium entries: 5101 and 1004 each get 300 lines, 600 rows of 明细账 in all.
    day = date(2015, 1, 1)
    entries_post_many(book=fund_book, entries=[
        EntrySpec(day + timedelta(days=i), premium_lines(f"{1000 + i}.00"), f"第{i + 1}笔大病保险费划拨")
        for i in range(300)], **signed)
    return fund_book


def _pages(path):
    return [page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages]


def test_a_long_voucher_book_is_laid_out_in_parts_joined_numbered_and_verifiable(long_ledger, settings, signed):
    settings.REPORT_PART_ROWS = 150
    job = ReportJob.objects.create(kind="vouchers", book=long_ledger, year=2015, requested_by="测试")
    job = report_job_run(job_id=job.pk)
    assert (job.status, job.parts, job.parts_done, job.progress) == ("done", 12, 12, 100)  # 25 vouchers a part
    pages = _pages(Path(job.file))
    n = len(pages)
    assert job.stage == f"完成，共 {n} 页"
    for i, text in enumerate(pages, 1):
        assert f"第 {i} 页 / 共 {n} 页" in text.replace("\n", " ")
    text = "".join(pages)
    assert text.count("记账凭证") >= n  # the running title on every page
    assert text.count("凭证 300 张") == 1  # the closing total once, at the end
    assert job.record.totals == {"count": "300", "amount": "344850.00"}
    assert report_verify(path=job.file).ok
    # A voucher posted later into the same year: the statement still verifies (it stands on the chain
    # as it was at entry 300), and the auditor is told the books have moved on since.
    entry_post(book=long_ledger, date=date(2015, 12, 31), memo="补记", lines=premium_lines("1.00"), **signed)
    later = report_verify(path=job.file)
    assert later.ok and english(later.notes) == ["1 voucher(s) dated in this period were posted after the statement was "
                                        "issued; it shows the books as they stood at entry 300"]


def test_a_long_ledger_is_drawn_in_one_part_with_every_page_numbered(long_ledger):
    job = ReportJob.objects.create(kind="ledger", book=long_ledger, year=2015, requested_by="测试")
    job = report_job_run(job_id=job.pk)
    assert (job.status, job.parts, job.progress) == ("done", 1, 100)
    pages = _pages(Path(job.file))
    n = len(pages)
    assert n > 10 and all(f"第 {i} 页 / 共 {n} 页" in t for i, t in enumerate(pages, 1))
    text = "".join(pages)
    assert "5101 大病保险支出（续）" in text
    # One opening row per account (1004 and 3001 carry their 建账 balances), not per page; each page an
    # account runs past ends with 过次页 and the next starts with 承前页 under the account's heading （续）.
    assert text.count("上年结转") == 3
    assert text.count("过次页") == text.count("承前页") == text.count("（续）") >= n - 2
    # 1004 and 5101 close January to October; 3001, which never moved, closes December (its balance shows).
    assert text.count("本月合计") == text.count("本年累计") == 2 * 10 + 1
    # Totals in the record are the whole ledger's: 300 × 1000 + (0 + … + 299) = 344,850.00 each side.
    assert job.record.totals == {"debit": "344850.00", "credit": "344850.00"}
    assert report_verify(path=job.file).ok


def test_a_job_is_taken_once_whoever_asks_second_renders_nothing(fund_book):
    """A worker and a user's "render it now" (or one message delivered twice): only the first takes the job."""
    from reports.services import report_job_plan

    job = ReportJob.objects.create(kind="trial-balance", book=fund_book, year=2015, requested_by="测试")
    assert report_job_plan(job_id=job.pk) == 1
    assert report_job_plan(job_id=job.pk) == 0  # already running: the second delivery does nothing
    job.refresh_from_db()
    assert job.status == "running"
    assert report_job_run(job_id=job.pk).status == "running"  # not claimed by this caller: left to its owner
    done = report_job_run(job_id=job.pk, claimed=True)
    assert done.status == "done" and Path(done.file).is_file()
