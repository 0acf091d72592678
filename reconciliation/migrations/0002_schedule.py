"""Settlement drafts, deadline reminders and the year-end close in the database schedule (django-celery-beat)."""

from django.db import migrations

SCHEDULE = [
    ("每日结算草稿（结算时点次日起）", "reconciliation.settlement_drafts", dict(minute="0", hour="2"),
     "每天 02:00 为已过结算时点（次年3月31日）而未结算的合同年度生成结算草稿；重复运行只生成一份。"),
    ("每日结算期限提醒", "reconciliation.deadline_reminders", dict(minute="10", hour="2"),
     "每天 02:10 记录已过结算报告期限（5月31日）或结算完成期限（6月30日）而仍未记账的结算。"),
    ("年度结账（1月5日）", "reconciliation.year_end_close", dict(minute="0", hour="3", day_of_month="5", month_of_year="1"),
     "每年1月5日 03:00 对所有账套做上年末结转并关闭上年度；有未审核凭证的账套会等待。"),
]


def add(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, when, description in SCHEDULE:
        fields = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*", **when}
        crontab, _ = CrontabSchedule.objects.get_or_create(timezone="Asia/Shanghai", **fields)
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab,
                                                                 "description": description})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(add, remove)]
