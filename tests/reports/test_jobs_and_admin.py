"""Long statements render in a task with progress; bank lines are matched and unmatched in the admin."""

import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from reconciliation.models import BankLine
from reports.models import ReportJob
from reports.services import report_verify
from reports.tasks import render_report
from tests.integration.requires import redis_reachable
from tests.integration.test_celery_worker import workers  # noqa: F401 - fixture
from tests.reconciliation.test_reconcile import BANK_ROWS, _statement, year  # noqa: F401 - fixture


@pytest.fixture
def staff(django_user_model):
    c = Client()
    c.force_login(django_user_model.objects.create_superuser("duizhang", password="对账-test-pass-1"))
    return c


def _request_ledger_statement(staff, book):
    response = staff.post("/admin/reports/reportjob/add/", {"kind": "ledger", "book": book.pk, "year": 2019,
                                                             "month": 4}, follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said[-1].startswith("成功添加了 报表生成任务")  # Django's own word after ours
    return ReportJob.objects.get(), said[:-1]


def _download_and_check(staff, job, book):
    """The finished job's link hands over the PDF: the statement asked for, of this book, and recorded."""
    page = staff.get("/admin/reports/reportjob/").content.decode()
    link = reverse("admin:reports_reportjob_download", args=[job.pk])
    assert '<progress max="100" value="100">' in page and f'href="{link}"' in page
    response = staff.get(link)
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    pdf = b"".join(response.streaming_content)
    assert pdf.startswith(b"%PDF")
    verified = report_verify_bytes(pdf)
    assert verified.ok and verified.record == job.record
    assert (verified.record.kind, verified.record.book, verified.record.params) == (
        "ledger", book, {"year": 2019, "month": 4})
    event = AuditEvent.objects.get(action="report_downloaded")
    assert (event.actor, event.book_code, event.object_id) == ("duizhang", book.code, str(job.record.pk))


def report_verify_bytes(pdf: bytes):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        return report_verify(path=Path(f.name))


@contextmanager
def _queued_to(queue):
    """What the admin queues goes to `queue` (Celery's default queue is a setting read at each send)."""
    from config.celery import app

    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield
    finally:
        app.conf.task_default_queue = default


@pytest.fixture
def idle_queue(settings):
    """A queue no worker listens to, deleted afterwards: no worker anywhere renders this test's job."""
    queue = f"test-idle-{uuid.uuid4().hex[:8]}"
    yield queue
    if redis_reachable(settings.CELERY_BROKER_URL):
        import redis

        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        for key in broker.scan_iter(match=f"{queue}*"):  # the queue's list, one per message priority
            broker.delete(key)


def test_a_statement_job_renders_with_progress(year, staff, idle_queue):  # noqa: F811
    """No Celery worker runs in this test (the next one has them): the admin either queued the job,
    which then waits for a worker, or found no broker and rendered it at once, and says which."""
    book = year.contract.fund.books.get()
    with _queued_to(idle_queue):
        job, said = _request_ledger_statement(staff, book)
    # No worker listens to this queue (or no broker is up): the admin says so at once and offers to render
    # this small statement in the request (tests/reports/test_job_worker_absent.py); it waits, queued.
    assert job.status == "queued" and len(said) == 1 and 'id="render-now"' in said[0]
    assert (job.progress, job.file, job.record, job.finished_at) == (0, "", None, None)
    page = staff.get("/admin/reports/reportjob/").content.decode()
    assert '<progress max="100" value="0">' in page
    assert reverse("admin:reports_reportjob_download", args=[job.pk]) not in page
    # What a worker would do with the message, done here: this test proves the task, not the queue.
    assert render_report.apply(args=[job.pk]).get() == "done"
    job.refresh_from_db()
    assert (job.status, job.progress, job.stage) == ("done", 100, "完成，共 1 页")
    _download_and_check(staff, job, book)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process shares the test database")
def test_a_statement_requested_in_the_admin_is_rendered_by_a_worker(year, staff, workers):  # noqa: F811
    book = year.contract.fund.books.get()
    with _queued_to(workers):  # this test's two workers
        job, said = _request_ledger_statement(staff, book)
    # Queued, not rendered here: this process never runs the task, so only a worker can finish it.
    assert said == ["已排队等待后台处理；本列表显示其进度。"]
    deadline = time.monotonic() + 120
    while job.status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        job.refresh_from_db()
    assert (job.status, job.error, job.progress, job.stage) == ("done", "", 100, "完成，共 1 页")
    _download_and_check(staff, job, book)


def test_manual_match_and_unmatch_in_the_admin_record_who(year, staff, tmp_path):  # noqa: F811
    from reconciliation.bank import bank_statement_import

    account = year.contract.fund.books.get().accounts.get(code="1004")
    bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=account, bank="工商银行", year=2019, month=4,
                          opening="200000000.00", closing="64399699.50")
    line = BankLine.objects.get(reference="JC-T1")
    posting = account.postings.get(entry__date=date(2019, 4, 26))
    staff.post(f"/admin/reconciliation/bankline/{line.pk}/change/", {"matched": [posting.pk]}, follow=True)
    line.refresh_from_db()
    assert list(line.matched.all()) == [posting] and line.matched_by == "duizhang"
    wrong = account.postings.get(entry__date=date(2019, 4, 28))
    response = staff.post(f"/admin/reconciliation/bankline/{line.pk}/change/", {"matched": [wrong.pk]}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any("银行流水合计 -132,600,280.50，分录合计 -1,000,000.00" in m for m in shown)  # both sums named
    assert not any("成功修改" in m for m in shown)  # and no "changed successfully" beside the refusal
    assert list(line.matched.all()) == [posting]  # refused: unchanged
    staff.post("/admin/reconciliation/bankline/", {"action": "unmatch", "_selected_action": [line.pk]})
    line.refresh_from_db()
    assert not line.matched.exists() and line.matched_by == "unmatched by duizhang"
    # The statement's page lists every line it brought, each with who last matched or unmatched it.
    page = staff.get(f"/admin/reconciliation/bankstatement/{line.statement.pk}/change/").content.decode()
    rows = {r[2]: tr for tr in page.split("<tr")[1:] for r in BANK_ROWS if f">{r[2]}<" in tr}
    assert set(rows) == {r[2] for r in BANK_ROWS}
    assert "duizhang 取消勾对" in rows["JC-T1"]  # who undid it, in words
    assert not any("duizhang" in tr for ref, tr in rows.items() if ref != "JC-T1")
