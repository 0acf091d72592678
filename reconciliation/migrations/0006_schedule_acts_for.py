"""Scheduled tasks that prepare money documents act for a named person: their `acts_for` argument.

Left empty here: an administrator sets it in 周期性任务 (the task refuses, and says so in the audit
trail, until then).
"""

import json

from django.db import migrations

TASKS = {
    "reconciliation.settlement_drafts": "每天 02:00 为已过结算时点（次年3月31日）而未结算的合同年度生成结算草稿，"
                                        "以 acts_for 指定的责任人名义编制，由另一位审核人员审核后记账；重复运行只生成一份。",
    "reconciliation.year_end_close": "每年1月5日 03:00 以 acts_for 指定的责任人名义为所有账套编制上年末结转凭证（草稿），"
                                     "审核人员审核记账后关闭上年度；有未审核凭证的账套会等待。",
}


def add(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for t in PeriodicTask.objects.filter(task__in=TASKS):
        kwargs = json.loads(t.kwargs or "{}")
        kwargs.setdefault("acts_for", "")
        t.kwargs, t.description = json.dumps(kwargs, ensure_ascii=False), TASKS[t.task]
        t.save(update_fields=["kwargs", "description"])


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0005_settlement_posted_by"), ("reconciliation", "0002_schedule")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
