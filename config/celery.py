import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _statement_jobs_unsent_send(sender=None, **kwargs):
    """Statement jobs requested while the broker was down never reached it: the first worker up sends them."""
    from reports.workers import report_jobs_unsent_send

    report_jobs_unsent_send()
