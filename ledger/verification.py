"""The nightly verification: link what the trail still has to link, verify everything, raise an alert
(and an audit event) on any problem, and checkpoint the books that verify.

A province's books hold tens of millions of postings: one book is verified at a time per worker, each
book on whichever worker is free (ledger.tasks fans them out), and one gathering step raises the alert.
The same three pieces run in-process, one after the other, when no worker is asked (ledger_verify_nightly).
"""

from django.db import transaction

from accounts.models import Book
from audit.models import IntegrityAlert
from audit.services import TRAIL, audit_chain_extend, audit_record
from core.checkpoints import checkpoint_append

from .integrity import _MAX_PROBLEMS, ledger_verify
from .services import book_balances_digest

TRAIL_LABEL = "(audit trail)"


def verify_prepare() -> list[int]:
    """Events whose after-commit linking did not run (a process that died) join the trail now; the books
    to verify, in code order (the order their problems are reported in)."""
    audit_chain_extend()
    return list(Book.objects.order_by("code").values_list("pk", flat=True))


def verify_one_book(book_id: int) -> dict:
    """One book verified and, when it verifies, checkpointed again at its head (under the book's lock, so
    the checkpoint's length, head and balances digest describe one state)."""
    book = Book.objects.get(pk=book_id)
    result = ledger_verify(book=book)
    if result.ok:
        with transaction.atomic():
            locked = Book.objects.select_for_update(no_key=True).get(pk=book.pk)
            if locked.chain_length:
                checkpoint_append(locked.code, length=locked.chain_length, head=locked.chain_head,
                                  digest=book_balances_digest(locked))
    return {"book": book.code, "ok": result.ok, "entries": result.entries, "postings": result.postings,
            "problems": result.problems}


def verify_trail() -> dict:
    """The audit trail verified and, when it verifies, checkpointed again."""
    from audit.integrity import audit_verify
    from audit.models import AuditChain

    problems = list(audit_verify())
    if not problems:
        head = AuditChain.objects.filter(pk=1).first()
        if head is not None and head.length:
            checkpoint_append(TRAIL, length=head.length, head=head.head)
    return {"book": TRAIL_LABEL, "ok": not problems, "entries": 0, "postings": 0, "problems": problems}


def verify_gather(parts: list[dict]) -> dict:
    """The books' and the trail's outcomes as one: an alert and an audit event when anything failed."""
    books = [p for p in parts if p["book"] != TRAIL_LABEL]
    problems = [x for p in parts for x in p["problems"]][:_MAX_PROBLEMS]
    ok = all(p["ok"] for p in parts)
    if not ok:
        failed = {x["book"] for x in problems} | {p["book"] for p in parts if not p["ok"]}
        with transaction.atomic():
            alert = IntegrityAlert.objects.create(problems=problems, count=len(problems))
            audit_record(action="verify_failed", actor="task verify_ledger", outcome="refused", obj=alert,
                         detail={"problems": len(problems), "books": sorted(failed), "first": problems[0]})
    return {"ok": ok, "books": len(books), "entries": sum(p["entries"] for p in books), "problems": len(problems)}


def ledger_verify_nightly() -> dict:
    """Every book and the trail in this process, one after the other (the fan-out's pieces, in order)."""
    parts = [verify_one_book(pk) for pk in verify_prepare()]
    parts.append(verify_trail())
    return verify_gather(parts)
