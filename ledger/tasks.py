"""Nightly verification of every book and of the audit trail (verify_ledger), on the workers.

Each book is verified by a task of its own, on whichever worker of the queue is free, so a province's
books verify side by side; a last task gathers their outcomes. What it finds wrong stays on the admin's
front page (audit.IntegrityAlert) for administrators and auditors until one of them acknowledges it with
a reason; what verifies is checkpointed again outside the database.
"""

from celery import chord, shared_task

from .verification import verify_gather, verify_one_book, verify_prepare, verify_trail


@shared_task(name="ledger.verify_nightly", bind=True)
def verify_nightly(self) -> dict:
    # Replaced by the fan-out: whoever waits on this task's result receives the gathered outcome.
    queue = (self.request.delivery_info or {}).get("routing_key") or None
    header = [verify_book.si(pk).set(queue=queue) for pk in verify_prepare()]
    header.append(verify_audit_trail.si().set(queue=queue))
    return self.replace(chord(header, verify_gathered.s().set(queue=queue)))


@shared_task(name="ledger.verify_book")
def verify_book(book_id: int) -> dict:
    return verify_one_book(book_id)


@shared_task(name="ledger.verify_trail")
def verify_audit_trail() -> dict:
    return verify_trail()


@shared_task(name="ledger.verify_gather")
def verify_gathered(parts: list[dict]) -> dict:
    return verify_gather(parts)
