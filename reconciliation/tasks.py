"""Scheduled settlement work; thin callers of the services, each idempotent and safe to run twice at once.

What a schedule prepares (settlement drafts, year-end closing entries) is prepared on behalf of a
named, responsible person: the task's `acts_for` argument, set on the schedule in the admin
(周期性任务 › 关键字参数 {"acts_for": "用户名"}). A reviewer other than that person approves it.
"""

import logging
from datetime import date

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from access.scope import scope_filter
from accounts.models import Book
from audit.services import audit_record
from core.errors import Refused, lazy_format, problem
from core.people import signer_problems

from .services import deadlines_check, settlements_due_draft, year_end_prepare

log = logging.getLogger(__name__)


def _day(as_of: str | None) -> date:
    return date.fromisoformat(as_of) if as_of else timezone.localdate()


def _acting_person(task: str, acts_for: str | None):
    """The named person a scheduled task prepares for; without one the task does nothing and says so."""
    user = get_user_model().objects.filter(username=acts_for).first() if acts_for else None
    problems = signer_problems(lazy_format(_("scheduled task %(task)s"), task=task), made_by=user, need_reviewer=False)
    if problems:
        with override("en"):  # the trail keeps refusals in English, the same in every language
            described = [Refused.describe(p) for p in problems]
        audit_record(action="access_refused", actor=f"task {task}", outcome="refused",
                     detail={"reason": "a scheduled task prepares money documents for a named person",
                             "acts_for": acts_for or "", "problems": described})
        raise Refused(problems or [problem(lazy_format(_("scheduled task %(task)s"), task=task), _("acts_for"),
                                           _("a named person"), acts_for)])
    return user


@shared_task(name="reconciliation.settlement_drafts")
def settlement_drafts(as_of: str | None = None, acts_for: str | None = None) -> int:
    """The day after each contract's cut-off: draft its settlement for the responsible person; a reviewer approves."""
    person = _acting_person("settlement_drafts", acts_for)
    return settlements_due_draft(today=_day(as_of), acts_for=person)


@shared_task(name="reconciliation.deadline_reminders")
def deadline_reminders(as_of: str | None = None) -> int:
    """Record report-due (May 31) and settle-due (June 30) dates passed with no posted settlement."""
    return deadlines_check(today=_day(as_of))


@shared_task(name="reconciliation.year_end_close")
def year_end_close_all(year: int | None = None, acts_for: str | None = None) -> int:
    """On its date (January 5): prepare the previous year's closing entry of every book for the responsible
    person; each reviewer then approves it, which closes the year. A book with drafts left waits (logged).
    Returns how many closing entries are prepared and awaiting review."""
    person = _acting_person("year_end_close", acts_for)
    year = year or _day(None).year - 1
    prepared = 0
    for book in scope_filter(Book.objects.order_by("code"), person):  # the books the person keeps
        try:
            prepared += year_end_prepare(book=book, year=year, by=person) is not None
        except Refused as exc:
            log.warning("year-end close of %s %s waits: %s", book.code, year, exc)
    return prepared
