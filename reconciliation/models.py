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
    # The premium P counts what was owed; what was paid by the as-of date (counted transfers, the deposit
    # apart) may fall short. A shortfall is settled only on the preparer's recorded decision, and netted.
    premium_paid = FenField(_("premium paid by the as-of date (deposit apart)"), db_column="premium_paid_fen",
                            null=True, blank=True)
    premium_unpaid = FenField(_("premium still owed by the fund"), db_column="premium_unpaid_fen", default=0)
    unpaid_reason = models.TextField(_("decision on the unpaid premium (settled on what was owed, netted)"),
                                     blank=True)
    terms = models.JSONField(_("terms applied"))
    outcome = models.JSONField(_("outcome"))
    entry_keys = models.JSONField(_("entries posted"), default=list, blank=True)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("prepared by"))
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("reviewed by"))
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                  related_name="+", verbose_name=_("posted by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    posted_on = models.DateField(_("vouchers dated"), null=True, blank=True)

    class Meta:
        verbose_name = _("annual settlement")
        verbose_name_plural = _("annual settlements")
        ordering = ["-contract_year__year", "contract_year__contract__code"]
        permissions = [("approve_settlement", _("Can review, split and post settlements"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(prepared_by__isnull=True) | Q(reviewed_by__isnull=True) | ~Q(prepared_by=F("reviewed_by")),
                name="settlement_reviewer_not_preparer",
                violation_error_message=_("The reviewer of a settlement cannot be its preparer."),
            ),
            # Past the draft, a settlement names its preparer and a different reviewer; posted, also
            # who posted it, never its preparer.
            models.CheckConstraint(
                condition=Q(status="draft") | Q(prepared_by__isnull=False, reviewed_by__isnull=False),
                name="settlement_reviewed_names_two_people",
            ),
            models.CheckConstraint(
                condition=~Q(status="posted") | (Q(posted_by__isnull=False) & ~Q(posted_by=F("prepared_by"))),
                name="settlement_poster_not_preparer",
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


class BankFormat(models.Model):
    """How one bank's CSV statement lays out its columns (saved once per bank, reused for every file)."""

    name = models.CharField(_("bank"), max_length=100, unique=True)
    # {"date": "交易日期", "description": "摘要", "reference": "流水号", "counterparty": "对方户名",
    #  "amount": "金额"} or, with separate columns, {"debit": "支出", "credit": "收入"}
    columns = models.JSONField(_("column mapping"))

    class Meta:
        verbose_name = _("bank statement format")
        verbose_name_plural = _("bank statement formats")

    def __str__(self) -> str:
        return self.name


class BankStatement(models.Model):
    """One month's statement of one bank account (a leaf account such as 1002 or 1004 in a book)."""

    account = models.ForeignKey("accounts.Account", models.PROTECT, related_name="bank_statements",
                                verbose_name=_("bank account"))
    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    opening = FenField(_("opening balance"), db_column="opening_fen")
    closing = FenField(_("closing balance"), db_column="closing_fen")
    file_sha256 = models.CharField(_("file digest"), max_length=64)
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        constraints = [models.UniqueConstraint(fields=["account", "year", "month"], name="bank_statement_month_once")]

    def __str__(self) -> str:
        return f"{self.account} {self.year}-{self.month:02d}"


class BankLine(models.Model):
    statement = models.ForeignKey(BankStatement, models.CASCADE, related_name="lines", verbose_name=_("statement"))
    line = models.PositiveIntegerField(_("line"))
    date = models.DateField(_("date"))
    amount = FenField(_("amount (+ in, − out)"), db_column="amount_fen")
    description = models.CharField(_("description"), max_length=300, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    counterparty = models.CharField(_("counterparty"), max_length=200, blank=True)
    matched = models.ManyToManyField("ledger.Posting", blank=True, related_name="bank_lines",
                                     verbose_name=_("matched postings"))
    matched_by = models.CharField(_("matched by"), max_length=150, blank=True)
    matched_at = models.DateTimeField(_("matched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bank statement line")
        verbose_name_plural = _("bank statement lines")
        ordering = ["statement", "line"]
        constraints = [models.UniqueConstraint(fields=["statement", "line"], name="bank_line_once")]

    def __str__(self) -> str:
        # As the statement prints the line: its date, its amount (+ in, − out), what the bank wrote.
        return f"{self.date} {self.amount.amount:+,.2f} {self.description}".strip()

    @property
    def matched_by_shown(self) -> str:
        """Who matched the line, in words: the system's automatic matching, or a person (or who undid it)."""
        who = self.matched_by
        if who == "auto":
            return str(_("matched automatically (系统自动勾对)"))
        if who.startswith("unmatched by "):
            return str(_("unmatched by %(user)s") % {"user": who.removeprefix("unmatched by ")})
        return who
