"""The daily check of advances the insurer has not repaid within the time limit, in django-celery-beat's
schedule where accountants can see and change it. It only marks and records (no money document), so it
acts for no person."""

from django.db import migrations

TASK_NAME = "每日垫付款划转超期检查"


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="40", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "claims.advances_overdue_check", "crontab": crontab,
                  "description": "每天 01:40 标记收到资料后超过服务时限（山西：10个工作日）仍未划转医保经办机构的"
                                 "基本医保垫付款，并记入审计日志；重复运行不产生重复标记。"},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0005_load_calendar_and_time_limits"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
