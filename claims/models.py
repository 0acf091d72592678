"""Benefit policies as data (versioned by year), and the claims sub-ledger of an insurer's book."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Book
from contracts.models import Contract, ContractYear
from core.errors import Refused
from core.money import FenField
from ledger.models import JournalEntry


class BenefitPolicy(models.Model):
    """A region's benefit rules for a year, in the DESIGN.md policy format with named parameters."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    year = models.PositiveSmallIntegerField(_("year"))
    name = models.CharField(_("name"), max_length=200)
    source = models.TextField(_("source document"), blank=True)
    definition = models.JSONField(_("definition"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("benefit policy")
        verbose_name_plural = _("benefit policies")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self):
        from .rules import policy_from_dict

        try:
            policy_from_dict({**self.definition, "code": self.code, "year": self.year}, where=_("policy"),
                             allow_unset=True)
        except Refused as exc:
            raise ValidationError({"definition": [Refused.describe(p) for p in exc.problems]}) from exc


class Hospital(models.Model):
    """A designated hospital (定点医疗机构) as the claims files name it."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ClaimBatch(models.Model):
    """One imported claims file; the same file again (by its digest) imports nothing.

    Imported and recomputed by the insurer's accountant (prepared), it puts money into the
    insurer's book only when a reviewer other than them posts it; until then its claims count
    in no report and no settlement, and the preparer (or an administrator) may withdraw it.
    """

    class Status(models.TextChoices):
        PREPARED = "prepared", _("awaiting review")
        POSTED = "posted", _("posted")

    contract = models.ForeignKey(Contract, models.PROTECT, related_name="claim_batches", verbose_name=_("contract"))
    book = models.ForeignKey(Book, models.PROTECT, related_name="claim_batches", verbose_name=_("insurer book"))
    file_name = models.CharField(_("file name"), max_length=300)
    file_sha256 = models.CharField(_("file digest"), max_length=64)
    rows = models.PositiveIntegerField(_("rows"))
    oop_total = FenField(_("policy-scope out-of-pocket"))
    paid_total = FenField(_("paid by the insurer"))
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PREPARED)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("prepared by (制单)"))
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("reviewed by (审核)"))
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("claims batch")
        verbose_name_plural = _("claims batches")
        constraints = [
            models.UniqueConstraint(fields=["contract", "file_sha256"], name="claim_batch_file_once"),
            models.CheckConstraint(
                condition=Q(status="prepared")
                | (Q(prepared_by__isnull=False, reviewed_by__isnull=False) & ~Q(prepared_by=F("reviewed_by"))),
                name="claim_batch_posted_by_two_people",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.rows})"


class ClaimSummary(models.Model):
    """The claims of one batch that one voucher carries: charged to one contract year, settled in one month,
    at one hospital, through one channel (赔款按月按医院汇总入账). Written by the import with the claims;
    posting the batch points it at its voucher, so that a claim finds its voucher through it, and posting
    writes a few thousand of these rather than every claim again (a minute at a million claims)."""

    batch = models.ForeignKey(ClaimBatch, models.PROTECT, related_name="summaries", verbose_name=_("batch"))
    contract_year = models.ForeignKey(ContractYear, models.PROTECT, related_name="+",
                                      verbose_name=_("charged to"))
    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    hospital = models.ForeignKey(Hospital, models.PROTECT, related_name="+", verbose_name=_("hospital"))
    channel = models.CharField(_("channel"), max_length=8)
    entry = models.ForeignKey(JournalEntry, models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("posted in"))

    class Meta:
        verbose_name = _("claims summary")
        verbose_name_plural = _("claims summaries")
        constraints = [
            models.UniqueConstraint(fields=["batch", "contract_year", "year", "month", "hospital", "channel"],
                                    name="claim_summary_once_per_batch"),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12), name="claim_summary_month"),
        ]

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d} {self.hospital_id} {self.channel}"


class Claim(models.Model):
    """One episode a person was paid for. The person is a keyed pseudonym, never the ID number."""

    class Channel(models.TextChoices):
        DIRECT = "direct", _("direct settlement at the hospital")
        MANUAL = "manual", _("manual reimbursement")
        ADVANCE = "advance", _("repayment of a fund advance")

    # No foreign keys on PostgreSQL for the rows a claim names, but its voucher's: a statement trigger checks
    # and locks an import's few batches, books, years and hospitals once (migration claims 0011).
    batch = models.ForeignKey(ClaimBatch, models.PROTECT, related_name="claims", verbose_name=_("batch"),
                              db_constraint=False)
    # No single-column index for these two: (book, claim_no), (book, id), (contract_year, person, settled_on)
    # and (contract_year, id) lead with them, and every claim written pays for each index it is in.
    book = models.ForeignKey(Book, models.PROTECT, related_name="+", verbose_name=_("insurer book"), db_index=False,
                             db_constraint=False)
    contract_year = models.ForeignKey(ContractYear, models.PROTECT, related_name="claims",
                                      verbose_name=_("contract year"), db_index=False, db_constraint=False)
    # The contract year whose claims C it counts in: the next one when settled after the cut-off.
    charged_to = models.ForeignKey(ContractYear, models.PROTECT, null=True, blank=True, related_name="charged_claims",
                                   verbose_name=_("charged to"), db_constraint=False)
    claim_no = models.CharField(_("claim number"), max_length=60)
    person = models.CharField(_("person (pseudonym)"), max_length=64, db_index=False)
    group_code = models.CharField(_("group"), max_length=30)
    admitted_on = models.DateField(_("admitted on"))
    discharged_on = models.DateField(_("discharged on"))
    settled_on = models.DateField(_("settled on"))
    hospital = models.ForeignKey(Hospital, models.PROTECT, related_name="claims", verbose_name=_("hospital"),
                                 db_constraint=False)
    oop = FenField(_("policy-scope out-of-pocket"), db_column="oop_fen")
    paid = FenField(_("paid by the insurer"), db_column="paid_fen")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    expected = FenField(_("payable by the policy"), null=True, blank=True, db_column="expected_fen")
    # Which voucher carries the claim (once its batch is posted). No key on PostgreSQL: the statement trigger
    # checks it with the other references (migration claims 0012); SQLite checks it by triggers.
    summary = models.ForeignKey(ClaimSummary, models.PROTECT, null=True, blank=True, related_name="claims",
                                verbose_name=_("claims summary"), db_constraint=False)
    # When the insurer received the materials (optional column of the claims file), and the date the
    # policy's time limit (TimeLimit) gives from it: a claim paid after it is listed as overdue.
    materials_received_on = models.DateField(_("materials received on"), null=True, blank=True)
    due_on = models.DateField(_("due by the time limit"), null=True, blank=True)

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        constraints = [
            models.UniqueConstraint(fields=["book", "claim_no"], name="claim_number_once_per_book"),
            models.CheckConstraint(condition=Q(oop__gte=0, paid__gte=0), name="claim_amounts_not_negative"),
            models.CheckConstraint(condition=Q(settled_on__gte=models.F("discharged_on")),
                                   name="claim_settled_after_discharge"),
        ]
        # (contract year, substr(person, 1, 8)) is indexed by raw SQL (migration claims 0013), as PERSON_KEY.

    def __str__(self) -> str:
        return self.claim_no

    @property
    def posted_entry(self) -> JournalEntry | None:
        """The voucher that carries this claim, once its batch is posted."""
        return self.summary.entry if self.summary_id else None


# -- service time limits (时限) and the working-day calendar ----------------------------------


class CalendarYear(models.Model):
    """A year of the Chinese working-day calendar, as the State Council's notices published it.

    A date in a year not listed here is refused wherever working days are counted: never guessed as Mon–Fri.
    """

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    notice = models.TextField(_("source notice"))

    class Meta:
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A day that differs from the rule "Monday to Friday work, Saturday and Sunday off": a public holiday,
    or a weekend day worked in exchange (调休上班)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("public holiday (day off)")
        WORKDAY = "workday", _("working day in exchange (调休上班)")

    calendar_year = models.ForeignKey(CalendarYear, models.CASCADE, related_name="days",
                                      verbose_name=_("calendar year"))
    day = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=60)
    notice = models.CharField(_("source notice"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


class TimeLimit(models.Model):
    """How long the insurer has, after receiving the materials, for one kind of payment under a policy."""

    class Kind(models.TextChoices):
        ADVANCE = "advance", _("repaying a basic-fund advance")
        MANUAL = "manual", _("manual reimbursement")
        HOSPITAL = "hospital", _("paying a hospital")

    class Unit(models.TextChoices):
        WORKING = "working", _("working days")
        CALENDAR = "calendar", _("days")
        MONTHS = "months", _("months")

    policy = models.CharField(_("benefit policy code"), max_length=40)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    days = models.PositiveSmallIntegerField(_("time limit"))
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices)
    longest = models.PositiveSmallIntegerField(_("longest in special cases"), null=True, blank=True)
    longest_unit = models.CharField(_("unit of the longest"), max_length=8, choices=Unit.choices, blank=True)
    clause = models.TextField(_("source clause"))

    class Meta:
        verbose_name = _("service time limit")
        verbose_name_plural = _("service time limits")
        ordering = ["policy", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "kind"], name="time_limit_once_per_policy_kind"),
            models.CheckConstraint(condition=Q(days__gt=0), name="time_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} {self.get_kind_display()} {self.days} {self.get_unit_display()}"


class FundAdvance(models.Model):
    """An amount the basic medical-insurance fund advanced that the 大病保险 must bear (基本医保先行垫付),
    and its repayment by the insurer to the fund, each side booking in its own book.

    Fund: Dr 1101 暂付款 / Cr 1004 支出户存款 when it advances; Dr 1002 收入户存款 / Cr 1101 when repaid.
    Insurer: Dr 6511 赔付支出 / Cr 224103 应付医保垫付款 on receiving the materials; Dr 224103 / Cr 1002
    when it repays, due within the policy's time limit (Shanxi: 10 working days) of the receipt.
    """

    reference = models.CharField(_("reference"), max_length=100, unique=True)
    fund = models.ForeignKey("accounts.Fund", models.PROTECT, related_name="advances", verbose_name=_("fund"))
    insurer = models.ForeignKey("accounts.Insurer", models.PROTECT, related_name="advances",
                                verbose_name=_("insurer"))
    contract_year = models.ForeignKey(ContractYear, models.PROTECT, related_name="advances",
                                      verbose_name=_("contract year"))
    amount = FenField(_("amount"))
    advanced_on = models.DateField(_("advanced on"))
    materials_received_on = models.DateField(_("materials received on"), null=True, blank=True)
    due_on = models.DateField(_("repayment due"), null=True, blank=True)
    repaid_on = models.DateField(_("repaid on"), null=True, blank=True)
    received_on = models.DateField(_("repayment received on"), null=True, blank=True)
    overdue_since = models.DateField(_("overdue since"), null=True, blank=True)
    fund_entry = models.OneToOneField(JournalEntry, models.PROTECT, null=True, blank=True, related_name="+",
                                      verbose_name=_("fund: advance voucher"))
    insurer_entry = models.OneToOneField(JournalEntry, models.PROTECT, null=True, blank=True, related_name="+",
                                         verbose_name=_("insurer: payable voucher"))
    insurer_repay_entry = models.OneToOneField(JournalEntry, models.PROTECT, null=True, blank=True, related_name="+",
                                               verbose_name=_("insurer: repayment voucher"))
    fund_repay_entry = models.OneToOneField(JournalEntry, models.PROTECT, null=True, blank=True, related_name="+",
                                            verbose_name=_("fund: repayment voucher"))
    # The materials imported as a claims batch (channel 垫付还款): its posting booked the insurer's payable
    # (Dr 6511 / Cr 224103 per month), so receiving the materials drafts no voucher of its own.
    claims_batch = models.OneToOneField(ClaimBatch, models.PROTECT, null=True, blank=True, related_name="advance",
                                        verbose_name=_("claims batch of the materials"))
    memo = models.CharField(_("memo"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("created by"))

    class Meta:
        verbose_name = _("basic-fund advance")
        verbose_name_plural = _("basic-fund advances")
        ordering = ["advanced_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="advance_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount}"
