"""README.md's development command (`bash scripts/dev`: web server, Celery worker and Celery beat from the
Procfile) started as a developer starts it, then used in a real Chromium: sign in, request a statement
under 报表生成任务 › 添加, see a worker render it, download the PDF; then Ctrl-C stops every process.

The processes run against this test's PostgreSQL database (DATABASE_URL) and a Redis database number of
their own, so no other worker on the machine takes the job and this test's worker takes no one else's.
"""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from access.services import user_create
from reports.models import ReportJob
from tests.reconciliation.test_reconcile import year  # noqa: F401 - fixture

from .browser import shot
from .requires import need, redis_reachable

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the started processes share the test database"),
]
ROOT = Path(settings.BASE_DIR)
PASSWORD = "Ledger-开发-2026!x"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _empty_redis_db() -> str:
    """A Redis database number nobody uses now (no keys in it), on the broker's server."""
    import redis

    base = settings.CELERY_BROKER_URL.rsplit("/", 1)[0]
    for n in range(15, 0, -1):
        if not redis.Redis.from_url(f"{base}/{n}").dbsize():
            return f"{base}/{n}"
    need(False, "a free Redis database number (all of 1-15 hold keys)")


@pytest.fixture
def dev_command(tmp_path):
    """`bash scripts/dev` running (web on a free port); stopped with Ctrl-C (SIGINT) afterwards."""
    need(redis_reachable(settings.CELERY_BROKER_URL), f"Redis at {settings.CELERY_BROKER_URL} (redis-server)")
    need((ROOT / ".venv" / "bin" / "honcho").exists(), "honcho in .venv (bash scripts/setup)")
    db = connection.settings_dict
    port = _free_port()
    redis_url = _empty_redis_db()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE")}
    env.update({
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_url, "PORT": str(port), "RUNSERVER_ARGS": "--noreload",
        "REPORT_JOBS_DIR": str(settings.REPORT_JOBS_DIR), "LEDGER_CHECKPOINT_DIR": str(settings.LEDGER_CHECKPOINT_DIR),
        "LEDGER_SEAL_KEY": settings.LEDGER_SEAL_KEY, "SECRET_KEY": settings.SECRET_KEY,
        "PSEUDONYM_KEY": settings.PSEUDONYM_KEY})
    log = tmp_path / "dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "scripts/dev"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_for(proc, log, port)
        yield f"http://127.0.0.1:{port}", log, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the developer's terminal
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        import redis

        redis.Redis.from_url(redis_url).flushdb()


def _wait_for(proc, log: Path, port: int, seconds: int = 120) -> None:
    """The admin answering, the worker ready and beat started; a process that died is said, with the log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if proc.poll() is not None:
            pytest.fail(f"scripts/dev exited (status {proc.returncode}):\n{text[-3000:]}")
        worker_ready = re.search(r"worker\.1\s+\|.*celery@\S+ ready\.", text)
        beat_started = "beat: Starting..." in text
        if worker_ready and beat_started:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.5)
    pytest.fail(f"scripts/dev did not come up within {seconds} s:\n{log.read_text(errors='replace')[-3000:]}")


def test_the_development_command_runs_web_worker_and_beat_and_renders_a_statement(year, browser, dev_command):  # noqa: F811
    base, log, proc = dev_command
    book = year.contract.fund.books.get()
    user_create(username="liujc", password=PASSWORD, role="fund_accountant", regions=["14"], full_name="刘会计")
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900}, accept_downloads=True)
    try:
        page = ctx.new_page()
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "liujc")
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("input[type=submit]")
        page.goto(f"{base}/admin/reports/reportjob/add/")
        page.select_option("select[name=kind]", "ledger")
        page.select_option("select[name=book]", str(book.pk))
        page.fill("input[name=year]", "2019")
        page.fill("input[name=month]", "4")
        shot(page, "dev-01-request-statement")
        with page.expect_navigation():
            page.click("input[name=_save]")
        # A worker listens: the job is queued for it, not offered to be rendered here.
        assert "已排队等待后台处理" in page.content() and "render-now" not in page.content()
        job = ReportJob.objects.get()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in ("done", "failed"):
                break
            time.sleep(0.5)
        assert (job.status, job.error, job.progress) == ("done", "", 100), log.read_text(errors="replace")[-3000:]
        page.reload()
        link = page.locator("a", has_text="下载").first
        shot(page, "dev-02-statement-done")
        response = page.request.get(f"{base}{link.get_attribute('href')}")
        assert response.status == 200 and response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")
        assert job.record.kind == "ledger" and job.record.generated_by == "liujc"
    finally:
        ctx.close()

    # Ctrl-C stops the three processes and nothing of them is left running.
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert all(f"{name}.1 stopped" in text for name in ("web", "worker", "beat")), text[-2000:]
    pids = [int(p) for p in re.findall(r"(?:web|worker|beat)\.1 started \(pid=(\d+)\)", text)]
    assert len(pids) == 3
    # Each process ran in a session of its own (honcho): nothing of those groups is left running.
    deadline = time.monotonic() + 15
    while _alive_in_groups(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive_in_groups(pids) == []


def _alive_in_groups(groups) -> list[str]:
    """Processes (not zombies awaiting their parent) whose process group is one of `groups`."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgid = fields[0], int(fields[2])
        if pgid in groups and state != "Z":
            alive.append(f"{stat.parent.name} ({state})")
    return alive
