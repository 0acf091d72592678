from celery import chord, shared_task

from .models import ReportJob
from .services import report_job_assemble, report_job_fail, report_job_plan, report_part_render


@shared_task(name="reports.render", bind=True)
def render_report(self, job_id: int) -> str:
    """Long statements render off the web request; the job row carries the progress.

    A statement of one part is laid out here; a longer one is cut into parts laid out by
    whichever workers are free, and joined when the last is done.
    """
    n = report_job_plan(job_id=job_id)
    if n == 0:
        return ReportJob.objects.values_list("status", flat=True).get(pk=job_id)
    if n == 1:
        render_report_part(job_id, 0)
        return assemble_report(job_id)
    # The parts go to the queue this task came from, so the same pool of workers shares them.
    queue = (self.request.delivery_info or {}).get("routing_key") or None
    chord(render_report_part.si(job_id, i).set(queue=queue) for i in range(n))(
        assemble_report.si(job_id).set(queue=queue).on_error(report_failed.si(job_id).set(queue=queue)))
    return f"split into {n} parts"


@shared_task(name="reports.render_part")
def render_report_part(job_id: int, index: int) -> int:
    try:
        return report_part_render(job_id=job_id, index=index)
    except Exception as exc:
        report_job_fail(job_id=job_id, error=f"part {index + 1}: {type(exc).__name__}: {exc}")
        raise


@shared_task(name="reports.assemble")
def assemble_report(job_id: int) -> str:
    return report_job_assemble(job_id=job_id).status


@shared_task(name="reports.failed")
def report_failed(job_id: int) -> None:
    report_job_fail(job_id=job_id, error="a part failed to render; see the worker log")
