"""A real Celery worker, fed through the local Redis, runs the daily overdue check.

The worker is a separate process on the same PostgreSQL test database. Two workers
racing on the same day's check mark each overdue tranche once.
"""

import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from contracts.models import PremiumObligation
from contracts.tasks import premium_overdue_check

from .requires import need, redis_reachable

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs a shared database"),
]

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def workers(settings, tmp_path):
    """Two worker processes on a private queue of the local Redis, stopped after the test."""
    need(redis_reachable(settings.CELERY_BROKER_URL), f"Redis at {settings.CELERY_BROKER_URL} (redis-server)")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DJANGO_SETTINGS_MODULE": "config.settings", "REPORT_PART_ROWS": "150",
           "REPORT_JOBS_DIR": str(settings.REPORT_JOBS_DIR), "LEDGER_CHECKPOINT_DIR": str(settings.LEDGER_CHECKPOINT_DIR),
           "LEDGER_SEAL_KEY": settings.LEDGER_SEAL_KEY}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "-n",
             f"w{i}-{queue}@localhost", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in (1, 2)
    ]
    try:
        _wait_until_answering(procs, [f"w{i}-{queue}@localhost" for i in (1, 2)])
    except BaseException:
        _stop(procs)
        raise
    yield queue
    _stop(procs)


def _wait_until_answering(procs, names, seconds=60):
    """Both workers up and answering a ping; one that died or stays silent is said, with its log."""
    from config.celery import app

    deadline = time.monotonic() + seconds
    answered = set()
    while time.monotonic() < deadline and answered != set(names):
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            log = dead[0].stderr.read().decode(errors="replace")[-2000:]
            need(False, f"a Celery worker exited at start (status {dead[0].returncode}): {log}")
        for reply in app.control.ping(destination=names, timeout=1) or []:
            answered.update(reply)
    need(answered == set(names), f"Celery workers {sorted(set(names) - answered)} did not answer within {seconds} s")


def _stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def test_workers_mark_overdue_tranches_once(workers):
    call_command("quickstart", stdout=StringIO())
    assert not PremiumObligation.objects.filter(overdue_since__isnull=False).exists()
    results = [premium_overdue_check.apply_async(kwargs={"as_of": "2019-10-31"}, queue=workers) for _ in range(4)]
    deadline = time.monotonic() + 90
    counts = [r.get(timeout=max(1, deadline - time.monotonic())) for r in results]
    # Jincheng's 60% and 90% tranches, Xuzhou's unpaid 2013 premium and 临沂市's late 80% to Shandong's second
    # insurer (国寿), each marked by exactly one run.
    assert sorted(counts) == [0, 0, 0, 4]
    assert PremiumObligation.objects.filter(overdue_since__isnull=False).count() == 4


def test_workers_racing_on_the_cut_off_draft_one_settlement_each(workers):
    from access.services import user_create
    from contracts.models import ContractYear
    from reconciliation.models import Settlement
    from reconciliation.tasks import settlement_drafts

    call_command("quickstart", stdout=StringIO())
    Settlement.objects.all().delete()
    # The schedule prepares for a named, responsible person; without one it drafts nothing.
    with pytest.raises(Exception, match="有姓名的制单人"):  # the refusal, as the worker (zh-hans) words it
        settlement_drafts.apply_async(kwargs={"as_of": "2020-04-01"}, queue=workers).get(timeout=60)
    assert not Settlement.objects.exists()
    chief = user_create(username="chief", password="Chief-结算-2026!x", role="administrator", full_name="钱主任")
    kwargs = {"as_of": "2020-04-01", "acts_for": "chief"}
    results = [settlement_drafts.apply_async(kwargs=kwargs, queue=workers) for _ in range(4)]
    deadline = time.monotonic() + 90
    counts = [r.get(timeout=max(1, deadline - time.monotonic())) for r in results]
    # Every year past its cut-off is drafted once, but a deposit waits for its assessment score, and premium
    # still unpaid for the preparer's decision (Jincheng 2019's tranche 3 in the demo).
    from reconciliation.services import settlement_figures

    due = ContractYear.objects.filter(cutoff__lt="2020-04-01", assessment__isnull=False) | ContractYear.objects.filter(
        cutoff__lt="2020-04-01", deposit_pct=0)
    due = [cy for cy in due.distinct()
           if not settlement_figures(contract_year=cy, as_of=date(2020, 4, 1))["premium_unpaid"]]
    assert sum(counts) == Settlement.objects.count() == len(due) > 0
    assert all(Settlement.objects.filter(contract_year=cy).count() == 1 for cy in due)
    assert set(Settlement.objects.values_list("prepared_by", "status")) == {(chief.pk, "draft")}


def test_workers_share_the_parts_of_a_long_voucher_book(workers, fund_book, signed):
    from ledger.services import EntrySpec, entries_post_many
    from reports.models import ReportJob
    from reports.services import report_verify
    from reports.tasks import render_report
    from tests.conftest import premium_lines

    entries_post_many(book=fund_book, entries=[
        EntrySpec(date(2015, 1, 1) + timedelta(days=i), premium_lines(f"{1000 + i}.00"), f"第{i + 1}笔保费划拨")
        for i in range(300)], **signed)
    job = ReportJob.objects.create(kind="vouchers", book=fund_book, year=2015, requested_by="测试")
    assert render_report.apply_async(args=[job.pk], queue=workers).get(timeout=60) == "split into 12 parts"
    deadline = time.monotonic() + 120
    while job.status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        job.refresh_from_db()
    assert (job.status, job.error, job.parts_done, job.progress) == ("done", "", 12, 100)
    assert report_verify(path=job.file).ok
    assert job.record.totals == {"count": "300", "amount": "344850.00"}


def test_the_nightly_verification_runs_on_a_worker_and_raises_the_alert(workers, fund_book, signed):
    from django.db import connection as db
    from django.test import Client

    from access.services import user_create
    from audit.models import AuditEvent, IntegrityAlert
    from ledger.services import entry_post
    from ledger.tasks import verify_nightly
    from tests.conftest import premium_lines

    entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付首期", lines=premium_lines("100.00"), **signed)
    assert verify_nightly.apply_async(queue=workers).get(timeout=60)["ok"] is True
    with db.cursor() as cursor:  # planted behind the application's back: a balance row raised by 1.00
        cursor.execute("UPDATE ledger_accountbalance SET debit_fen = debit_fen + 100 WHERE book_id = %s "
                       "AND debit_fen > 0", [fund_book.pk])
    outcome = verify_nightly.apply_async(queue=workers).get(timeout=60)
    assert (outcome["ok"], outcome["problems"]) == (False, 1)
    assert IntegrityAlert.objects.get().problems[0]["entry"] == "balance 5101 2015-04"
    assert AuditEvent.objects.filter(action="verify_failed", actor="task verify_ledger").count() == 1
    auditor = user_create(username="sun", password="Ledger-审计-2026!x", role="auditor", regions=["37"],
                          full_name="孙审计")
    c = Client()
    c.force_login(auditor)
    assert "每日核验发现账簿与封签记录不符" in c.get("/admin/").content.decode()
