"""Statements of big books: the 科目余额表 of a book with a million postings, and a thousand-page
明细账 rendered as a statement job by real Celery workers (started here, on a private queue of the
local Redis, against the scratch database), request to done, the way the admin's jobs run.
"""

import os
import statistics
import tempfile
import time
from pathlib import Path

from django.db import connection

from ledger.selectors import trial_balance
from ledger.services import entries_post_many
from reports.models import ReportJob
from reports.services import report_issue, report_verify

from .ledger import BATCH, YEAR, _book, _entries, signers
from .workers import Workers


def _post(book, n: int, seed: int) -> int:
    specs = _entries(n, seed=seed)
    signed = signers()
    for i in range(0, n, BATCH):
        entries_post_many(book=book, entries=specs[i:i + BATCH], source="bench", **signed)
    return sum(len(s.lines) for s in specs)


def _ledger_in_workers(book, concurrency: int) -> dict:
    from reports.tasks import render_report

    workers = Workers(concurrency)
    try:
        job = ReportJob.objects.create(kind="ledger", book=book, year=YEAR, requested_by="bench")
        t0 = time.perf_counter()
        render_report.apply_async(args=[job.pk], queue=workers.queue)
        while job.status not in (ReportJob.Status.DONE, ReportJob.Status.FAILED) and time.perf_counter() - t0 < 900:
            time.sleep(0.25)
            job.refresh_from_db()
        seconds = time.perf_counter() - t0
        if job.status != ReportJob.Status.DONE:
            raise RuntimeError(f"ledger job {job.status}: {job.error}\n{workers.tail()}")
        pages = int(job.stage.rsplit("共 ", 1)[1].split(" ")[0])
        assert report_verify(path=job.file).ok
        size = Path(job.file).stat().st_size
    finally:
        workers.stop()
    return {"ledger_pages": pages, "ledger_parts": job.parts, "ledger_workers": concurrency,
            "ledger_task_s": round(seconds, 1), "ledger_mb": round(size / 2**20, 1)}


def run(*, tb_postings: int, ledger_entries: int, **options) -> dict:
    postings = tb_postings
    big = _book("BENCH-1M")
    n = round(postings / 2.37)  # the generated mix averages 2.37 postings an entry
    t0 = time.perf_counter()
    posted = _post(big, n, seed=1)
    post_s = time.perf_counter() - t0
    timings = []
    for _ in range(5):
        t = time.perf_counter()
        tb = trial_balance(book=big, year=YEAR)
        timings.append(time.perf_counter() - t)
    assert tb.balanced
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        report_issue(kind="trial-balance", book=big, year=YEAR, out=Path(tmp) / "tb.pdf", by="bench")
        tb_pdf_s = time.perf_counter() - t

    from reports.fonts_ttf import fonts_register

    t = time.perf_counter()
    fonts_register()  # the canvas font is converted once a machine; the workers find it in the cache
    font_s = time.perf_counter() - t
    small = _book("BENCH-LEDGER")
    figures = {"database": connection.vendor, "tb_postings": posted, "tb_post_s": round(post_s, 1),
               "tb_computed_s": round(statistics.median(timings), 4), "tb_pdf_s": round(tb_pdf_s, 2),
               "font_cache_s": round(font_s, 1),
               "ledger_postings": _post(small, ledger_entries, seed=2)}
    figures.update(_ledger_in_workers(small, concurrency=os.cpu_count() or 2))
    return figures
