from celery import shared_task

from .services import report_job_run


@shared_task(name="reports.render")
def render_report(job_id: int) -> str:
    """Long statements render here, off the web request; the job row carries the progress."""
    return report_job_run(job_id=job_id).status
