"""The working-day calendar (data/calendar/cn_workdays.csv) and the service time limits (data/time_limits.json)
as shipped; administrators edit them in the admin afterwards, and loading again keeps their edits."""

from django.db import migrations


def load(apps, schema_editor):
    from claims.deadlines import time_limits_load
    from claims.workdays import calendar_load

    calendar_load(year_model=apps.get_model("claims", "CalendarYear"), day_model=apps.get_model("claims", "CalendarDay"))
    time_limits_load(model=apps.get_model("claims", "TimeLimit"))


class Migration(migrations.Migration):
    dependencies = [("claims", "0004_advances_time_limits_calendar")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
