"""The nightly verification: link what the trail still has to link, verify everything, raise an alert
(and an audit event) on any problem, and checkpoint the books that verify."""

from django.db import transaction

from accounts.models import Book
from audit.models import IntegrityAlert
from audit.services import TRAIL, audit_chain_extend, audit_record
from core.checkpoints import checkpoint_append

from .integrity import ledger_verify
from .services import book_balances_digest


def ledger_verify_nightly() -> dict:
    audit_chain_extend()  # events whose after-commit linking did not run (a process that died) join now
    result = ledger_verify()
    failed_books = {p["book"] for p in result.problems}
    if not result.ok:
        with transaction.atomic():
            alert = IntegrityAlert.objects.create(problems=result.problems, count=len(result.problems))
            audit_record(action="verify_failed", actor="task verify_ledger", outcome="refused", obj=alert,
                         detail={"problems": len(result.problems), "books": sorted(failed_books),
                                 "first": result.problems[0]})
    for book in Book.objects.exclude(code__in=failed_books).order_by("code"):
        with transaction.atomic():
            locked = Book.objects.select_for_update(no_key=True).get(pk=book.pk)
            if locked.chain_length:
                checkpoint_append(locked.code, length=locked.chain_length, head=locked.chain_head,
                                  digest=book_balances_digest(locked))
    if "(audit trail)" not in failed_books:
        from audit.models import AuditChain

        head = AuditChain.objects.filter(pk=1).first()
        if head is not None and head.length:
            checkpoint_append(TRAIL, length=head.length, head=head.head)
    return {"ok": result.ok, "books": result.books, "entries": result.entries, "problems": len(result.problems)}
