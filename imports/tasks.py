"""The import of a large confirmed upload, on a worker; a thin caller of imports.services."""

from celery import shared_task

from .services import upload_run


@shared_task(name="imports.upload_import")
def upload_import(staged_id: int) -> str | None:
    """Import a queued upload once; a second delivery of the message finds it no longer queued."""
    staged = upload_run(staged_id=staged_id)
    return staged.status if staged is not None else None
