"""Long statements render in a task with progress; bank lines are matched and unmatched in the admin."""

from datetime import date

import pytest
from django.test import Client

from reconciliation.models import BankLine
from reports.models import ReportJob
from reports.services import report_verify
from reports.tasks import render_report
from tests.reconciliation.test_reconcile import BANK_ROWS, _statement, year  # noqa: F401 - fixture


@pytest.fixture
def staff(django_user_model):
    c = Client()
    c.force_login(django_user_model.objects.create_superuser("duizhang", password="对账-test-pass-1"))
    return c


def test_a_statement_job_renders_with_progress(year, staff):  # noqa: F811
    book = year.contract.fund.books.get()
    response = staff.post("/admin/reports/reportjob/add/", {"kind": "ledger", "book": book.pk, "year": 2019,
                                                             "month": 4})
    assert response.status_code == 302
    job = ReportJob.objects.get()
    if job.status != "done":  # a worker may not be running in this test: run the task itself
        assert render_report.apply(args=[job.pk]).get() == "done"
    job.refresh_from_db()
    assert (job.status, job.progress, job.stage) == ("done", 100, "完成，共 1 页")
    assert report_verify(path=job.file).ok
    page = staff.get("/admin/reports/reportjob/").content.decode()
    assert '<progress max="100" value="100">' in page


def test_manual_match_and_unmatch_in_the_admin_record_who(year, staff, tmp_path):  # noqa: F811
    from reconciliation.bank import bank_statement_import

    account = year.contract.fund.books.get().accounts.get(code="1004")
    bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=account, bank="工商银行", year=2019, month=4,
                          opening="200000000.00", closing="64399699.50")
    line = BankLine.objects.get(reference="JC-T1")
    posting = account.postings.get(entry__date=date(2019, 4, 26))
    staff.post(f"/admin/reconciliation/bankline/{line.pk}/change/", {"matched": [posting.pk]})
    line.refresh_from_db()
    assert list(line.matched.all()) == [posting] and line.matched_by == "duizhang"
    wrong = account.postings.get(entry__date=date(2019, 4, 28))
    response = staff.post(f"/admin/reconciliation/bankline/{line.pk}/change/", {"matched": [wrong.pk]}, follow=True)
    assert any("adding up to" in str(m) for m in response.context["messages"])
    assert list(line.matched.all()) == [posting]  # refused: unchanged
    staff.post("/admin/reconciliation/bankline/", {"action": "unmatch", "_selected_action": [line.pk]})
    line.refresh_from_db()
    assert not line.matched.exists() and line.matched_by == "unmatched by duizhang"
    assert staff.get(f"/admin/reconciliation/bankstatement/{line.statement.pk}/change/").status_code == 200
