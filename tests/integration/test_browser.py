"""The real pages in a real browser: an accountant enters a voucher, a reviewer posts it, an
insurer's accountant sees only their books, an auditor downloads a 科目余额表 and can change nothing.

PostgreSQL only: the live server shares the test database with the browser's requests, and
the ledger's guards (rightly) refuse the row-by-row flush SQLite would need afterwards.
"""

from datetime import date

import pytest
from django.db import connection

from access.services import user_create
from accounts.models import Book
from audit.models import AuditEvent
from contracts.reference import reference_contracts_load
from ledger.models import JournalEntry
from ledger.services import Line, entry_post, fiscal_year_open
from tests.conftest import books_opened

from .browser import shot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="live server and browser share PostgreSQL"),
]
PASSWORD = "Ledger-审计-2026!x"


@pytest.fixture
def jincheng(db):
    reference_contracts_load()
    books_opened()
    for b in Book.objects.all():
        fiscal_year_open(book=b, year=2019)
    fund = Book.objects.get(fund__code="F-1405")
    wang = user_create(username="wang", password=PASSWORD, role="fund_accountant", regions=["14"], full_name="王会计")
    li = user_create(username="li", password=PASSWORD, role="reviewer", regions=["14"], full_name="李审核")
    user_create(username="zhou", password=PASSWORD, role="insurer_accountant", insurers=["CLIC-1405"],
                full_name="周会计")
    user_create(username="sun", password=PASSWORD, role="auditor", regions=["14"], insurers=["CLIC-1405"],
                full_name="孙审计")
    entry_post(book=fund, date=date(2019, 1, 1), memo="支出户期初余额", made_by=wang, reviewed_by=li,
               lines=[Line("1004", debit="200000000.00"), Line("3001", credit="200000000.00")])
    return fund


def _fill_line(page, i, account_code, debit="", credit=""):
    page.select_option(f"select[name=postings-{i}-account]", label=page.locator(
        f"select[name=postings-{i}-account] option").filter(has_text=account_code).first.inner_text())
    if debit:
        page.fill(f"input[name=postings-{i}-debit]", debit)
    if credit:
        page.fill(f"input[name=postings-{i}-credit]", credit)


def test_a_voucher_from_entry_to_posting_in_the_browser(jincheng, new_page):
    page = new_page()
    sign_in(page, "wang", PASSWORD)
    assert "站点管理" in page.content() or "记账凭证" in page.content()
    shot(page, "01-fund-accountant-index")
    page.goto(f"{page.base}/admin/ledger/journalentry/add/")
    # Only the books of the accountant's region are offered.
    assert "FUND-1405" in page.content() and "FUND-37" not in page.content()
    shot(page, "02-choose-book")
    page.goto(f"{page.base}/admin/ledger/journalentry/add/?book={jincheng.pk}")
    page.fill("input[name=date]", "2019-04-26")
    page.fill("input[name=memo]", "拨付2019年大病保险费首期（60%）")
    _fill_line(page, 0, "5101", debit="132600280.50")
    _fill_line(page, 1, "1004", credit="132600280.50")
    shot(page, "03-voucher-balanced")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    draft = JournalEntry.objects.get(memo="拨付2019年大病保险费首期（60%）")
    assert draft.status == "draft" and draft.made_by.username == "wang"

    # An unbalanced voucher: the page shows the difference as it is typed; saved, it stays a draft
    # that the reviewer's posting refuses with the figures.
    page.goto(f"{page.base}/admin/ledger/journalentry/add/?book={jincheng.pk}")
    page.fill("input[name=date]", "2019-04-27")
    page.fill("input[name=memo]", "借贷不平的凭证")
    _fill_line(page, 0, "5101", debit="100.00")
    _fill_line(page, 1, "1004", credit="90.00")
    totals = page.inner_text("#ledger-totals")
    assert "100.00" in totals and "90.00" in totals and "10.00" in totals
    shot(page, "04-voucher-unbalanced")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    unbalanced = JournalEntry.objects.get(memo="借贷不平的凭证")
    assert unbalanced.status == "draft"

    # The maker has no 审核 button; the reviewer has, and posts.
    page.goto(f"{page.base}/admin/ledger/journalentry/{draft.pk}/change/")
    assert page.locator("text=审核记账").count() == 0 or "审核记账" not in page.inner_text(".object-tools")
    reviewer = new_page()
    sign_in(reviewer, "li", PASSWORD)
    # The reviewer's front page says what awaits them: the two drafts 王会计 prepared.
    panel = reviewer.inner_text("#awaiting-review")
    assert "待审核记账的凭证" in panel and "2" in panel
    shot(reviewer, "05a-reviewer-awaiting")
    reviewer.goto(f"{reviewer.base}/admin/ledger/journalentry/{draft.pk}/change/")
    shot(reviewer, "05-reviewer-draft")
    reviewer.click("button:has-text('审核记账')")
    reviewer.wait_for_load_state()
    draft.refresh_from_db()
    assert draft.status == "posted" and draft.reviewed_by.username == "li" and draft.voucher
    shot(reviewer, "06-reviewer-posted")
    reviewer.goto(f"{reviewer.base}/admin/ledger/journalentry/{unbalanced.pk}/change/")
    reviewer.click("button:has-text('审核记账')")
    reviewer.wait_for_load_state()
    refusal = reviewer.inner_text("ul.messagelist")
    assert "借方合计 100.00，贷方合计 90.00" in refusal
    unbalanced.refresh_from_db()
    assert unbalanced.status == "draft" and unbalanced.number is None
    shot(reviewer, "07-unbalanced-refused")
    assert AuditEvent.objects.filter(action="entry_posted", actor="li", object_id=str(draft.pk)).exists()


def test_an_insurers_accountant_sees_only_their_insurers_books(jincheng, new_page):
    page = new_page()
    sign_in(page, "zhou", PASSWORD)
    page.goto(f"{page.base}/admin/accounts/book/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "中国人寿保险股份有限公司晋城分公司" in rows.first.inner_text()
    shot(page, "08-insurer-books")
    # The fund's book by its id: refused, and the attempt recorded.
    response = page.goto(f"{page.base}/admin/accounts/book/{jincheng.pk}/change/")
    assert response.status == 403
    assert AuditEvent.objects.filter(action="access_refused", actor="zhou").exists()


def test_an_auditor_downloads_a_trial_balance_and_can_change_nothing(jincheng, new_page, tmp_path):
    page = new_page()
    sign_in(page, "sun", PASSWORD)
    page.goto(f"{page.base}/admin/reports/reportrecord/issue/")
    shot(page, "09-auditor-issue-statement")
    page.select_option("select[name=kind]", "trial-balance")
    page.select_option("select[name=book]", str(jincheng.pk))
    page.fill("input[name=year]", "2019")
    with page.expect_download() as download:
        page.click("input[type=submit]")
    path = tmp_path / "tb.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF")
    from reports.services import report_verify

    assert report_verify(path=path).ok
    # Verify it from the admin too.
    page.goto(f"{page.base}/admin/reports/reportrecord/verify/")
    page.set_input_files("input[name=file]", str(path))
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "账簿与本报表一致" in page.inner_text("#verify-result")
    shot(page, "10-auditor-verified")
    # Nothing to change: no add links, no save buttons, no actions but reading.
    entry = JournalEntry.objects.get(book=jincheng)
    page.goto(f"{page.base}/admin/ledger/journalentry/{entry.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("button:has-text('冲销')").count() == 0
    shot(page, "11-auditor-voucher-readonly")
    page.goto(f"{page.base}/admin/")
    assert page.locator("a.addlink").count() <= 1  # at most 报表生成任务 (requesting a statement)
    shot(page, "12-auditor-index")
    # The trail of what happened in their scope, and the fund ↔ insurer reconciliation of the year.
    page.goto(f"{page.base}/admin/audit/auditevent/")
    trail = page.inner_text("#result_list")
    assert "出具报表" in trail and "sun" in trail
    shot(page, "13-auditor-audit-trail")
    from contracts.models import ContractYear

    cy = ContractYear.objects.get(contract__code="JC-2019")
    page.goto(f"{page.base}/admin/contracts/contractyear/{cy.pk}/reconcile/")
    assert "基金账已拨保费" in page.inner_text("body")
    shot(page, "14-fund-insurer-reconciliation")
