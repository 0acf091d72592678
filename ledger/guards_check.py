"""What the database records but cannot refuse, checked against the audit trail (for verify_ledger).

A period's status may change only through the services (period_close, period_reopen, year_close), each of
which writes its audit event in the same transaction. The database cannot tell those UPDATEs from a raw
one, so a trigger (migration ledger 0006) records every status change in PeriodStatusChange, append-only,
at the database's own time. A change here without its audit event was made behind the services' back.
"""

import calendar
from collections import defaultdict
from datetime import date, timedelta

from django.utils.translation import gettext_lazy as _

from accounts.models import Book
from audit.models import AuditEvent
from core.errors import lazy_format, problem

from .models import Period, PeriodStatusChange

# The change is stamped by the database's clock, its event by the application's in the same transaction;
# the trail refuses events more than 5 minutes off the database's clock, so 10 minutes covers both.
TOLERANCE = timedelta(minutes=10)

# The audit action that accounts for each change, by the status it went to.
_ACTION = {
    Period.Status.CLOSED: AuditEvent.Action.PERIOD_CLOSED,
    Period.Status.OPEN: AuditEvent.Action.PERIOD_REOPENED,
    Period.Status.FINAL: AuditEvent.Action.YEAR_CLOSED,
}


def _year_of(detail) -> int | None:
    try:
        return int((detail or {}).get("year"))
    except (TypeError, ValueError):
        return None


def period_history_problems(book: Book) -> list[dict]:
    """Problems with the book's periods that only comparing records can find, each naming the period:

    - a status change without the audit event that should account for it (period_closed for → closed,
      period_reopened for closed → open, year_closed of that year for → final), within TOLERANCE of it;
    - a period whose status is not the one its last recorded change left it in (changed unrecorded);
    - a period whose dates are not the first and last day of its year and month.
    """
    problems = []
    periods = {p.pk: p for p in Period.objects.filter(book=book).order_by("year", "month")}
    label = {pk: lazy_format(_("book %(code)s period %(period)s"), code=book.code, period=f"{p.year}-{p.month:02d}")
             for pk, p in periods.items()}

    for pk, p in periods.items():
        if (p.start_date, p.end_date) != _month_bounds(p.year, p.month):
            problems.append(problem(label[pk], _("dates"), _("the first to the last day of its year and month"),
                                    lazy_format(_("%(start)s to %(end)s"), start=p.start_date, end=p.end_date)))

    changes = list(PeriodStatusChange.objects.filter(book=book).order_by("period_id", "at", "id"))
    if not changes:
        return problems

    events = defaultdict(list)  # (action, period id or year) -> [[event, used], ...] in time order
    trail = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.OK).order_by("at", "id")
    for e in trail.filter(action__in=[AuditEvent.Action.PERIOD_CLOSED, AuditEvent.Action.PERIOD_REOPENED],
                          object_type=Period._meta.label_lower,
                          object_id__in=[str(pk) for pk in periods]).only("id", "at", "action", "object_id"):
        events[(e.action, int(e.object_id))].append([e, False])
    for e in trail.filter(action=AuditEvent.Action.YEAR_CLOSED, book_code=book.code).only("id", "at", "action",
                                                                                           "detail"):
        events[(e.action, _year_of(e.detail))].append(e)

    last_status = {}
    year_close_used = set()  # (event id, period id): one year_closed event accounts for each period once
    for change in changes:
        last_status[change.period_id] = change.new_status
        where = label.get(change.period_id) or lazy_format(_("book %(code)s period %(period)s"), code=book.code,
                                                           period=f"{change.year}-{change.month:02d}")
        action = _ACTION.get(change.new_status)
        what = lazy_format(_("%(old)s → %(new)s at %(at)s"), old=change.old_status, new=change.new_status,
                           at=f"{change.at:%Y-%m-%d %H:%M:%S}")
        if action is None:
            problems.append(problem(where, _("status change"), _("a status the services set (open, closed, final)"),
                                    what))
            continue
        if action == AuditEvent.Action.YEAR_CLOSED:
            match = next((e for e in events[(action, change.year)]
                          if (e.pk, change.period_id) not in year_close_used and abs(e.at - change.at) <= TOLERANCE),
                         None)
            if match is not None:
                year_close_used.add((match.pk, change.period_id))
        else:
            slot = next((s for s in events[(action, change.period_id)]
                         if not s[1] and abs(s[0].at - change.at) <= TOLERANCE), None)
            if slot is not None:
                slot[1] = True
            match = slot
        if match is None:
            problems.append(problem(where, _("status change"),
                                    lazy_format(_("its audit event (%(action)s) within %(tolerance)s"), action=action,
                                                tolerance=TOLERANCE),
                                    lazy_format(_("%(what)s with no such event: changed behind the services' back"),
                                                what=what)))

    for pk, status in last_status.items():
        p = periods.get(pk)
        if p is not None and p.status != status:
            problems.append(problem(label[pk], _("status"),
                                    lazy_format(_("%(status)s (as its last recorded change left it)"), status=status),
                                    lazy_format(_("%(status)s: changed without being recorded"), status=p.status)))
    return problems


def _month_bounds(year: int, month: int):
    if not 1 <= month <= 12:
        return None
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
