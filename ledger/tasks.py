"""Nightly verification of every book and of the audit trail (verify_ledger), on a worker.

What it finds wrong stays on the admin's front page (audit.IntegrityAlert) for administrators and
auditors until one of them acknowledges it with a reason; what verifies is checkpointed again
outside the database.
"""

from celery import shared_task

from .verification import ledger_verify_nightly


@shared_task(name="ledger.verify_nightly")
def verify_nightly() -> dict:
    return ledger_verify_nightly()
