"""Scheduled settlement work; thin callers of the services, each idempotent and safe to run twice at once."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from accounts.models import Book

from .services import deadlines_check, settlements_due_draft, year_end_close


def _day(as_of: str | None) -> date:
    return date.fromisoformat(as_of) if as_of else timezone.localdate()


@shared_task(name="reconciliation.settlement_drafts")
def settlement_drafts(as_of: str | None = None) -> int:
    """The day after each contract's cut-off: draft its settlement."""
    return settlements_due_draft(today=_day(as_of))


@shared_task(name="reconciliation.deadline_reminders")
def deadline_reminders(as_of: str | None = None) -> int:
    """Record report-due (May 31) and settle-due (June 30) dates passed with no posted settlement."""
    return deadlines_check(today=_day(as_of))


@shared_task(name="reconciliation.year_end_close")
def year_end_close_all(year: int | None = None) -> int:
    """After December 31: close the previous year of every book. A book with drafts left waits (logged)."""
    import logging

    from core.errors import Refused

    year = year or _day(None).year - 1
    closed = 0
    for book in Book.objects.order_by("code"):
        try:
            year_end_close(book=book, year=year)
            closed += 1
        except Refused as exc:
            logging.getLogger(__name__).warning("year-end close of %s %s waits: %s", book.code, year, exc)
    return closed
