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
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from accounts.models import Book
from audit.services import audit_record
from core.errors import Refused, lazy_format, problem

from .labels import total_changed
from .models import ReportJob, ReportRecord
from .pdf import pdf_join, pdf_render
from .registry import KINDS
from .signing import SignatureResult, sign_pdf, validate_pdf

FONTS = Path(settings.BASE_DIR) / "reports" / "fonts"
FONT_REGULAR = (FONTS / "NotoSansSC-Regular-GB2312.woff2").as_uri()
MARK = "LEDGER-VERIFY-"


_joined = lazy(lambda items: "; ".join(str(i) for i in items), str)


def joined(items):
    """Items joined with "; ", each put in the language active when shown."""
    return _joined(items)


def english(texts) -> list[str]:
    """Texts as the audit trail and --json keep them: in English."""
    with override("en"):
        return [str(t) for t in texts]


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def report_data(*, kind: str, book: Book, year: int, month: int | None = None, upto: int | None = None) -> dict:
    """The figures a statement shows. A kind read from the book's postings stands on a position of the
    book's chain: `upto` entries (default: as many as the book has now), from the postings themselves —
    so verifying it later rebuilds exactly the same figures, whatever was posted since."""
    if kind not in KINDS:
        raise Refused([problem(_("report"), _("kind"), lazy_format(_("one of %(names)s"), names=", ".join(KINDS)), kind)])
    if month is not None and not 1 <= month <= 12:
        raise Refused([problem(_("report"), _("month"), _("a month 1–12"), month)])
    if not KINDS[kind].from_chain:
        return KINDS[kind].build(book, year, month)
    upto = book.chain_length if upto is None else upto
    data = KINDS[kind].build(book, year, month, upto=upto)
    data["chain"] = {"length": upto, "head": _link_at(book, upto)[:16]}
    return data


def _link_at(book: Book, seq: int) -> str:
    """The book's chain link at position `seq` ('' before the first entry)."""
    from ledger.models import JournalEntry

    if not seq:
        return ""
    return JournalEntry.objects.filter(book=book, seq=seq, status="posted").values_list("hash", flat=True).first() or ""


WHOLE = {"first": True, "last": True, "numbered": True}


def html_of(*, kind: str, book: Book, year: int, month: int | None, data: dict, code: str, by: str, at,
            part: dict = WHOLE) -> str:
    return render_to_string(KINDS[kind].template, {
        "data": data, "book": book, "year": year, "month": month, "code": code, "by": by, "at": at, "part": part,
        "font_regular": FONT_REGULAR, "font_bold": (FONTS / "NotoSansSC-Bold-GB2312.woff2").as_uri(), "mark": MARK,
        # A kind whose month means something else (operations: the quarter ending it) names its own period.
        "period": data.get("period_label") or f"{year}年" + (f"{month}月" if month else "1–12月"),
    })


def pdf_of(*, kind: str, book: Book, year: int, month: int | None, data: dict, code: str, by: str, at,
           part: dict = WHOLE) -> tuple[bytes, int]:
    """The statement's PDF and its page count: drawn on the canvas where the kind has a drawer,
    else laid out from its HTML template."""
    period = f"{year}年" + (f"{month}月" if month else "1–12月")
    if KINDS[kind].draw:
        from django.utils.module_loading import import_string

        return import_string(KINDS[kind].draw)(data=data, book=book, period=period, code=code, mark=MARK, by=by, at=at)
    return pdf_render(html_of(kind=kind, book=book, year=year, month=month, data=data, code=code, by=by, at=at,
                              part=part))


def _write(out: Path, pdf: bytes, code: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    # The code is printed on every page; a comment after %%EOF (ignored by PDF readers) lets
    # verify_report find it without parsing the compressed page streams. The institution's PAdES
    # signature is added over all of it, comment included: what is written (and digested by _record)
    # is the signed file, and any byte changed or appended afterwards breaks the signature.
    out.write_bytes(sign_pdf(pdf + f"\n%{MARK}{code}\n".encode(), reason=f"出具报表，核验码 {MARK}{code}"))


def _record(*, kind, book, params, data, code, out: Path, by, chain_length, chain_head,
            format: str = "pdf") -> ReportRecord:
    return ReportRecord.objects.create(
        code=code, kind=kind, book=book, params=params, data_digest=_digest(data), totals=data.get("totals", {}),
        format=format, pdf_sha256=hashlib.sha256(out.read_bytes()).hexdigest(), chain_length=chain_length,
        chain_head=chain_head, generated_by=by)


FORMATS = ("pdf", "xlsx")


def report_format(out, format: str | None = None) -> str:
    """The format asked for, else the one the file name's suffix names (.xlsx), else PDF."""
    if format:
        if format not in FORMATS:
            raise Refused([problem(_("report"), _("format"), lazy_format(_("one of %(names)s"), names=", ".join(FORMATS)),
                                   format)])
        return format
    return "xlsx" if Path(out).suffix.lower() == ".xlsx" else "pdf"


def report_issue(*, kind: str, book: Book, year: int, month: int | None = None, out: Path, by: str = "system",
                 progress=None, format: str | None = None) -> ReportRecord:
    """Render one statement to `out` in this process and record what it shows; `progress(pct, stage)`
    hears each step. `format` "pdf" (signed) or "xlsx" (the same figures in a workbook); by default
    the suffix of `out` decides."""
    fmt = report_format(out, format)
    step = progress or (lambda pct, stage: None)
    book.refresh_from_db()
    step(10, "读取账簿")
    # The chain position first, the figures at that position: a posting committed meanwhile is not half in.
    chain_length, chain_head = book.chain_length, _link_at(book, book.chain_length)
    data = report_data(kind=kind, book=book, year=year, month=month, upto=chain_length)
    code = secrets.token_hex(8).upper()
    step(30, "排版")
    if fmt == "xlsx":
        from .xlsx import xlsx_of

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(xlsx_of(kind=kind, book=book, year=year, month=month, data=data, code=code, mark=MARK,
                                      by=by, at=timezone.localtime()))
        pages = None
        step(100, "完成")
    else:
        pdf, pages = pdf_of(kind=kind, book=book, year=year, month=month, data=data, code=code, by=by,
                            at=timezone.localtime())
        _write(Path(out), pdf, code)
        step(100, f"完成，共 {pages} 页")
    record = _record(kind=kind, book=book, params={"year": year, "month": month}, data=data, code=code, out=Path(out),
                     by=by, chain_length=chain_length, chain_head=chain_head, format=fmt)
    audit_record(action="report_issued", actor=by, obj=record, book=book, digest=record.pdf_sha256,
                 detail={"kind": kind, "year": year, "month": month, "pages": pages, "format": fmt})
    return record


# A statement job: the books are read once (the plan), the parts are laid out by any number of
# workers, and the last step joins them, numbers the pages and records the statement.

def _job_dir(job: ReportJob) -> Path:
    # Named by the request time as well as the id: a benchmark's scratch database numbers its jobs from 1 too.
    return Path(settings.REPORT_JOBS_DIR) / f"parts-{job.pk}-{job.requested_at:%Y%m%d%H%M%S%f}"


def _plan(job: ReportJob) -> dict:
    return json.loads((_job_dir(job) / "plan.json").read_text())


def _job_update(job_id: int, **fields) -> None:
    ReportJob.objects.filter(pk=job_id).update(**fields)


def report_job_fail(*, job_id: int, error: str) -> None:
    _job_update(job_id, status=ReportJob.Status.FAILED, error=error, finished_at=timezone.now())


def report_job_plan(*, job_id: int, claimed: bool = False) -> int:
    """Read the books for a queued statement and cut it into parts; how many (0: nothing to do).

    The job is taken only while still queued (one UPDATE, so a worker and a user's "render it now", or a
    message delivered twice, never both render it), unless the caller has `claimed` it that way already."""
    if not claimed and not ReportJob.objects.filter(pk=job_id, status=ReportJob.Status.QUEUED).update(
            status=ReportJob.Status.RUNNING):
        return 0
    job = ReportJob.objects.select_related("book").get(pk=job_id)
    if job.status != ReportJob.Status.RUNNING:
        return 0
    _job_update(job_id, progress=2, stage="读取账簿")
    book = job.book
    try:
        chain_length, chain_head = book.chain_length, _link_at(book, book.chain_length)
        data = report_data(kind=job.kind, book=book, year=job.year, month=job.month, upto=chain_length)
    except Refused as exc:
        report_job_fail(job_id=job_id, error=str(exc))
        return 0
    split = KINDS[job.kind].split
    # Parts small enough that the workers share a thousand-page ledger evenly, large enough that
    # joining stays cheap (settings.REPORT_PART_ROWS).
    parts = split(data, settings.REPORT_PART_ROWS) if split else [data]
    folder = _job_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(json.dumps({
        "code": secrets.token_hex(8).upper(), "at": timezone.localtime().isoformat(), "data": data, "parts": parts,
        "chain_length": chain_length, "chain_head": chain_head}, ensure_ascii=False))
    _job_update(job_id, parts=len(parts), parts_done=0, progress=5, stage=f"排版：0/{len(parts)} 部分")
    return len(parts)


def report_part_render(*, job_id: int, index: int) -> int:
    """Lay out one part of a planned statement; its page count."""
    job = ReportJob.objects.select_related("book").get(pk=job_id)
    plan = _plan(job)
    n = len(plan["parts"])
    pdf, pages = pdf_of(kind=job.kind, book=job.book, year=job.year, month=job.month, data=plan["parts"][index],
                        code=plan["code"], by=job.requested_by, at=datetime.fromisoformat(plan["at"]),
                        part={"first": index == 0, "last": index == n - 1, "numbered": n == 1})
    (_job_dir(job) / f"part-{index:04d}.pdf").write_bytes(pdf)
    _job_update(job_id, parts_done=F("parts_done") + 1)
    done = ReportJob.objects.values_list("parts_done", flat=True).get(pk=job_id)
    _job_update(job_id, progress=5 + 85 * done // n, stage=f"排版：{done}/{n} 部分")
    return pages


def report_job_assemble(*, job_id: int) -> ReportJob:
    """Join the laid-out parts, number the pages, write the statement and record what it shows."""
    job = ReportJob.objects.select_related("book").get(pk=job_id)
    folder, plan = _job_dir(job), _plan(job)
    parts = [folder / f"part-{i:04d}.pdf" for i in range(len(plan["parts"]))]
    _job_update(job_id, progress=92, stage=f"合并 {len(parts)} 部分并编页码")
    if len(parts) == 1:
        from pypdf import PdfReader

        pdf, pages = parts[0].read_bytes(), len(PdfReader(parts[0]).pages)
    else:
        pdf, pages = pdf_join(parts=parts, font=FONT_REGULAR)
    name = f"{job.kind}_{job.book.code}_{job.year}{f'-{job.month:02d}' if job.month else ''}_{job.pk}.pdf"
    out = folder.parent / name
    _write(out, pdf, plan["code"])
    record = _record(kind=job.kind, book=job.book, params={"year": job.year, "month": job.month}, data=plan["data"],
                     code=plan["code"], out=out, by=job.requested_by, chain_length=plan["chain_length"],
                     chain_head=plan["chain_head"])
    audit_record(action="report_issued", actor=job.requested_by, obj=record, book=job.book, digest=record.pdf_sha256,
                 detail={"kind": job.kind, "year": job.year, "month": job.month, "parts": len(parts)})
    shutil.rmtree(folder)
    _job_update(job_id, status=ReportJob.Status.DONE, progress=100, file=str(out), record=record,
                finished_at=timezone.now(), stage=f"完成，共 {pages} 页")
    job.refresh_from_db()
    return job


def report_job_run(*, job_id: int, claimed: bool = False) -> ReportJob:
    """The whole job in this process, part after part (no worker reachable, or a short statement)."""
    try:
        n = report_job_plan(job_id=job_id, claimed=claimed)
        for index in range(n):
            report_part_render(job_id=job_id, index=index)
        job = ReportJob.objects.get(pk=job_id)
        if n and job.status == ReportJob.Status.RUNNING:
            return report_job_assemble(job_id=job_id)
        return job
    except Exception as exc:
        report_job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise


@dataclass
class Verification:
    ok: bool
    code: str = ""
    record: ReportRecord | None = None
    differences: list = field(default_factory=list)
    signature: SignatureResult | None = None  # the PDF signature's validation (reports.signing)
    notes: list = field(default_factory=list)  # what an auditor should know, that is not a difference


def report_verify(*, path: Path, by=None) -> Verification:
    """Whether this statement is one the ledger issued, unaltered, and the books it stands on still say so."""
    raw = Path(path).read_bytes()
    if raw.startswith(b"PK"):  # a workbook (XLSX is a zip): the code is in its properties
        return _verify_xlsx(path, raw, by=by)
    # The code's comment ends the statement as laid out; the signature's incremental update follows it.
    found = ([None] + list(re.finditer(rb"\n%LEDGER-VERIFY-([0-9A-F]{16})\r?\n", raw)))[-1]
    if not raw.startswith(b"%PDF") or not found:
        return Verification(False, differences=[_("not a statement issued by this ledger (no verification code)")])
    code = found.group(1).decode()
    record = ReportRecord.objects.filter(code=code).select_related("book").first()
    # Validated even for a code the database does not know: a statement the institution did sign
    # whose record is gone says something about the database, not the file.
    signature = validate_pdf(raw)
    if record is None:
        return Verification(False, code, differences=[lazy_format(_("verification code %(code)s was never issued here"),
                                                                  code=code)], signature=signature)
    diffs = []
    if hashlib.sha256(raw).hexdigest() != record.pdf_sha256:
        diffs.append(_("the PDF file is not the one issued (its digest differs): it was altered"))
    if not signature.ok:
        diffs.append(lazy_format(_("the PDF signature does not validate: %(reason)s"), reason=signature.reason))
    books, notes = _books_still_agree(record)
    diffs += books
    audit_record(action="report_verified", actor=by, obj=record, book=record.book,
                 outcome="ok" if not diffs else "refused",
                 detail={"file": Path(path).name, "differences": english(diffs), "notes": english(notes)})
    return Verification(not diffs, code, record, diffs, signature, notes)


def _verify_xlsx(path: Path, raw: bytes, *, by=None) -> Verification:
    """An XLSX statement: the code from the workbook's properties, the file's digest as issued (a workbook is
    not signed: its digest, recorded at issue, is what ties it to us), then the books as for a PDF."""
    from .xlsx import xlsx_code

    code = xlsx_code(raw, MARK)
    if code is None:
        return Verification(False, differences=[_("not a statement issued by this ledger (no verification code)")])
    record = ReportRecord.objects.filter(code=code).select_related("book").first()
    if record is None:
        return Verification(False, code, differences=[lazy_format(_("verification code %(code)s was never issued here"),
                                                                  code=code)])
    diffs = []
    if record.format != "xlsx":
        diffs.append(lazy_format(_("verification code %(code)s was issued as a %(format)s, not as this workbook"),
                                 code=code, format=record.format.upper()))
    elif hashlib.sha256(raw).hexdigest() != record.pdf_sha256:
        diffs.append(_("the XLSX file is not the one issued (its digest differs): it was altered"))
    books, notes = _books_still_agree(record)
    diffs += books
    audit_record(action="report_verified", actor=by, obj=record, book=record.book,
                 outcome="ok" if not diffs else "refused",
                 detail={"file": Path(path).name, "format": "xlsx", "differences": english(diffs),
                         "notes": english(notes)})
    return Verification(not diffs, code, record, diffs, None, notes)


def report_verify_record(record: ReportRecord, *, by=None) -> Verification:
    """Whether the books still say what an issued statement says, from its record alone: an auditor
    holding a paper copy types the code printed on it. No file is at hand, so nothing is said about one."""
    diffs, notes = _books_still_agree(record)
    audit_record(action="report_verified", actor=by, obj=record, book=record.book,
                 outcome="ok" if not diffs else "refused",
                 detail={"code": record.code, "looked_up_by_code": True, "differences": english(diffs),
                         "notes": english(notes)})
    return Verification(not diffs, record.code, record, diffs, notes=notes)


def _books_still_agree(record: ReportRecord) -> tuple[list[str], list[str]]:
    """(differences, notes). A statement read from the postings is checked against the book's chain up to
    the position it was issued at — every entry it covers still sealed, still linked where it was — and its
    figures rebuilt from those postings; any other kind, rebuilt from the books as they are now."""
    from ledger.integrity import ledger_verify
    from ledger.models import JournalEntry

    book = record.book
    book.refresh_from_db()
    diffs, notes = [], []
    # Whatever the kind, the book's chain as it stood at issue must still hold: a statement of a book
    # whose entries were changed behind the application's back is not one to rely on.
    chain = ledger_verify(book=book, upto=record.chain_length)
    diffs += [f"{p['entry']}: {p['check']} — expected {p['expected']}, found {p['found']}" for p in chain.problems[:20]]
    if _link_at(book, record.chain_length) != record.chain_head:
        diffs.append(lazy_format(_("the book's chain at entry %(n)s is not the one the statement was issued from"),
                                 n=record.chain_length))
    upto = None
    if KINDS[record.kind].from_chain:
        upto = record.chain_length
        start, end = _dates(record.params)
        later = JournalEntry.objects.filter(book=book, status="posted", seq__gt=upto, date__gte=start,
                                            date__lte=end).count()
        if later:
            notes.append(lazy_format(_("%(n)s voucher(s) dated in this period were posted after the statement was "
                                       "issued; it shows the books as they stood at entry %(upto)s"), n=later, upto=upto))
    data = report_data(kind=record.kind, book=book, upto=upto, **record.params)
    if _digest(data) != record.data_digest:
        now = data.get("totals", {})
        changed = [total_changed(k, v, now.get(k)) for k, v in record.totals.items() if now.get(k) != v]
        if changed:
            diffs.append(lazy_format(_("the books no longer say what the statement says (%(changed)s)"),
                                     changed=joined(changed)))
        else:
            diffs.append(_("the books no longer say what the statement says (figures inside changed)"))
    return diffs, notes


def _dates(params: dict):
    import calendar
    from datetime import date

    year, month = params["year"], params.get("month")
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
