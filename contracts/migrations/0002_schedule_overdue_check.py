"""The daily overdue check in django-celery-beat's schedule, where accountants can see and change it."""

from django.db import migrations

TASK_NAME = "每日保费逾期检查 (premium overdue check)"


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "contracts.premium_overdue_check", "crontab": crontab,
                  "description": "每天 01:30 标记已过期限而未足额到账的保费划拨义务；重复运行不产生重复标记。"},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
