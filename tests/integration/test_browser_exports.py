"""打印 / PDF / Excel in a real browser: from the on-screen 科目余额表 an auditor downloads the statement as
XLSX and as PDF through the issue page (prefilled by the buttons); both carry the same figures — every account
row's 期末 debit and credit read from the workbook (openpyxl) equal those in the PDF's text (pypdf). Then a
voucher list exported to Excel from the changelist's 导出 button.

PostgreSQL only (the live server shares the test database with the browser's requests).
"""

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from openpyxl import load_workbook
from pypdf import PdfReader

from access.services import user_create
from accounts.models import Book
from audit.models import AuditEvent
from contracts.reference import reference_contracts_load
from ledger.services import Line, entry_post, fiscal_year_open
from reports.models import ReportRecord
from reports.services import report_data, report_verify
from tests.conftest import books_opened

from .browser import shot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="live server and browser share PostgreSQL"),
]
PASSWORD = "Ledger-审计-2026!x"


@pytest.fixture
def fund(db):
    reference_contracts_load()
    books_opened()
    for b in Book.objects.all():
        fiscal_year_open(book=b, year=2019)
    fund = Book.objects.get(fund__code="F-1405")
    wang = user_create(username="wang", password=PASSWORD, role="fund_accountant", regions=["14"], full_name="王会计")
    li = user_create(username="li", password=PASSWORD, role="reviewer", regions=["14"], full_name="李审核")
    user_create(username="sun", password=PASSWORD, role="auditor", regions=["14"], insurers=["CLIC-1405"],
                full_name="孙审计")
    entry_post(book=fund, date=date(2019, 1, 1), memo="支出户期初余额", made_by=wang, reviewed_by=li,
               lines=[Line("1004", debit="200000000.00"), Line("3001", credit="200000000.00")])
    entry_post(book=fund, date=date(2019, 4, 28), memo="=cmd|' /C calc'!A0 拨付保费", made_by=wang, reviewed_by=li,
               lines=[Line("5101", debit="44200093.50"), Line("1004", credit="44200093.50")])
    return fund


def _pdf_closing(text: str, code: str):
    """The 期末 debit and credit of an account row in the PDF's text: the last two figures on its line."""
    for line in text.splitlines():
        if line.strip().startswith(code + " ") or line.strip() == code or re.match(rf"^{code}\b", line.strip()):
            figures = re.findall(r"-?\d[\d,]*\.\d{2}", line)
            return figures
    return None


def test_trial_balance_as_xlsx_and_pdf_from_the_page_have_the_same_figures(fund, new_page, tmp_path):
    page = new_page()
    sign_in(page, "sun", PASSWORD)
    page.goto(f"{page.base}/admin/accounts/book/{fund.pk}/trial-balance/?year=2019&from=1&to=12")
    assert page.locator(".print-buttons .print-button").count() == 1
    shot(page, "exports-01-trial-balance-buttons")
    page.emulate_media(media="print")
    assert not page.locator("#header").is_visible() and not page.locator(".print-buttons").is_visible()
    shot(page, "exports-02-trial-balance-print-view")
    page.emulate_media(media="screen")

    files = {}
    for fmt in ("xlsx", "pdf"):
        page.goto(f"{page.base}/admin/accounts/book/{fund.pk}/trial-balance/?year=2019&from=1&to=12")
        page.click(f".print-buttons a.issue-{fmt}")
        page.wait_for_load_state()
        # The issue page, prefilled by the button: this book, year and format.
        assert page.locator("select[name=kind]").input_value() == "trial-balance"
        assert page.locator("select[name=book]").input_value() == str(fund.pk)
        assert page.locator("input[name=year]").input_value() == "2019"
        assert page.locator("select[name=format]").input_value() == fmt
        if fmt == "xlsx":
            shot(page, "exports-03-issue-prefilled-xlsx")
        with page.expect_download() as download:
            page.click("input[type=submit]")
        path = tmp_path / f"tb.{fmt}"
        download.value.save_as(path)
        files[fmt] = path
    assert files["xlsx"].read_bytes().startswith(b"PK") and files["pdf"].read_bytes().startswith(b"%PDF")
    assert report_verify(path=files["xlsx"]).ok and report_verify(path=files["pdf"]).ok
    assert sorted(ReportRecord.objects.values_list("format", flat=True)) == ["pdf", "xlsx"]

    ws = load_workbook(files["xlsx"])["科目余额表"]
    text = "\n".join(p.extract_text() for p in PdfReader(files["pdf"]).pages)
    fund.refresh_from_db()  # the chain length as posted since the fixture read the book
    data = report_data(kind="trial-balance", book=fund, year=2019)
    compared = 0
    for r in range(6, ws.max_row + 1):
        code = ws.cell(r, 1).value
        if not code or not re.fullmatch(r"\d+", str(code)):
            continue
        cd, cc = (ws.cell(r, 7).value, ws.cell(r, 8).value)
        xlsx = [Decimal(str(v or 0)).quantize(Decimal("0.01")) for v in (cd, cc)]
        figures = _pdf_closing(text, str(code))
        assert figures is not None, f"account {code} not found in the PDF's text"
        pdf = [Decimal(f.replace(",", "")) for f in figures[-2:]] if len(figures) >= 2 else None
        row = next(x for x in data["rows"] if x["code"] == code)
        assert xlsx == [Decimal(row["cd"]), Decimal(row["cc"])], (code, row, [ws.cell(r, c).value for c in range(1, 9)])
        if pdf is not None and len(figures) == 6:  # a row whose six figures the PDF prints on one line
            assert xlsx == pdf, (code, xlsx, pdf)
            compared += 1
    assert compared >= 3
    # The totals row: the same 期末 totals in both.
    total = next(r for r in range(6, ws.max_row + 1) if ws.cell(r, 1).value == "合计（明细科目）")
    cd_total = Decimal(str(ws.cell(total, 7).value)).quantize(Decimal("0.01"))
    assert cd_total == Decimal(data["totals"]["cd"])
    assert f"{cd_total:,.2f}" in text


def test_voucher_list_exported_from_the_changelist(fund, new_page, tmp_path):
    page = new_page()
    sign_in(page, "sun", PASSWORD)
    page.goto(f"{page.base}/admin/ledger/journalentry/?q=cmd")
    shot(page, "exports-04-voucher-list")
    page.click("a.export_link")
    page.wait_for_load_state()
    shot(page, "exports-05-export-form")
    with page.expect_download() as download:
        page.click("input[type=submit]")
    path = tmp_path / "v.xlsx"
    download.value.save_as(path)
    ws = load_workbook(io.BytesIO(path.read_bytes())).active
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 1
    memo = rows[0][3]
    assert memo.value.startswith("=cmd") and memo.data_type == "s"
    assert Decimal(str(rows[0][5].value)) == Decimal("44200093.50")
    event = AuditEvent.objects.get(action="list_exported")
    assert (event.actor, event.detail["rows"]) == ("sun", 1)
