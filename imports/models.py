"""A file a user uploaded in the admin, held with its preview until they confirm or cancel it.

Nothing reaches the books or the business tables before confirmation: the staged row keeps the
file's bytes (so the import reads exactly the file that was previewed, checked by its SHA-256),
what the preview found, and, once confirmed, the import's progress and result.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StagedUpload(models.Model):
    class Kind(models.TextChoices):
        BANK = "bank", _("bank statement")
        CLAIMS = "claims", _("claims file")
        TOPUP = "topup", _("top-up table")

    class Status(models.TextChoices):
        PREVIEWED = "previewed", _("previewed, awaiting confirmation")
        REFUSED = "refused", _("refused (problems in the file)")
        QUEUED = "queued", _("queued for a worker")
        IMPORTING = "importing", _("importing")
        DONE = "done", _("imported")
        CANCELLED = "cancelled", _("cancelled")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    params = models.JSONField(_("target"), default=dict)
    file_name = models.CharField(_("file name"), max_length=200)
    content = models.BinaryField(_("file"), editable=False)
    sha256 = models.CharField(_("file SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+",
                                    verbose_name=_("uploaded by"))
    # The book the upload is for (scoping); a top-up table creates obligations across funds and has none.
    book = models.ForeignKey("accounts.Book", models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("book"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    preview = models.JSONField(_("preview"), default=dict)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    progress = models.PositiveIntegerField(_("rows processed"), default=0)
    result = models.JSONField(_("result"), default=dict)
    task_id = models.CharField(_("task"), max_length=64, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("confirmed by"))
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("staged upload")
        verbose_name_plural = _("staged uploads")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name} ({self.get_status_display()})"

    @property
    def problems(self) -> list:
        return self.preview.get("problems", [])
