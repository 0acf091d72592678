"""Annual settlements of contract years, and the deadlines around them."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from contracts.models import ContractYear
from core.money import FenField


class Settlement(models.Model):
    """年度结算 of one contract year: draft → reviewed → posted; the reviewer is not the preparer."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        REVIEWED = "reviewed", _("reviewed")
        POSTED = "posted", _("posted")

    contract_year = models.OneToOneField(ContractYear, models.PROTECT, related_name="settlement",
                                         verbose_name=_("contract year"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT)
    as_of = models.DateField(_("as of"))
    premium = FenField(_("premium P (all tranches, top-ups and deposit)"), db_column="premium_fen")
    claims = FenField(_("claims C charged to the year"), db_column="claims_fen")
    cost = FenField(_("operating cost E"), db_column="cost_fen", default=0)
    deposit = FenField(_("service deposit D"), db_column="deposit_fen", default=0)
    score = models.DecimalField(_("assessment score"), max_digits=5, decimal_places=2, null=True, blank=True)
    policy_loss = FenField(_("policy-caused loss (accountants' determination)"), db_column="policy_loss_fen",
                           null=True, blank=True)
    loss_reason = models.TextField(_("reason for the loss split"), blank=True)
    terms = models.JSONField(_("terms applied"))
    outcome = models.JSONField(_("outcome"))
    entry_keys = models.JSONField(_("entries posted"), default=list, blank=True)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("prepared by"))
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("reviewed by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("annual settlement")
        verbose_name_plural = _("annual settlements")
        ordering = ["-contract_year__year", "contract_year__contract__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(prepared_by__isnull=True) | Q(reviewed_by__isnull=True) | ~Q(prepared_by=F("reviewed_by")),
                name="settlement_reviewer_not_preparer",
                violation_error_message=_("The reviewer of a settlement cannot be its preparer."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_year} {self.get_status_display()}"


class Deadline(models.Model):
    """A settlement deadline that passed with no posted settlement (report by May 31, settled by June 30)."""

    class Kind(models.TextChoices):
        REPORT = "report", _("settlement report due")
        SETTLE = "settle", _("settlement due")

    contract_year = models.ForeignKey(ContractYear, models.CASCADE, related_name="missed_deadlines",
                                      verbose_name=_("contract year"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    due = models.DateField(_("due"))
    noticed_on = models.DateField(_("noticed on"))

    class Meta:
        verbose_name = _("missed deadline")
        verbose_name_plural = _("missed deadlines")
        ordering = ["due"]
        constraints = [models.UniqueConstraint(fields=["contract_year", "kind"], name="deadline_once")]

    def __str__(self) -> str:
        return f"{self.contract_year} {self.get_kind_display()} {self.due}"
