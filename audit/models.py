"""Who did what and when: an append-only trail (the database refuses UPDATE and DELETE)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        LOGIN = "login", _("signed in")
        LOGIN_FAILED = "login_failed", _("sign-in failed")
        LOGOUT = "logout", _("signed out")
        DRAFT_SAVED = "draft_saved", _("voucher drafted")
        ENTRY_POSTED = "entry_posted", _("voucher posted")
        ENTRIES_POSTED = "entries_posted", _("vouchers posted in a batch")
        ENTRY_REVERSED = "entry_reversed", _("voucher reversed")
        PERIOD_CLOSED = "period_closed", _("period closed")
        PERIOD_REOPENED = "period_reopened", _("period reopened")
        YEAR_CLOSED = "year_closed", _("year closed")
        IMPORTED = "imported", _("file imported")
        BANK_MATCHED = "bank_matched", _("bank lines matched")
        BANK_UNMATCHED = "bank_unmatched", _("bank line unmatched")
        TRANSFER_CONFIRMED = "transfer_confirmed", _("transfer confirmed")
        SETTLEMENT_DRAFTED = "settlement_drafted", _("settlement drafted")
        SETTLEMENT_REVIEWED = "settlement_reviewed", _("settlement reviewed")
        SETTLEMENT_POSTED = "settlement_posted", _("settlement posted")
        REPORT_ISSUED = "report_issued", _("statement issued")
        REPORT_DOWNLOADED = "report_downloaded", _("statement downloaded")
        REPORT_VERIFIED = "report_verified", _("statement verified")
        ACCESS_REFUSED = "access_refused", _("access refused")

    class Outcome(models.TextChoices):
        OK = "ok", _("done")
        REFUSED = "refused", _("refused")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    actor = models.CharField(_("who"), max_length=150, db_index=True)
    action = models.CharField(_("action"), max_length=32, choices=Action.choices, db_index=True)
    outcome = models.CharField(_("result of the attempt"), max_length=8, choices=Outcome.choices, default=Outcome.OK)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=300, blank=True)
    book_code = models.CharField(_("book"), max_length=32, blank=True, db_index=True)
    digest = models.CharField(_("file SHA-256"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.get_action_display()} {self.object_repr}"
