"""Contracts between a fund and an insurer, each year's terms, and the premium owed and paid."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Fund, Insurer, Region
from core.money import FenField
from ledger.models import JournalEntry


class Contract(models.Model):
    """承办合同: one fund × one insurer (or consortium) over several years, terms renewed each year."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    fund = models.ForeignKey(Fund, models.PROTECT, related_name="contracts", verbose_name=_("fund"))
    insurer = models.ForeignKey(Insurer, models.PROTECT, related_name="contracts", verbose_name=_("insurer"))
    first_year = models.PositiveSmallIntegerField(_("first year"))
    last_year = models.PositiveSmallIntegerField(_("last year"))
    tender_reference = models.CharField(_("tender reference"), max_length=200, blank=True)
    source = models.CharField(_("source document"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(first_year__lte=F("last_year")), name="contract_years_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ContractYear(models.Model):
    """A year's terms (年度合同), all of it data: premium basis, tranches, deposit, settlement terms."""

    class Basis(models.TextChoices):
        PER_CAPITA = "per_capita", _("per-capita standard × insured count")
        FIXED_TOTAL = "fixed_total", _("fixed total")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    contract = models.ForeignKey(Contract, models.PROTECT, related_name="years", verbose_name=_("contract"))
    year = models.PositiveSmallIntegerField(_("policy year"))
    basis = models.CharField(_("premium basis"), max_length=16, choices=Basis.choices)
    per_capita = FenField(_("per-capita standard"), null=True, blank=True)
    insured_count = models.PositiveIntegerField(_("insured persons"), null=True, blank=True)
    premium = FenField(_("premium of the year"))
    # [{"due": "2019-04-30", "cumulative_pct": "30"}, …] ending below or at 100 - deposit_pct.
    tranches = models.JSONField(_("tranche schedule"), default=list)
    deposit_pct = models.DecimalField(_("service deposit, percent of premium"), max_digits=5, decimal_places=2, default=0)
    settlement_terms = models.JSONField(_("settlement terms"), default=dict, blank=True)
    benefit_policy = models.CharField(_("benefit policy code"), max_length=40, blank=True)
    operating_cost = FenField(_("insurer's operating cost"), default=0)
    cutoff = models.DateField(_("settlement cut-off"))
    report_due = models.DateField(_("settlement report due"))
    settle_due = models.DateField(_("settlement due"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("contract year")
        verbose_name_plural = _("contract years")
        ordering = ["contract", "year"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "year"], name="contract_year_unique"),
            models.CheckConstraint(condition=Q(deposit_pct__gte=0, deposit_pct__lt=100), name="deposit_pct_range"),
            models.CheckConstraint(condition=Q(premium__gt=0), name="contract_year_premium_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.contract.code} {self.year}"


class ContractYearRegion(models.Model):
    """A pooling region a contract year's insurer serves (Shandong: each 统筹地区 pays its residents' premium to
    the insurer assigned to it), with the region's insured count. A region is served by one insurer a year."""

    contract_year = models.ForeignKey(ContractYear, models.PROTECT, related_name="regions",
                                      verbose_name=_("contract year"))
    region = models.ForeignKey(Region, models.PROTECT, related_name="contract_years", verbose_name=_("pooling region"))
    # The contract year's year again, so the database itself refuses a region served twice in one year.
    year = models.PositiveSmallIntegerField(_("policy year"))
    insured_count = models.PositiveIntegerField(_("insured persons"))

    class Meta:
        verbose_name = _("assigned region")
        verbose_name_plural = _("assigned regions")
        ordering = ["contract_year", "region__code"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="region_one_insurer_a_year"),
            models.CheckConstraint(condition=Q(insured_count__gt=0), name="assigned_region_insured_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.contract_year} {self.region}"


class Assessment(models.Model):
    """The annual assessment (考核) whose score releases the service deposit and any incentive."""

    contract_year = models.OneToOneField(
        ContractYear, models.PROTECT, related_name="assessment", verbose_name=_("contract year")
    )
    score = models.DecimalField(_("score"), max_digits=5, decimal_places=2)
    assessed_on = models.DateField(_("assessed on"))
    assessor = models.CharField(_("assessor"), max_length=200)

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=100), name="assessment_score_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.contract_year} {self.score}"


class PremiumObligation(models.Model):
    """One amount the fund owes an insurer by a date: a tranche, the service deposit, or a top-up."""

    class Kind(models.TextChoices):
        TRANCHE = "tranche", _("tranche")
        DEPOSIT = "deposit", _("service deposit")
        TOPUP = "topup", _("top-up (补缴)")
        # Settled by the prior year's settlement, never paid in cash: its surplus carried into this year's fund.
        CARRIED = "carried", _("surplus carried from the prior year")
        # The fund's share of the prior year's policy loss, paid with this year's premium (not part of its P).
        LOSS = "loss", _("prior-year policy-loss share")

    fund = models.ForeignKey(Fund, models.PROTECT, related_name="obligations", verbose_name=_("fund"))
    insurer = models.ForeignKey(Insurer, models.PROTECT, related_name="obligations", verbose_name=_("insurer"))
    contract_year = models.ForeignKey(
        ContractYear, models.PROTECT, null=True, blank=True, related_name="obligations",
        verbose_name=_("contract year"),
    )
    year = models.PositiveSmallIntegerField(_("policy year"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    sequence = models.PositiveSmallIntegerField(_("order"), default=1)
    description = models.CharField(_("description"), max_length=300)
    amount = FenField(_("amount"))
    # Null for the deposit until the assessment sets when it is released.
    due_date = models.DateField(_("due date"), null=True, blank=True)
    insured_count = models.PositiveIntegerField(_("insured persons"), null=True, blank=True)
    # The pooling region whose agency pays this part, when the contract year's premium is split by region.
    region = models.ForeignKey(Region, models.PROTECT, null=True, blank=True, related_name="obligations",
                               verbose_name=_("pooling region"))
    key = models.CharField(_("key"), max_length=200, unique=True)
    source = models.CharField(_("source"), max_length=300, blank=True)
    overdue_since = models.DateField(_("overdue since"), null=True, blank=True)
    # The part no longer owed: a service deposit withheld by the annual assessment.
    forfeited = FenField(_("forfeited"), db_column="forfeited_fen", default=0)

    class Meta:
        verbose_name = _("premium obligation")
        verbose_name_plural = _("premium obligations")
        ordering = ["fund", "insurer", "year", "sequence"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="obligation_amount_positive")]

    def __str__(self) -> str:
        return f"{self.description} {self.amount}"


class PremiumTransfer(models.Model):
    """A premium payment fund → insurer under one reference, booked by each side in its own book.

    The side that records it first drafts its own voucher (the fund: Dr 5101 / Cr 1004; the
    insurer: Dr 1002 / Cr 6031, or 2203 when it arrives before the policy year); the other side
    confirms by drafting its own. Each voucher counts once that side's reviewer has posted it.
    No one writes into the other side's book; until both vouchers are posted the payment is in transit.
    """

    class Side(models.TextChoices):
        FUND = "fund", _("fund")
        INSURER = "insurer", _("insurer")

    reference = models.CharField(_("reference"), max_length=100, unique=True)
    fund = models.ForeignKey(Fund, models.PROTECT, related_name="transfers", verbose_name=_("fund"))
    insurer = models.ForeignKey(Insurer, models.PROTECT, related_name="transfers", verbose_name=_("insurer"))
    contract_year = models.ForeignKey(
        ContractYear, models.PROTECT, null=True, blank=True, related_name="transfers", verbose_name=_("contract year")
    )
    obligation = models.ForeignKey(
        PremiumObligation, models.PROTECT, null=True, blank=True, related_name="transfers",
        verbose_name=_("obligation"),
    )
    year = models.PositiveSmallIntegerField(_("policy year"))
    amount = FenField(_("amount"))
    paid_on = models.DateField(_("paid on"))
    received_on = models.DateField(_("received on"), null=True, blank=True)
    entered_by_side = models.CharField(_("entered by"), max_length=8, choices=Side.choices)
    fund_entry = models.OneToOneField(
        JournalEntry, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("fund book entry")
    )
    insurer_entry = models.OneToOneField(
        JournalEntry, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("insurer book entry")
    )
    memo = models.CharField(_("memo"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("created by")
    )

    class Meta:
        verbose_name = _("premium transfer")
        verbose_name_plural = _("premium transfers")
        ordering = ["paid_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=Q(contract_year__isnull=False) | Q(obligation__isnull=False),
                name="transfer_against_year_or_obligation",
            ),
            models.CheckConstraint(
                condition=Q(fund_entry__isnull=False) | Q(insurer_entry__isnull=False),
                name="transfer_booked_by_a_side",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount}"

    def _posted(self, side: str) -> bool:
        entry = getattr(self, f"{side}_entry")
        return entry is not None and entry.status == JournalEntry.Status.POSTED

    @property
    def fund_confirmed(self) -> bool:
        """The fund's voucher is posted: the fund's books say the money left."""
        return self._posted("fund")

    @property
    def insurer_confirmed(self) -> bool:
        """The insurer's voucher is posted: the insurer's books say the money arrived."""
        return self._posted("insurer")

    @property
    def counts(self) -> bool:
        """Counted as paid once either side's reviewer has posted its voucher."""
        return self.fund_confirmed or self.insurer_confirmed

    @property
    def in_transit(self) -> bool:
        return not (self.fund_confirmed and self.insurer_confirmed)
