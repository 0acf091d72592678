"""Shared fixtures: a Shandong fund and its insurer, each with a book opened for 2015."""

from datetime import date

import pytest

from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from ledger.services import Line, entry_post, fiscal_year_open


@pytest.fixture(autouse=True)
def _report_jobs_dir(settings, tmp_path):
    # Statement jobs write under the test's own directory, never the checkout's out/.
    settings.REPORT_JOBS_DIR = tmp_path / "jobs"


@pytest.fixture
def shandong(db):
    return region_ensure(code="37", name="山东省", level="province")


@pytest.fixture
def fund_book(shandong):
    fund = fund_ensure(code="F-37", name="山东省城乡居民大病保险资金", region=shandong)
    book = book_create(code="FUND-37", name="山东省大病保险资金账", fund=fund)
    fiscal_year_open(book=book, year=2015)
    return book


@pytest.fixture
def insurer_book(db):
    insurer = insurer_ensure(code="PICC-37", name="中国人民财产保险股份有限公司山东省分公司")
    book = book_create(code="PICC-37-DB", name="人保财险山东大病保险专账", insurer=insurer)
    fiscal_year_open(book=book, year=2015)
    return book


@pytest.fixture
def maker(django_user_model):
    return django_user_model.objects.create_user("zhangsan", password="制单-test-pass-1")


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("lisi", password="审核-test-pass-1")


def premium_lines(amount: str):
    """Fund side of a premium transfer: Dr 5101 大病保险支出 / Cr 1004 支出户存款."""
    return [Line("5101", debit=amount), Line("1004", credit=amount)]


@pytest.fixture
def posted_premium(fund_book):
    # Shandong 2015: 32 yuan × 10,000,000 insured, 80% by April 30 → 256,000,000.00
    return entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%",
                      lines=premium_lines("256000000.00"), idempotency_key="premium-2015-1")
