"""Scheduled work for claims; thin callers of the services."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from .advances import advances_overdue_mark


@shared_task(name="claims.advances_overdue_check")
def advances_overdue_check(as_of: str | None = None) -> int:
    """Daily: mark advances not repaid within the time limit (audited). Idempotent: a retry or a second
    worker marks nothing twice."""
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return advances_overdue_mark(as_of=day)
