"""The nightly verification of every book and of the audit trail, in the database schedule."""

from django.db import migrations

NAME = "每日账簿核验（验证哈希链、封签与检查点）"


def add(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(timezone="Asia/Shanghai", minute="30", hour="3",
                                                       day_of_week="*", day_of_month="*", month_of_year="*")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={
        "task": "ledger.verify_nightly", "crontab": crontab,
        "description": "每天 03:30 核验所有账套的哈希链、封签、凭证编号、余额与库外检查点，以及审计日志链；"
                       "发现问题即在管理后台首页向系统管理员和审计人员告警，并记入审计日志。"})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_raw_sql_guards"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(add, remove)]
