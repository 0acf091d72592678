"""Uploads with a preview, in a real Chromium: a bank statement with a planted bad row refused on its preview
page (row, field, expected, found; no confirm button; nothing written), a clean one previewed, confirmed
and imported, then reconciled in the workspace to an equal 余额调节表; a claims file previewed and imported as a batch awaiting review."""

import csv
from datetime import date
from pathlib import Path

import pytest
from django.db import connection

from access.services import user_create
from accounts.models import Book
from bench.claims_data import HEADER
from claims.models import Claim, ClaimBatch
from contracts.reference import reference_contracts_load
from ledger.services import Line, entry_post, fiscal_year_open
from reconciliation.bank import bank_reconciliation
from reconciliation.models import BankFormat, BankLine, BankStatement
from tests.conftest import books_opened
from tests.imports.conftest import ICBC
from tests.imports.test_bad_values import _claim

from .browser import shot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="browser tests run on PostgreSQL"),
]

FILES = Path(__file__).parent.parent / "imports" / "files"
PASSWORD = "Upload-上传-2026!x"


@pytest.fixture
def jincheng(db):
    reference_contracts_load()
    books_opened()
    BankFormat.objects.create(name="工商银行", columns=ICBC)
    limin = user_create(username="limin", password=PASSWORD, role="fund_accountant", regions=["1405"],
                        full_name="李敏")
    zhang = user_create(username="zhangwei", password=PASSWORD, role="reviewer", regions=["1405"], full_name="张伟")
    fund = Book.objects.get(code="FUND-1405")
    fiscal_year_open(book=fund, year=2020)
    entry_post(book=fund, date=date(2020, 3, 2), memo="拨付大病保险费（T1）", made_by=limin, reviewed_by=zhang,
               lines=[Line("5101", debit="1000000.00"), Line("1004", credit="1000000.00")])
    user_create(username="liuyang", password=PASSWORD, role="insurer_accountant", insurers=["CLIC-1405"],
                full_name="刘洋")


def _upload_statement(page, name: str):
    page.goto(f"{page.base}/admin/reconciliation/bankstatement/")
    page.click("a.upload-link")
    page.wait_for_load_state()
    page.select_option("select[name=account]", label=page.locator("select[name=account] option").filter(
        has_text="FUND-1405").filter(has_text="1004").first.inner_text())  # the fund's 支出户
    page.select_option("select[name=source]", "table")
    page.select_option("select[name=bank]", "工商银行")
    page.fill("input[name=year]", "2020")
    page.fill("input[name=month]", "3")
    page.fill("input[name=opening]", "300,000,000.00")
    page.fill("input[name=closing]", "299,019,980.00")
    page.set_input_files("input[name=file]", str(FILES / name))
    with page.expect_navigation():
        page.click("input[name=_upload]")
    page.wait_for_load_state()


def test_a_bank_statement_refused_then_a_clean_one_imported(jincheng, new_page):
    page = new_page()
    sign_in(page, "limin", PASSWORD)
    page.goto(f"{page.base}/admin/reconciliation/bankstatement/")
    assert page.locator("a.upload-link").count() == 1  # 上传对账单… (English until the msgids are merged)
    shot(page, "uploads-01-statement-list")
    _upload_statement(page, "icbc_2020_03_bad.csv")
    # One problem: row 3, its field, what was expected (no exponent notation), and the 1e30 that was found.
    rows = page.locator("#upload-problems tbody tr")
    assert rows.count() == 1
    row, field, expected, found = rows.first.locator("td").all_inner_texts()
    assert (row, found) == ("3", "1e30") and field and expected
    assert page.locator("#confirm-form").count() == 0
    assert page.get_attribute("#upload-status", "data-status") == "refused"
    assert not BankStatement.objects.exists() and not BankLine.objects.exists()
    shot(page, "uploads-02-statement-refused")

    _upload_statement(page, "icbc_2020_03.csv")
    assert page.get_attribute("#upload-status", "data-status") == "previewed"
    totals = page.inner_text("#upload-totals")
    assert "20,000.00" in totals and "1,000,020.00" in totals and "299,019,980.00" in totals
    assert "=cmd|' /C calc'!A0" in page.inner_text("#upload-sample")  # shown as the text it is
    assert not BankStatement.objects.exists()
    shot(page, "uploads-03-statement-preview")
    with page.expect_navigation():
        page.click("#confirm-form input[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("#upload-status", "data-status") == "done"
    statement = BankStatement.objects.get()
    assert (statement.year, statement.month, statement.lines.count()) == (2020, 3, 3)
    shot(page, "uploads-04-statement-imported")
    page.click("#upload-result-link")
    page.wait_for_load_state()
    assert "299,019,980.00" in page.content() or "299019980" in page.content()
    shot(page, "uploads-05-statement-page")

    # Reconciled in the workspace: the premium paid on 03-02 is in the books (记-2020-03-0001); the bank's
    # 20,000.00 received and its 20.00 fee are not yet, so they stay as the 余额调节表's items.
    # The import matched it by itself (same amount, same day); undone here and accepted again as suggested.
    page.goto(f"{page.base}/admin/reconciliation/bankstatement/{statement.pk}/workspace/")
    page.wait_for_load_state()
    assert page.locator("#ws-matched form").count() == 1 and page.locator("#ws-suggestions form").count() == 0
    page.click("#ws-matched form [type=submit]")
    page.wait_for_function("document.querySelectorAll('#ws-suggestions form').length === 1")
    assert page.inner_text("#ws-r-bank-out") == "1,000,020.00" and page.inner_text("#ws-r-book-out") == "1,000,000.00"
    assert not BankLine.objects.get(reference="T1").matched.exists()
    page.click("#ws-suggestions form [type=submit]")
    page.wait_for_function("document.querySelectorAll('#ws-matched form').length === 1")
    figures = {k: page.inner_text(f"#ws-{k}") for k in (
        "r-book", "r-bank", "r-bank-in", "r-bank-out", "r-book-in", "r-book-out", "adjusted-book", "adjusted-bank")}
    assert figures == {"r-book": "299,000,000.00", "r-bank": "299,019,980.00", "r-bank-in": "20,000.00",
                       "r-bank-out": "20.00", "r-book-in": "0.00", "r-book-out": "0.00",
                       "adjusted-book": "299,019,980.00", "adjusted-bank": "299,019,980.00"}
    assert page.get_attribute("#ws-balanced", "data-balanced") == "yes"
    t1 = BankLine.objects.get(reference="T1")
    assert [p.entry.voucher for p in t1.matched.all()] == ["记-2020-03-0001"]
    r = bank_reconciliation(statement=statement)
    assert r.balanced and r.adjusted_book == r.adjusted_bank
    shot(page, "uploads-09-statement-reconciled")


def test_a_claims_file_uploaded_previewed_and_imported_awaiting_review(jincheng, new_page, tmp_path):
    path = tmp_path / "jincheng_2019_03.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows([_claim("JC-1"), _claim("JC-2"), _claim("JC-3")])
    page = new_page()
    sign_in(page, "liuyang", PASSWORD)
    page.goto(f"{page.base}/admin/claims/claimbatch/")
    page.click("a.upload-link")
    page.wait_for_load_state()
    page.select_option("select[name=contract]", label=page.locator("select[name=contract] option").filter(
        has_text="JC-2019").first.inner_text())
    page.set_input_files("input[name=file]", str(path))
    shot(page, "uploads-06-claims-form")
    with page.expect_navigation():
        page.click("input[name=_upload]")
    page.wait_for_load_state()
    assert page.get_attribute("#upload-status", "data-status") == "previewed"
    totals = page.inner_text("#upload-totals")
    assert "54,000.00" in totals and "18,000.00" in totals
    assert not Claim.objects.exists()
    shot(page, "uploads-07-claims-preview")
    with page.expect_navigation():
        page.click("#confirm-form input[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("#upload-status", "data-status") == "done"
    batch = ClaimBatch.objects.get()
    assert batch.status == "prepared" and batch.claims.count() == 3 and batch.prepared_by.username == "liuyang"
    assert "审核" in page.content()
    shot(page, "uploads-08-claims-imported")
