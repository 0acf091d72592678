"""A statement job requested while no worker runs says so at once, instead of sitting at "queued 0%":
a small one can be rendered in the request when the user chooses so; a large one stays queued with a
clear message; a job waiting longer than REPORT_QUEUED_STALE_MINUTES says why in the list; a job whose
message never reached a broker that was down is sent by the first worker that starts.

Real Redis (the broker, on a queue no worker listens to), real database, Django's test client. The pages are
asked for in English (the msgids), so the assertions hold before and after the Chinese catalogue is merged."""

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.services import user_create
from audit.models import AuditEvent
from reports import workers
from reports.models import ReportJob
from tests.integration.requires import need, redis_reachable
from tests.reconciliation.test_reconcile import year  # noqa: F401 - fixture
from tests.reports.test_jobs_and_admin import _queued_to, idle_queue  # noqa: F401 - fixture

PASSWORD = "Ledger-报表-2026!x"


@pytest.fixture
def wang(year):  # noqa: F811
    """Jincheng's fund accountant: requests statements of the fund's book."""
    user = user_create(username="wangjc", password=PASSWORD, role="fund_accountant", regions=["14"],
                       full_name="王会计")
    c = Client(HTTP_ACCEPT_LANGUAGE="en")
    c.force_login(user)
    return c


@pytest.fixture
def no_worker(settings, idle_queue):  # noqa: F811
    """The broker (the local Redis) is up; no worker listens to the queue the admin sends to."""
    need(redis_reachable(settings.CELERY_BROKER_URL), f"Redis at {settings.CELERY_BROKER_URL} (redis-server)")
    with _queued_to(idle_queue):
        workers.worker_state_forget()
        yield idle_queue
        workers.worker_state_forget()


@contextmanager
def _broker_down():
    """The admin's broker is a port nothing listens on (asked fresh: the cached answer is dropped)."""
    from config.celery import app

    url = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    workers.worker_state_forget()
    try:
        yield
    finally:
        workers.worker_state_forget()
        app.conf.broker_url = url


def _request(client, book, **extra):
    response = client.post("/admin/reports/reportjob/add/", {"kind": "ledger", "book": book.pk, "year": 2019,
                                                              "month": 4, **extra}, follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said[-1].startswith("The statement job")  # Django's own word after ours
    return ReportJob.objects.latest("pk"), said[:-1], response.content.decode()


def test_no_worker_says_so_at_once_and_renders_a_small_statement_when_asked(year, wang, no_worker):  # noqa: F811
    book = year.contract.fund.books.get()
    job, said, page = _request(wang, book)
    # Said at once, on the request: nobody will take it, it is small, and here is the button.
    assert len(said) == 1 and said[0].startswith("No worker is running to render this statement."), said
    rows = workers.job_rows_estimate(kind="ledger", book=book, year=2019, month=4)
    assert f"It is small (about {rows} rows, 1 pages)" in said[0] and 0 < rows <= 2000
    link = reverse("admin:reports_reportjob_render_now", args=[job.pk])
    assert f'action="{link}"' in page and 'id="render-now"' in page
    # Still queued (a worker started later takes the message): nothing rendered yet.
    assert (job.status, job.progress, job.file, job.record) == ("queued", 0, "", None)
    assert wang.get(link).status_code == 405  # only a POST renders

    response = wang.post(link, follow=True)
    job.refresh_from_db()
    assert (job.status, job.progress, job.stage) == ("done", 100, "完成，共 1 页")
    assert [str(m) for m in response.context["messages"]] == ["Rendered in this request: 完成，共 1 页."]
    pdf = wang.get(reverse("admin:reports_reportjob_download", args=[job.pk]))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert job.record.kind == "ledger" and job.record.generated_by == "wangjc"
    assert AuditEvent.objects.filter(action="report_issued", object_id=str(job.record.pk)).count() == 1

    # A second tab, a double click: nothing rendered twice.
    again = wang.post(link, follow=True)
    assert [str(m) for m in again.context["messages"]] == ["This statement is no longer waiting (done)."]
    assert AuditEvent.objects.filter(action="report_issued").count() == 1


def test_a_large_statement_stays_queued_with_a_clear_message(year, wang, no_worker, settings):  # noqa: F811
    settings.REPORT_INLINE_MAX_ROWS = 3
    book = year.contract.fund.books.get()
    job, said, page = _request(wang, book)
    assert said[0].startswith("No worker is running to render this statement. It is large (about ")
    assert "it stays queued and starts as soon as a worker runs" in said[0]
    assert 'id="render-now"' not in page and job.status == "queued"
    # A forged render-now for it is refused with the figures, and renders nothing.
    response = wang.post(reverse("admin:reports_reportjob_render_now", args=[job.pk]), follow=True)
    assert "too large to render in a request" in [str(m) for m in response.context["messages"]][0]
    job.refresh_from_db()
    assert (job.status, job.record) == ("queued", None)


def test_a_job_waiting_long_with_no_worker_says_why_in_the_list(year, wang, no_worker, settings):  # noqa: F811
    book = year.contract.fund.books.get()
    job, _, _ = _request(wang, book)
    page = wang.get("/admin/reports/reportjob/").content.decode()
    assert "Status note" in page and "waiting for a worker" in page and "with no worker running" not in page
    ReportJob.objects.filter(pk=job.pk).update(requested_at=timezone.now() - timedelta(minutes=12))
    page = wang.get("/admin/reports/reportjob/").content.decode()
    assert "Queued for 12 min with no worker running" in page


def test_with_the_broker_down_the_job_waits_and_the_first_worker_sends_it(year, wang, no_worker):  # noqa: F811
    import redis

    from config.celery import app

    book = year.contract.fund.books.get()
    with _broker_down():
        job, said, page = _request(wang, book)
    assert said[0].startswith("The message queue (Redis) cannot be reached, so no worker can take this statement. "
                              "It is small")
    assert (job.status, job.stage) == ("queued", workers.UNSENT)
    assert "The message queue could not be reached" in wang.get("/admin/reports/reportjob/").content.decode()
    # The broker is back: what a starting worker runs (config.celery, worker_ready) sends it, once.
    assert workers.report_jobs_unsent_send() == 1
    assert workers.report_jobs_unsent_send() == 0
    job.refresh_from_db()
    assert (job.status, job.stage) == ("queued", "")
    queued = redis.Redis.from_url(app.conf.broker_url).llen(no_worker)
    assert queued == 1


def test_render_now_of_another_regions_job_is_refused_and_recorded(year, no_worker):  # noqa: F811
    book = year.contract.fund.books.get()
    job = ReportJob.objects.create(kind="ledger", book=book, year=2019, month=4, requested_by="someone")
    outsider = user_create(username="zhaosd", password=PASSWORD, role="fund_accountant", regions=["37"],
                           full_name="赵会计")
    c = Client()
    c.force_login(outsider)
    response = c.post(reverse("admin:reports_reportjob_render_now", args=[job.pk]))
    assert response.status_code == 403
    job.refresh_from_db()
    assert (job.status, job.record) == ("queued", None)
    event = AuditEvent.objects.filter(action="access_refused", actor="zhaosd").latest("pk")
    assert re.search(r"render-now", event.detail["path"])
