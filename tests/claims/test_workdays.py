"""The Chinese working-day calendar: data/calendar/cn_workdays.csv as loaded by the migration."""

from datetime import date, timedelta

import pytest

from claims.deadlines import due_on, limit_for
from claims.models import CalendarDay, CalendarYear, TimeLimit
from claims.workdays import CALENDAR_FILE, WorkCalendar, calendar_load
from core.errors import Refused

pytestmark = pytest.mark.django_db


def test_national_day_2019_counted_by_hand():
    cal = WorkCalendar()
    # 2019: 9-29 (Sunday) and 10-12 (Saturday) worked in exchange; 10-1…10-7 国庆节 off.
    assert cal.is_workday(date(2019, 9, 29)) and cal.is_workday(date(2019, 10, 12))
    assert not any(cal.is_workday(date(2019, 10, d)) for d in range(1, 8))
    assert not cal.is_workday(date(2019, 9, 28)) and not cal.is_workday(date(2019, 10, 13))
    # From Friday 9-27: 9-29 (1), 9-30 (2), 10-8 (3) … 10-11 (6), 10-12 (7), 10-14 (8), 10-15 (9), 10-16 (10).
    assert cal.add_workdays(date(2019, 9, 27), 10) == date(2019, 10, 16)
    assert cal.workdays_between(date(2019, 9, 27), date(2019, 10, 16)) == 10
    limit = limit_for(policy="shanxi-2019", kind=TimeLimit.Kind.ADVANCE)
    assert (limit.days, limit.unit) == (10, "working")
    assert due_on(limit=limit, received_on=date(2019, 9, 27)) == date(2019, 10, 16)


def test_a_year_outside_the_calendar_is_refused_not_guessed():
    cal = WorkCalendar()
    assert sorted(cal.years) == list(range(2019, 2027))
    for day in (date(2018, 12, 31), date(2027, 1, 4)):
        with pytest.raises(Refused) as info:
            cal.is_workday(day)
        assert info.value.problems[0]["expected"] == "a date in a year the calendar covers (2019–2026)"
    with pytest.raises(Refused):
        cal.add_workdays(date(2026, 12, 24), 10)  # runs into 2027


def test_loading_again_adds_nothing_and_keeps_an_administrators_edit():
    day = CalendarDay.objects.get(day=date(2019, 10, 1))
    day.name = "国庆节（已核对）"
    day.save()
    assert calendar_load(path=CALENDAR_FILE) == 0
    assert CalendarDay.objects.get(day=date(2019, 10, 1)).name == "国庆节（已核对）"
    assert "国办发明电〔2018〕15号" in CalendarYear.objects.get(year=2019).notice


def test_every_day_agrees_with_chinesecalendar():
    """Cross-check of the data file against the chinesecalendar package (test-only, pinned in requirements.txt)
    for every day of every covered year."""
    cc = pytest.importorskip("chinese_calendar")
    cal = WorkCalendar()
    day, differ = date(2019, 1, 1), []
    while day <= date(2026, 12, 31):
        if cal.is_workday(day) != cc.is_workday(day):
            differ.append(day)
        day += timedelta(days=1)
    assert differ == []
