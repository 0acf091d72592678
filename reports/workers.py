"""Whether a Celery worker will render a statement job, and whether a job is small enough to render in the
request instead.

A job the admin queues while no worker listens would otherwise sit at "queued 0%" with nothing saying why:
the broker accepts the message whether or not anyone will ever read it. So the admin asks first (about a
second, the answer cached briefly) and says at once what will happen.
"""

import calendar
import hashlib
from datetime import date

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

LISTENING, NO_WORKER, NO_BROKER = "listening", "no_worker", "no_broker"
# How long a worker has to answer, and how long the answer is kept: a worker that answered is trusted for
# half a minute, an absent one is asked again after a few seconds (it may just have been started).
REPLY_TIMEOUT_S = 1.0
CACHE_LISTENING_S = 30
CACHE_ABSENT_S = 5
# A job whose message never reached the broker (it was down) carries this stage: the first worker that
# starts sends it (config.celery, worker_ready), exactly once.
UNSENT = "等待后台进程（消息未能送出）"
# A printed page holds about this many rows of a 明细账 or 记账凭证 (reports/canvas_ledger.py, vouchers.html).
ROWS_PER_PAGE = 40


def job_queue() -> str:
    """The queue statement jobs are sent to (Celery's default queue)."""
    from config.celery import app

    return app.conf.task_default_queue


def worker_state(queue: str | None = None) -> str:
    """LISTENING when at least one worker consumes `queue`, NO_WORKER when the broker is up but none does
    (workers on other queues do not count: they would never take the message), NO_BROKER when the broker
    cannot be reached."""
    from config.celery import app

    queue = queue or job_queue()
    key = "reports:worker-state:" + hashlib.sha256(f"{app.conf.broker_url}|{queue}".encode()).hexdigest()[:32]
    state = cache.get(key)
    if state is not None:
        return state
    try:
        # A refused connection is known in milliseconds; asking the workers first would retry for seconds.
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0,
                                   timeout=REPLY_TIMEOUT_S)
        replies = app.control.inspect(timeout=REPLY_TIMEOUT_S).active_queues() or {}
    except Exception:  # kombu's OperationalError, a socket error, a protocol error: no broker to speak of
        state = NO_BROKER
    else:
        names = {q.get("name") for queues in replies.values() for q in (queues or [])}
        state = LISTENING if queue in names else NO_WORKER
    cache.set(key, state, CACHE_LISTENING_S if state == LISTENING else CACHE_ABSENT_S)
    return state


def worker_state_forget(queue: str | None = None) -> None:
    """Drop the cached answer (a test starting or stopping workers, an operator who just started one)."""
    from config.celery import app

    queue = queue or job_queue()
    cache.delete("reports:worker-state:" + hashlib.sha256(f"{app.conf.broker_url}|{queue}".encode()).hexdigest()[:32])


def job_rows_estimate(*, kind: str, book, year: int, month: int | None) -> int:
    """About how many printed rows the statement has, from counts (no statement is built): the postings of
    the period for the books drawn line by line (明细账, 总分类账, 日记账), each voucher's lines and heading for
    记账凭证, the accounts for a 科目余额表; the other kinds print a page or two whatever the books hold."""
    from ledger.models import JournalEntry, Posting

    if month:
        start, end = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    else:
        start, end = date(year, 1, 1), date(year, 12, 31)
    if kind == "trial-balance":
        return book.accounts.count()
    if kind == "vouchers":
        entries = JournalEntry.objects.filter(book=book, status="posted", date__gte=start, date__lte=end)
        counted = entries.aggregate(n=Count("id", distinct=True), lines=Count("postings"))
        return counted["lines"] + 4 * counted["n"]
    if kind in ("premium-status", "settlement", "operations", "bank-reconciliation"):
        return ROWS_PER_PAGE * 2
    # 明细账 and every kind drawn from the postings (and any kind added later, to be safe): one row a posting,
    # plus an opening and two total rows for each account that moved.
    postings = Posting.objects.filter(book=book, entry__status="posted", entry__date__gte=start, entry__date__lte=end)
    counted = postings.aggregate(n=Count("id"), accounts=Count("account", distinct=True))
    return counted["n"] + 3 * counted["accounts"]


def pages_estimate(rows: int) -> int:
    return max(1, -(-rows // ROWS_PER_PAGE))


def job_small(rows: int) -> bool:
    """Small enough to render within a web request (settings.REPORT_INLINE_MAX_ROWS)."""
    return rows <= settings.REPORT_INLINE_MAX_ROWS


def report_jobs_unsent_send() -> int:
    """Send every queued job whose message never reached the broker; how many. Each job is claimed by
    clearing its mark first, so two workers starting at once send it once."""
    from .models import ReportJob
    from .tasks import render_report

    sent = 0
    for pk in ReportJob.objects.filter(status=ReportJob.Status.QUEUED, stage=UNSENT).values_list("pk", flat=True):
        if ReportJob.objects.filter(pk=pk, status=ReportJob.Status.QUEUED, stage=UNSENT).update(stage="") != 1:
            continue
        try:
            render_report.delay(pk)
        except Exception:  # the broker went away again: keep the mark for the next worker
            ReportJob.objects.filter(pk=pk, status=ReportJob.Status.QUEUED, stage="").update(stage=UNSENT)
            break
        sent += 1
    return sent
