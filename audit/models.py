"""Who did what and when: an append-only trail (the database refuses UPDATE and DELETE)."""

from django.conf import settings
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
        TRANSFER_RECORDED = "transfer_recorded", _("premium transfer recorded")
        APPROVED = "approved", _("document approved and posted")
        YEAR_END_PREPARED = "year_end_prepared", _("year-end closing entry prepared")
        DELETED = "deleted", _("draft withdrawn")
        REFUSED = "refused", _("attempt refused")
        VERIFY_FAILED = "verify_failed", _("verification of the books failed")
        ALERT_ACKNOWLEDGED = "alert_acknowledged", _("integrity alert acknowledged")
        EVENTS_SUPPRESSED = "events_suppressed", _("events over the flood limit (counted, not recorded one by one)")
        OPENING_PREPARED = "opening_prepared", _("opening balances prepared")
        OPENING_APPROVED = "opening_approved", _("opening balances approved")
        ATTACHMENT_ADDED = "attachment_added", _("attachment added to a voucher")
        ATTACHMENT_REMOVED = "attachment_removed", _("attachment removed from a draft")
        ATTACHMENT_DOWNLOADED = "attachment_downloaded", _("attachment downloaded")

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
    # The event's own seal (HMAC under the ledger's key), made as it is written: an event inserted or
    # altered by anyone without the key shows. Null only for events written before the trail was sealed.
    mac = models.CharField(_("seal"), max_length=64, null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.get_action_display()} {self.object_repr}"


class FloodCounter(models.Model):
    """Events from requests without a signed-in user, counted per source and time window.

    Anyone can make such events (a failed sign-in with a new name each time), so past a limit they
    are counted here instead of written one by one, and the trail gets a summary per source and
    window. A separate table: the trail's own table stays append-only and is never altered.
    `source` is the client address (an IPv6 client's /64: one subscriber holds the whole /64), or
    ALL_SOURCES for every unauthenticated source together. The row with an empty `action` is the
    one the limit is taken on; rows with an action break its suppressed events down by kind.
    """

    ALL_SOURCES = "*"

    source = models.CharField(_("source address"), max_length=64)
    action = models.CharField(_("action"), max_length=32, blank=True)
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    seen = models.BigIntegerField(_("events"), default=0)
    suppressed = models.BigIntegerField(_("not recorded one by one"), default=0)
    summarized = models.BooleanField(_("summary written"), default=False)
    last_at = models.DateTimeField(_("last event at"))

    class Meta:
        verbose_name = _("audit flood counter")
        verbose_name_plural = _("audit flood counters")
        ordering = ["-window_start", "source", "action"]
        constraints = [models.UniqueConstraint(fields=["source", "window_start", "action"],
                                               name="audit_floodcounter_once_per_window")]
        indexes = [models.Index(fields=["summarized", "window_end"], name="audit_flood_open_windows")]

    def __str__(self) -> str:
        return f"{self.source} {self.window_start:%Y-%m-%d %H:%M} {self.action or '*'}: {self.suppressed}/{self.seen}"


class AuditLink(models.Model):
    """The trail's chain: each committed event's place and a link sealed over the one before, appended
    after its transaction commits (audit.services.audit_chain_extend). Deleting an event, or a link,
    breaks every later link; the chain's checkpoints outside the database show a cut-off tail."""

    event = models.OneToOneField(AuditEvent, models.PROTECT, primary_key=True, related_name="link",
                                 verbose_name=_("event"))
    seq = models.BigIntegerField(_("position"), unique=True)
    prev = models.CharField(_("previous link"), max_length=64, blank=True)
    link = models.CharField(_("link"), max_length=64)

    class Meta:
        verbose_name = _("audit trail link")
        verbose_name_plural = _("audit trail links")
        ordering = ["seq"]


class AuditChain(models.Model):
    """The head of the trail's chain: one row, locked while links are appended so they come one after another."""

    length = models.BigIntegerField(_("events in the chain"), default=0)
    head = models.CharField(_("last link"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("audit trail chain")
        verbose_name_plural = _("audit trail chain")


class IntegrityAlert(models.Model):
    """The nightly verification found the books or the trail not as sealed: shown on the admin's front
    page to administrators and auditors until one of them acknowledges it with a reason."""

    at = models.DateTimeField(_("found at"), default=timezone.now)
    problems = models.JSONField(_("problems"), default=list)
    count = models.PositiveIntegerField(_("problems found"), default=0)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("acknowledged by"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    reason = models.TextField(_("reason given"), blank=True)

    class Meta:
        verbose_name = _("integrity alert")
        verbose_name_plural = _("integrity alerts")
        ordering = ["-at"]
        permissions = [("acknowledge_integrityalert", _("Can acknowledge integrity alerts"))]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.at):%Y-%m-%d %H:%M} {self.count}"
