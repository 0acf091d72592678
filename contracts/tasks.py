"""Scheduled work for premiums; thin callers of the services."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from .services import premium_overdue_mark


@shared_task(name="contracts.premium_overdue_check")
def premium_overdue_check(as_of: str | None = None) -> int:
    """Daily: mark obligations past due and unpaid. Idempotent, so a retry or a second worker is harmless."""
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return premium_overdue_mark(as_of=day)
