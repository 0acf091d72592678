"""Uploads with a preview: stage a file (every check, nothing written but the staged row), then confirm
(import exactly that file, once) or cancel.

The imports themselves are the apps' services — `reconciliation.bank` (table statements through a saved
mapping, MT940, camt.053), `claims.services.claims_import` (+ recomputation), `contracts.topup.topup_import`;
the preview is their dry run. Each import is idempotent by the file's hash, and the staged row is locked and
its status checked on confirmation, so a double submit or a second tab imports nothing twice.
"""

import hashlib
import re
import tempfile
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from access.roles import is_administrator
from access.scope import scope_of
from audit.services import audit_record
from core.errors import Refused, describe, lazy_format, problem
from core.money import fmt

from .models import StagedUpload

Kind, Status = StagedUpload.Kind, StagedUpload.Status
# What each kind needs of the user's role: the same rights the `--as` commands check.
PERMISSION = {Kind.BANK: "reconciliation.add_bankstatement", Kind.CLAIMS: "claims.add_claimbatch",
              Kind.TOPUP: "contracts.add_premiumobligation"}
BANK_SOURCES = ("table", "mt940", "camt053")
SAMPLE_ROWS = 10
MAX_SHOWN_PROBLEMS = 500


# -- the file on disk while a service reads it -------------------------------------------------------------

def _safe_name(name: str) -> str:
    """The uploaded file's own name (problems and the claims batch name it), without any path in it."""
    name = re.sub(r"[\x00-\x1f/\\\\]", "_", Path(str(name).replace("\\", "/")).name).strip(". ") or "upload"
    return name[-120:]


@contextmanager
def _on_disk(staged: StagedUpload):
    """The staged bytes as a file under a private temporary directory, checked against the staged digest."""
    content = bytes(staged.content)
    if hashlib.sha256(content).hexdigest() != staged.sha256:
        raise Refused([problem(staged.file_name, _("file"), lazy_format(_("the previewed file (SHA-256 %(sha)s)"),
                                                                          sha=staged.sha256[:16]),
                               _("other bytes"))])
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        path = Path(folder) / _safe_name(staged.file_name)
        path.write_bytes(content)
        yield path


# -- what a preview shows ----------------------------------------------------------------------------------

def _shown(p: dict) -> dict:
    """A problem as the preview keeps it: the English parts (tests, the trail), the row, and its sentence
    in the uploader's language."""
    parts = getattr(p, "parts", None) or (p.get("entry", p.get("region", "")), p["field"], p["expected"], p["found"])
    row = p.get("row")
    if row is None:
        m = re.match(r"^(?:row|line) (\d+)$", str(p.get("entry", "")))
        row = int(m.group(1)) if m else None
    return {"row": row, "entry": str(p.get("entry", p.get("region", ""))), "field": str(p["field"]),
            "expected": str(p["expected"]), "found": str(p["found"]),
            "shown": [str(x) for x in parts], "sentence": describe(p) if getattr(p, "parts", None) else ""}


def _topup_problem(p: dict) -> dict:
    where = lazy_format(_("row %(n)s"), n=p["row"]) if p.get("row") else p.get("region", "")
    shown = problem(where, p["field"], p["expected"], p["found"])
    shown["row"] = p.get("row") or None
    shown["region"] = p.get("region", "")
    return {**_shown(shown), "region": p.get("region", ""), "note": p.get("note", "")}


def _english(text) -> str:
    with override("en"):
        return str(text)


def _preview_bank(staged: StagedUpload, path: Path) -> dict:
    from accounts.models import Account
    from reconciliation.bank import (
        bank_statement_import,
        bank_statement_import_camt053,
        bank_statement_import_mt940,
    )

    p = staged.params
    account = Account.objects.select_related("book").get(pk=p["account"])
    if p["source"] == "mt940":
        st = bank_statement_import_mt940(path=path, account=account, dry_run=True)
    elif p["source"] == "camt053":
        st = bank_statement_import_camt053(path=path, account=account, dry_run=True)
    else:
        st = bank_statement_import(path=path, account=account, bank=p["bank"], year=int(p["year"]),
                                   month=int(p["month"]), opening=p["opening"], closing=p["closing"], dry_run=True)
    lines = getattr(st, "unsaved_lines", None)
    already = lines is None  # the very same file was imported before: confirming creates nothing new
    if already:
        lines = list(st.lines.order_by("line"))
    fen = [int(ln.amount.amount * 100) for ln in lines]
    money_in, money_out = sum(f for f in fen if f > 0), -sum(f for f in fen if f < 0)
    figures = {"rows": len(lines), "in": f"{Decimal(money_in) / 100:.2f}", "out": f"{Decimal(money_out) / 100:.2f}",
               "opening": f"{st.opening.amount:.2f}", "closing": f"{st.closing.amount:.2f}",
               "month": f"{st.year}-{st.month:02d}", "in_count": sum(1 for f in fen if f > 0),
               "out_count": sum(1 for f in fen if f < 0)}
    totals = [(_("bank account"), f"{account.book.code} {account}"), (_("month"), figures["month"]),
              (_("lines"), len(lines)),
              (_("money in (收入)"), lazy_format(_("%(n)s lines, %(sum)s"), n=figures["in_count"], sum=fmt(Decimal(money_in) / 100))),
              (_("money out (支出)"), lazy_format(_("%(n)s lines, %(sum)s"), n=figures["out_count"],
                                                  sum=fmt(Decimal(money_out) / 100))),
              (_("opening balance"), fmt(st.opening)), (_("closing balance"), fmt(st.closing))]
    sample = {"header": [str(x) for x in (_("line"), _("date"), _("amount"), _("description"), _("reference"),
                                            _("counterparty"))],
              "rows": [[ln.line, str(ln.date), fmt(ln.amount), ln.description, ln.reference, ln.counterparty]
                       for ln in lines[:SAMPLE_ROWS]]}
    return {"rows": len(lines), "figures": figures, "totals": totals, "sample": sample,
            "already": str(_("This very file was imported before (same SHA-256): confirming creates nothing new."))
            if already else ""}


def _preview_claims(staged: StagedUpload, path: Path) -> dict:
    from claims.services import claims_import
    from contracts.models import Contract
    from core.people import signer_problems

    contract = Contract.objects.get(pk=staged.params["contract"])
    signers = signer_problems(lazy_format(_("claims file %(file)s"), file=path.name), made_by=staged.uploaded_by,
                              need_reviewer=False)
    if signers:
        raise Refused(signers)
    r = claims_import(path=path, contract=contract, by=staged.uploaded_by, dry_run=True)
    already = r.batch is not None
    figures = {"rows": r.rows, "oop_total": f"{r.oop_total:.2f}", "paid_total": f"{r.paid_total:.2f}"}
    totals = [(_("contract"), str(contract)), (_("claims"), r.rows),
              (_("out-of-pocket within policy (政策范围内个人自付)"), fmt(r.oop_total)),
              (_("paid by the insurer (保险公司支付)"), fmt(r.paid_total))]
    return {"rows": r.rows, "figures": figures, "totals": totals,
            "already": str(lazy_format(_("This very file was imported before as batch %(batch)s: confirming creates "
                                         "nothing new."), batch=r.batch.pk)) if already else ""}


def _topup_args(params: dict) -> dict:
    return {"year": int(params["year"]), "per_capita": params["per_capita"], "due": date.fromisoformat(params["due"]),
            "accept_discrepancies": bool(params.get("accept_discrepancies"))}


def _preview_topup(staged: StagedUpload, path: Path) -> dict:
    from contracts.topup import topup_import

    r = topup_import(path=path, dry_run=True, **_topup_args(staged.params))
    figures = {"rows": r.rows, "total_amount": f"{r.total_amount:.2f}", "total_insured": r.total_insured,
               "by_insurer": {k: f"{v:.2f}" for k, v in r.by_insurer.items()}, "paying": len(r.paying)}
    totals = [(_("year"), staged.params["year"]), (_("rows"), r.rows), (_("total (合计)"), fmt(r.total_amount)),
              (_("insured persons"), f"{r.total_insured:,}"), (_("paying regions"), len(r.paying))]
    totals += [(lazy_format(_("to %(insurer)s"), insurer=k), fmt(v)) for k, v in sorted(r.by_insurer.items())]
    if r.problems:
        raise _TopupRefused(r.problems, {"rows": r.rows, "figures": figures, "totals": totals})
    return {"rows": r.rows, "figures": figures, "totals": totals,
            "warnings": [_topup_problem(w) for w in r.warnings]}


class _TopupRefused(Exception):
    def __init__(self, problems, preview):
        super().__init__("top-up table refused")
        self.problems, self.preview = problems, preview


PREVIEW = {Kind.BANK: _preview_bank, Kind.CLAIMS: _preview_claims, Kind.TOPUP: _preview_topup}


def _preview(staged: StagedUpload) -> dict:
    """Every check of the import, as its dry run: what would be imported, or every problem. Writes nothing."""
    try:
        with _on_disk(staged) as path, transaction.atomic():
            try:
                preview = PREVIEW[staged.kind](staged, path)
            finally:
                transaction.set_rollback(True)  # a dry run writes nothing; should one ever try, it is undone
    except Refused as exc:
        return {"problems": [_shown(p) for p in exc.problems[:MAX_SHOWN_PROBLEMS]],
                "problem_count": len(exc.problems), "rows": 0, "totals": []}
    except _TopupRefused as exc:
        return {**exc.preview, "problems": [_topup_problem(p) for p in exc.problems[:MAX_SHOWN_PROBLEMS]],
                "problem_count": len(exc.problems)}
    return {**preview, "problems": [], "problem_count": 0}


def _jsonable(preview: dict) -> dict:
    out = dict(preview)
    out["totals"] = [[str(label), str(value)] for label, value in preview.get("totals", [])]
    return out


# -- stage, confirm, cancel --------------------------------------------------------------------------------

def _book_of(kind: str, params: dict):
    from accounts.models import Account, Book
    from contracts.models import Contract

    if kind == Kind.BANK:
        return Account.objects.select_related("book").get(pk=params["account"]).book
    if kind == Kind.CLAIMS:
        return Book.objects.filter(insurer=Contract.objects.get(pk=params["contract"]).insurer).first()
    return None


def _check_params(kind: str, params: dict, where: str) -> None:
    problems = []
    if kind == Kind.BANK and params.get("source") not in BANK_SOURCES:
        problems.append(problem(where, _("format"), " / ".join(BANK_SOURCES), params.get("source")))
    if kind == Kind.BANK and params.get("source") == "table":
        for key in ("bank", "year", "month", "opening", "closing"):
            if params.get(key) in (None, ""):
                problems.append(problem(where, key, _("a value (a table statement needs it)"), _("(empty)")))
    if problems:
        raise Refused(problems)


def upload_stage(*, kind: str, params: dict, file_name: str, content, by) -> StagedUpload:
    """Keep the uploaded file with its preview (status previewed, or refused when it has any problem).
    `content`: the bytes, or an uploaded file (its size is checked before it is read).
    Refused outright (nothing kept) above UPLOAD_MAX_BYTES or when the user may not upload this."""
    name = _safe_name(file_name)
    limit = settings.UPLOAD_MAX_BYTES
    size = content.size if hasattr(content, "read") else len(content)
    if size > limit:
        audit_record(action="upload_refused", actor=by, outcome="refused",
                     detail={"kind": str(kind), "file": name, "size": size, "reason": "file too large"})
        raise Refused([problem(name, _("size"), lazy_format(_("at most %(mb)s MB (setting UPLOAD_MAX_BYTES)"),
                                                            mb=f"{limit / 1024 / 1024:g}"),
                               lazy_format(_("%(mb)s MB"), mb=f"{size / 1024 / 1024:.1f}"))])
    if hasattr(content, "read"):
        content = content.read(limit + 1)
        if len(content) > limit:  # a file that said it was smaller than it is
            raise Refused([problem(name, _("size"), lazy_format(_("at most %(mb)s MB (setting UPLOAD_MAX_BYTES)"),
                                                                mb=f"{limit / 1024 / 1024:g}"), _("larger"))])
    if not content:
        raise Refused([problem(name, _("file"), _("a file with a header row and figures"), _("an empty file"))])
    _check_params(kind, params, name)
    book = _book_of(kind, params)
    _authorize(by, kind, book)  # refused and recorded before anything is kept
    return _stage(kind=kind, params=params, name=name, content=content, by=by, book=book)


@transaction.atomic
def _stage(*, kind, params, name, content, by, book) -> StagedUpload:
    sha = hashlib.sha256(content).hexdigest()
    staged = StagedUpload(kind=kind, params=params, file_name=name, content=content, sha256=sha, size=len(content),
                          uploaded_by=by, book=book, status=Status.PREVIEWED)
    preview = _preview(staged)
    staged.preview = _jsonable(preview)
    staged.rows = preview.get("rows") or 0
    staged.status = Status.REFUSED if preview["problem_count"] else Status.PREVIEWED
    staged.save()
    audit_record(action="upload_staged", actor=by, obj=staged, book=book, digest=sha,
                 detail={"kind": str(kind), "file": name, "size": len(content), "rows": staged.rows,
                         "problems": preview["problem_count"]})
    if staged.status == Status.REFUSED:
        audit_record(action="upload_refused", actor=by, obj=staged, book=book, digest=sha, outcome="refused",
                     detail={"kind": str(kind), "file": name,
                             "problems": [{k: p[k] for k in ("entry", "field", "expected", "found")}
                                          for p in preview["problems"][:50]]})
    return staged


def _authorize(user, kind: str, book) -> None:
    """The user's role allows this kind of upload, and the book it is for is in their scope."""
    scope = scope_of(user)
    allowed = user.has_perm(PERMISSION[kind]) and (
        scope.everything or (book is not None and book.pk in scope.book_ids))
    if not allowed:
        audit_record(action="access_refused", actor=user, book=book, outcome="refused",
                     detail={"reason": "upload not allowed to the user", "kind": str(kind),
                             "permission": PERMISSION[kind]})
        raise Refused([problem(str(book or kind), _("user"), lazy_format(
            _("a user whose role and scope allow %(perm)s"), perm=PERMISSION[kind]), user.get_username())])


def upload_may_act(user, staged: StagedUpload) -> bool:
    """Only the uploader, or an administrator, confirms or cancels an upload — within their scope."""
    if staged.uploaded_by_id != user.pk and not is_administrator(user):
        return False
    scope = scope_of(user)
    return scope.everything or (staged.book_id is not None and staged.book_id in scope.book_ids)


def _may_act_or_refuse(staged_id: int, by) -> None:
    """Refused, and recorded (outside the refused transaction), unless `by` is the uploader or an administrator."""
    staged = StagedUpload.objects.defer("content").get(pk=staged_id)
    if not upload_may_act(by, staged):
        audit_record(action="access_refused", actor=by, obj=staged, book=staged.book, outcome="refused",
                     detail={"reason": "staged upload of another user or outside the scope"})
        raise Refused([problem(str(staged), _("user"), _("the uploader or an administrator"), by.get_username())])


def _locked(staged_id: int, by) -> StagedUpload:
    """The staged row under a lock: a second tab or a double submit waits here, then finds it no longer previewed."""
    staged = StagedUpload.objects.select_for_update().get(pk=staged_id)
    if not upload_may_act(by, staged):
        raise Refused([problem(str(staged), _("user"), _("the uploader or an administrator"), by.get_username())])
    return staged


def _not_now(staged: StagedUpload) -> Refused:
    return Refused([problem(staged.file_name, _("status"), _("an upload previewed without problems"),
                            staged.get_status_display())])


def worker_listening(queue: str) -> str:
    """'listening' when a worker consumes `queue`, 'no_worker' when none does, 'no_broker' when the broker
    cannot be reached (asked at once, about a second, rather than queueing for nobody)."""
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=1)
        replies = app.control.inspect(timeout=1).active_queues() or {}
    except Exception:  # kombu's OperationalError, a socket error: no broker to speak of
        return "no_broker"
    names = {q.get("name") for queues in replies.values() for q in (queues or [])}
    return "listening" if queue in names else "no_worker"


def upload_confirm(*, staged_id: int, by, sha256: str) -> StagedUpload:
    """Import the previewed file — the one whose SHA-256 the page showed — once. Small files are imported
    here; above UPLOAD_INLINE_ROWS rows the import is queued for a worker (refused at once when none listens)."""
    _may_act_or_refuse(staged_id, by)
    return _confirm(staged_id=staged_id, by=by, sha256=sha256)


@transaction.atomic
def _confirm(*, staged_id: int, by, sha256: str) -> StagedUpload:
    staged = _locked(staged_id, by)
    if staged.status != Status.PREVIEWED or staged.problems:
        raise _not_now(staged)
    if sha256 != staged.sha256:
        raise Refused([problem(staged.file_name, _("file"), lazy_format(_("the previewed file (SHA-256 %(sha)s)"),
                                                                          sha=staged.sha256[:16]), sha256[:16])])
    staged.confirmed_by, staged.confirmed_at = by, timezone.now()
    audit_record(action="upload_confirmed", actor=by, obj=staged, book=staged.book, digest=staged.sha256,
                 detail={"kind": staged.kind, "file": staged.file_name, "rows": staged.rows})
    if staged.rows > settings.UPLOAD_INLINE_ROWS:
        queue = settings.UPLOAD_QUEUE
        state = worker_listening(queue)
        if state != "listening":
            raise Refused([problem(staged.file_name, _("worker"), lazy_format(
                _("a background worker on queue %(queue)s for a file above %(n)s rows"), queue=queue,
                n=settings.UPLOAD_INLINE_ROWS), _("no worker answers") if state == "no_worker"
                else _("the message broker cannot be reached"))])
        staged.status = Status.QUEUED
        staged.save(update_fields=["status", "confirmed_by", "confirmed_at"])
        transaction.on_commit(lambda: _enqueue(staged.pk, queue))
        return staged
    staged.status = Status.IMPORTING
    try:
        with transaction.atomic():
            staged.result = _import(staged, progress=None)
    except Refused as exc:  # what changed since the preview (another file for the month, a closed period)
        return _failed(staged, exc)
    staged.status, staged.progress, staged.finished_at = Status.DONE, staged.rows, timezone.now()
    staged.save(update_fields=["status", "result", "progress", "finished_at", "confirmed_by", "confirmed_at"])
    return staged


def _enqueue(staged_id: int, queue: str) -> None:
    from .tasks import upload_import

    result = upload_import.apply_async(kwargs={"staged_id": staged_id}, queue=queue)
    StagedUpload.objects.filter(pk=staged_id).update(task_id=result.id)


def _failed(staged: StagedUpload, exc: Refused) -> StagedUpload:
    staged.status, staged.finished_at = Status.FAILED, timezone.now()
    staged.result = {"problems": [_shown(p) for p in exc.problems[:MAX_SHOWN_PROBLEMS]]}
    staged.save()
    audit_record(action="upload_failed", actor=staged.confirmed_by, obj=staged, book=staged.book,
                 digest=staged.sha256, outcome="refused",
                 detail={"file": staged.file_name, "problems": [{k: p[k] for k in ("entry", "field", "expected",
                                                                                   "found")}
                                                                for p in staged.result["problems"][:50]]})
    return staged


def upload_cancel(*, staged_id: int, by) -> StagedUpload:
    """Drop a staged upload that was not imported (its bytes go; the row and its preview stay)."""
    _may_act_or_refuse(staged_id, by)
    return _cancel(staged_id=staged_id, by=by)


@transaction.atomic
def _cancel(*, staged_id: int, by) -> StagedUpload:
    staged = _locked(staged_id, by)
    if staged.status not in (Status.PREVIEWED, Status.REFUSED):
        raise Refused([problem(staged.file_name, _("status"), _("an upload not yet confirmed"),
                               staged.get_status_display())])
    staged.status, staged.content, staged.finished_at = Status.CANCELLED, b"", timezone.now()
    staged.save(update_fields=["status", "content", "finished_at"])
    audit_record(action="upload_cancelled", actor=by, obj=staged, book=staged.book, digest=staged.sha256,
                 detail={"kind": staged.kind, "file": staged.file_name})
    return staged


def upload_run(*, staged_id: int) -> StagedUpload | None:
    """A worker's part: import a queued upload once (a second delivery finds it no longer queued)."""
    with transaction.atomic():
        staged = StagedUpload.objects.select_for_update().filter(pk=staged_id).first()
        if staged is None or staged.status != Status.QUEUED:
            return staged
        staged.status = Status.IMPORTING
        staged.save(update_fields=["status"])
    writer = _ProgressWriter(staged.pk)
    try:
        with transaction.atomic():
            result = _import(staged, progress=writer)
            StagedUpload.objects.filter(pk=staged.pk).update(status=Status.DONE, result=result, progress=staged.rows,
                                                             finished_at=timezone.now())
    except Refused as exc:
        return _failed(staged, exc)
    except Exception as exc:
        _failed(staged, Refused([problem(staged.file_name, _("import"), _("an import that completes"),
                                         f"{type(exc).__name__}: {exc}"[:300])]))
        raise
    finally:
        writer.close()
    staged.refresh_from_db()
    return staged


class _ProgressWriter:
    """Writes the rows read onto the staged row through a connection of its own, so the page sees them while
    the import's transaction is still open (PostgreSQL; on SQLite the import's write lock forbids it)."""

    def __init__(self, staged_id: int):
        self.staged_id = staged_id
        self.conn = connections.create_connection(DEFAULT_DB_ALIAS) if connection.vendor == "postgresql" else None

    def __call__(self, rows: int) -> None:
        if self.conn is None:
            return
        with self.conn.cursor() as cursor:
            cursor.execute(f"UPDATE {StagedUpload._meta.db_table} SET progress = %s WHERE id = %s",
                           [rows, self.staged_id])

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


# -- the imports ---------------------------------------------------------------------------------------------

def _import(staged: StagedUpload, *, progress) -> dict:
    by = staged.confirmed_by
    with _on_disk(staged) as path:
        return IMPORT[staged.kind](staged, path, by, progress)


def _import_bank(staged, path, by, progress) -> dict:
    from accounts.models import Account
    from reconciliation.bank import (
        bank_match_auto,
        bank_reconciliation,
        bank_statement_import,
        bank_statement_import_camt053,
        bank_statement_import_mt940,
    )

    p = staged.params
    account = Account.objects.get(pk=p["account"])
    if p["source"] == "mt940":
        st = bank_statement_import_mt940(path=path, account=account, by=by)
    elif p["source"] == "camt053":
        st = bank_statement_import_camt053(path=path, account=account, by=by)
    else:
        st = bank_statement_import(path=path, account=account, bank=p["bank"], year=int(p["year"]),
                                   month=int(p["month"]), opening=p["opening"], closing=p["closing"], by=by)
    matched = bank_match_auto(statement=st, by=by.get_username())  # pairs lines with postings; never posts
    r = bank_reconciliation(statement=st)
    return {"statement": st.pk, "lines": st.lines.count(), "matched": matched, "balanced": r.balanced}


def _import_claims(staged, path, by, progress) -> dict:
    from claims.services import claims_import, claims_recompute
    from contracts.models import Contract, ContractYear

    contract = Contract.objects.get(pk=staged.params["contract"])
    result = claims_import(path=path, contract=contract, by=by, progress=progress)
    batch = result.batch
    recomputed = 0
    if result.created:  # the same file again brings nothing new to recompute
        for cy in ContractYear.objects.filter(pk__in=result.years).order_by("year"):
            recomputed += claims_recompute(contract_year=cy, batch=batch, imported=result)
    return {"batch": batch.pk, "rows": result.rows, "created": result.created, "status": batch.status,
            "recomputed": recomputed, "oop_total": f"{result.oop_total:.2f}", "paid_total": f"{result.paid_total:.2f}"}


def _import_topup(staged, path, by, progress) -> dict:
    from contracts.topup import topup_import

    r = topup_import(path=path, by=by, **_topup_args(staged.params))
    if r.problems:  # the table did not change, but what it is checked against might have
        raise Refused([problem(lazy_format(_("row %(n)s"), n=p["row"]), p["field"], p["expected"], p["found"])
                       for p in r.problems])
    return {"obligations": r.obligations, "rows": r.rows, "total_amount": f"{r.total_amount:.2f}",
            "year": int(staged.params["year"])}


IMPORT = {Kind.BANK: _import_bank, Kind.CLAIMS: _import_claims, Kind.TOPUP: _import_topup}
