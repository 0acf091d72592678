"""Issue PDF statements and verify them against the books they came from.

Each statement carries a verification code (printed in every page's footer and written
into the PDF's keywords). The issue record keeps the digest of the figures shown and of
the PDF itself: `verify_report` finds the record by the code, checks the file is the one
issued, rebuilds the figures from the books as they are now and compares.
"""

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Book
from core.errors import Refused, problem

from .models import ReportJob, ReportRecord
from .registry import KINDS

FONTS = Path(settings.BASE_DIR) / "reports" / "fonts"
MARK = "LEDGER-VERIFY-"


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def report_data(*, kind: str, book: Book, year: int, month: int | None = None) -> dict:
    if kind not in KINDS:
        raise Refused([problem("report", "kind", f"one of {', '.join(KINDS)}", kind)])
    if month is not None and not 1 <= month <= 12:
        raise Refused([problem("report", "month", "1–12", month)])
    return KINDS[kind].build(book, year, month)


def html_of(*, kind: str, book: Book, year: int, month: int | None, data: dict, code: str, by: str, at) -> str:
    return render_to_string(KINDS[kind].template, {
        "data": data, "book": book, "year": year, "month": month, "code": code, "by": by, "at": at,
        "font_regular": (FONTS / "NotoSansSC-Regular-GB2312.woff2").as_uri(),
        "font_bold": (FONTS / "NotoSansSC-Bold-GB2312.woff2").as_uri(), "mark": MARK,
        "period": f"{year}年" + (f"{month}月" if month else "1–12月"),
    })


def report_issue(*, kind: str, book: Book, year: int, month: int | None = None, out: Path, by: str = "system",
                 progress=None) -> ReportRecord:
    """Render one statement to `out` and record what it shows; `progress(pct, stage)` hears each step."""
    from weasyprint import HTML

    step = progress or (lambda pct, stage: None)
    book.refresh_from_db()
    step(10, "reading the books")
    data = report_data(kind=kind, book=book, year=year, month=month)
    code = secrets.token_hex(8).upper()
    at = timezone.localtime()
    html = html_of(kind=kind, book=book, year=year, month=month, data=data, code=code, by=by, at=at)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    step(30, "laying out the pages")
    document = HTML(string=html, base_url=str(settings.BASE_DIR)).render()
    step(80, f"writing {len(document.pages)} pages")
    pdf = document.write_pdf()
    # The code is printed on every page; a comment after %%EOF (ignored by PDF readers) lets
    # verify_report find it without parsing the compressed page streams.
    out.write_bytes(pdf + f"\n%{MARK}{code}\n".encode())
    step(100, "done")
    return ReportRecord.objects.create(
        code=code, kind=kind, book=book, params={"year": year, "month": month}, data_digest=_digest(data),
        totals=data.get("totals", {}), pdf_sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
        chain_length=book.chain_length, chain_head=book.chain_head, generated_by=by)


def report_job_run(*, job_id: int) -> ReportJob:
    """Render a queued statement, saving progress as it goes (read by the admin while it runs)."""

    job = ReportJob.objects.select_related("book").get(pk=job_id)
    if job.status == ReportJob.Status.DONE:
        return job

    def step(pct, stage):
        ReportJob.objects.filter(pk=job.pk).update(progress=pct, stage=stage, status=ReportJob.Status.RUNNING)

    name = f"{job.kind}_{job.book.code}_{job.year}{f'-{job.month:02d}' if job.month else ''}_{job.pk}.pdf"
    out = Path(settings.BASE_DIR) / "out" / "jobs" / name
    try:
        record = report_issue(kind=job.kind, book=job.book, year=job.year, month=job.month, out=out,
                              by=job.requested_by, progress=step)
    except Refused as exc:
        ReportJob.objects.filter(pk=job.pk).update(status=ReportJob.Status.FAILED, error=str(exc),
                                                   finished_at=timezone.now())
    else:
        ReportJob.objects.filter(pk=job.pk).update(status=ReportJob.Status.DONE, progress=100, file=str(out),
                                                   record=record, finished_at=timezone.now())
    job.refresh_from_db()
    return job


@dataclass
class Verification:
    ok: bool
    code: str = ""
    record: ReportRecord | None = None
    differences: list = field(default_factory=list)


def report_verify(*, path: Path) -> Verification:
    """Whether the books still say what this statement says."""
    raw = Path(path).read_bytes()
    found = re.search(rb"%LEDGER-VERIFY-([0-9A-F]{16})\s*$", raw)
    if not raw.startswith(b"%PDF") or not found:
        return Verification(False, differences=["not a statement issued by this ledger (no verification code)"])
    code = found.group(1).decode()
    record = ReportRecord.objects.filter(code=code).select_related("book").first()
    if record is None:
        return Verification(False, code, differences=[f"verification code {code} was never issued here"])
    diffs = []
    if hashlib.sha256(raw).hexdigest() != record.pdf_sha256:
        diffs.append("the PDF file is not the one issued (its digest differs): it was altered")
    book = record.book
    book.refresh_from_db()
    data = report_data(kind=record.kind, book=book, **record.params)
    if _digest(data) != record.data_digest:
        now = data.get("totals", {})
        changed = [f"{k}: issued {v}, books now {now.get(k)}" for k, v in record.totals.items() if now.get(k) != v]
        diffs.append("the books no longer say what the statement says" + (f" ({'; '.join(changed)})" if changed
                                                                           else " (figures inside changed)"))
    return Verification(not diffs, code, record, diffs)
