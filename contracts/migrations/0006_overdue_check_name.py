"""The daily overdue check's schedule named in Chinese only, as the other schedules are."""

from django.db import migrations

OLD, NEW = "每日保费逾期检查 (premium overdue check)", "每日保费逾期检查"


def rename(apps, schema_editor, old=OLD, new=NEW):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=old).update(name=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0005_transfer_halves_booked_by_each_side"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, rename_back)]
