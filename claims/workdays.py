"""Chinese working days (工作日), from the published holiday calendar kept as data.

A day is a working day when the calendar marks it one (调休上班 on a Saturday or Sunday), or when it is a
Monday–Friday the calendar does not mark as a public holiday. The calendar covers the years listed in
CalendarYear (loaded from data/calendar/cn_workdays.csv, editable by administrators); a date in any other
year is refused, never guessed as Monday–Friday.

Counting "within N working days of receipt" starts the day after the receipt (the day of receipt is not
counted): the Nth working day after it is the last day allowed.
"""

import csv
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

from .models import CalendarDay, CalendarYear

CALENDAR_FILE = Path(settings.BASE_DIR) / "data" / "calendar" / "cn_workdays.csv"
COLUMNS = ["date", "kind", "name", "notice"]


class WorkCalendar:
    """The working-day calendar as it stands in the database, read once."""

    def __init__(self):
        self.years = set(CalendarYear.objects.values_list("year", flat=True))
        self.days = dict(CalendarDay.objects.values_list("day", "kind"))

    def _covered(self, day: date, what) -> None:
        if day.year not in self.years:
            covered = sorted(self.years)
            span = f"{covered[0]}–{covered[-1]}" if covered else _("none")
            raise Refused([problem(_("working-day calendar"), what,
                                   lazy_format(_("a date in a year the calendar covers (%(years)s)"), years=span),
                                   day)])

    def is_workday(self, day: date, what=None) -> bool:
        self._covered(day, what or _("date"))
        kind = self.days.get(day)
        if kind is not None:
            return kind == CalendarDay.Kind.WORKDAY
        return day.weekday() < 5

    def add_workdays(self, start: date, n: int, what=None) -> date:
        """The nth working day after `start` (start itself not counted)."""
        day, left = start, n
        self._covered(start, what or _("date"))
        while left > 0:
            day += timedelta(days=1)
            if self.is_workday(day, what):
                left -= 1
        return day

    def workdays_between(self, after: date, until: date, what=None) -> int:
        """Working days after `after` up to and including `until` (0 when `until` is not later)."""
        self._covered(after, what or _("date"))
        self._covered(until, what or _("date"))
        n, day = 0, after
        while day < until:
            day += timedelta(days=1)
            n += self.is_workday(day, what)
        return n


@transaction.atomic
def calendar_load(*, path: Path = CALENDAR_FILE, year_model=CalendarYear, day_model=CalendarDay) -> int:
    """Store the calendar file's years and days not yet in the database (a day an administrator has
    changed stays as they left it); every row is checked first, the whole file or nothing.
    Returns how many days were added. (A migration passes its historical models.)"""
    problems, rows = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header != COLUMNS:
            raise Refused([problem(Path(path).name, _("header"), ", ".join(COLUMNS), ", ".join(header))])
        for n, cells in enumerate(reader, start=2):
            where = lazy_format(_("row %(n)s"), n=n)
            if len(cells) != len(COLUMNS):
                problems.append(problem(where, _("columns"), lazy_format(_("%(n)s columns"), n=len(COLUMNS)),
                                        len(cells)))
                continue
            text, kind, name, notice = (c.strip() for c in cells)
            try:
                day = date.fromisoformat(text)
            except ValueError:
                problems.append(problem(where, _("date"), _("a date YYYY-MM-DD"), text))
                continue
            if kind not in CalendarDay.Kind.values:
                problems.append(problem(where, _("kind"), "holiday / workday", kind))
            elif kind == CalendarDay.Kind.WORKDAY and day.weekday() < 5:
                problems.append(problem(where, _("kind"), _("a Saturday or Sunday worked in exchange"), day))
            if not notice:
                problems.append(problem(where, _("notice"), _("the State Council notice it comes from"),
                                        _("(empty)")))
            rows.append((day, kind, name, notice))
    seen = set()
    for day, *_rest in rows:
        if day in seen:
            problems.append(problem(Path(path).name, _("date"), _("each date once"), day))
        seen.add(day)
    if problems:
        raise Refused(problems)
    notices: dict[int, list[str]] = {}
    for day, _kind, _name, notice in rows:
        if notice not in notices.setdefault(day.year, []):
            notices[day.year].append(notice)
    years = {}
    for year, texts in sorted(notices.items()):
        years[year] = year_model.objects.get_or_create(year=year, defaults={"notice": "\n".join(texts)})[0]
    have = set(day_model.objects.filter(day__in=seen).values_list("day", flat=True))
    new = [day_model(calendar_year=years[d.year], day=d, kind=k, name=nm, notice=nt)
           for d, k, nm, nt in rows if d not in have]
    day_model.objects.bulk_create(new)
    return len(new)
