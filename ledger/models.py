"""The double-entry core: entries (凭证), postings (分录), periods and balances.

The invariants that make these books trustworthy are held twice: by the services and
by database triggers (migration 0002), so a raw SQL statement cannot break them either.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Book
from core.money import FenField


def voucher_label(fiscal_year: int, month: int, number: int | None, month_number: int | None = None) -> str:
    """The voucher label accountants cite (凭证字号): 记-2019-04-0001, numbered within its month in date
    order. One place, so every statement agrees. Vouchers posted before monthly numbering existed keep
    their number within the year: 记-2019-000001."""
    if month_number is not None:
        return f"记-{fiscal_year}-{month:02d}-{month_number:04d}"
    if number is None:
        return ""
    return f"记-{fiscal_year}-{number:06d}"


class Period(models.Model):
    """A month of a book's natural fiscal year: open → closed (reopenable) → final (year closed)."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")
        FINAL = "final", _("closed with the year (final)")

    book = models.ForeignKey(Book, models.PROTECT, related_name="periods", verbose_name=_("book"))
    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    start_date = models.DateField(_("first day"))
    end_date = models.DateField(_("last day"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("closed by")
    )

    class Meta:
        verbose_name = _("period")
        verbose_name_plural = _("periods")
        ordering = ["book", "year", "month"]
        constraints = [
            models.UniqueConstraint(fields=["book", "year", "month"], name="period_unique_month"),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12), name="period_month_1_12"),
            models.CheckConstraint(condition=Q(start_date__lte=F("end_date")), name="period_dates_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class JournalEntry(models.Model):
    """A voucher (记账凭证): a draft until a reviewer posts it; posted entries never change."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        POSTED = "posted", _("posted")

    # No index of its own: the unique (book, year, number) and (book, seq) lead with it. On PostgreSQL no
    # foreign key either: the guards check the book, maker, reviewer and 会计主管 of a whole statement at
    # once, and those rows refuse deletion while a voucher names them (migration 0014).
    book = models.ForeignKey(Book, models.PROTECT, related_name="entries", verbose_name=_("book"), db_index=False,
                             db_constraint=False)
    # No index of its own either: the unique (period, month_number) leads with it. No foreign key on
    # PostgreSQL: checked and locked once per statement (migration 0015).
    period = models.ForeignKey(Period, models.PROTECT, related_name="entries", verbose_name=_("period"),
                               db_index=False, db_constraint=False)
    date = models.DateField(_("date"))
    fiscal_year = models.PositiveSmallIntegerField(_("fiscal year"))
    # Gapless per book and fiscal year in posting order, given at posting: the order of 记账 within the year.
    number = models.PositiveIntegerField(_("posting number in the year"), null=True, blank=True)
    # 凭证号: gapless per book and month, in date order (会计基础工作规范 第五十一条), given at posting;
    # a voucher dated before the last one posted in its month is refused (序时控制): 记-2019-04-0001.
    month_number = models.PositiveIntegerField(_("voucher number in the month"), null=True, blank=True)
    # Position in the book's hash chain (posting order, across years).
    seq = models.BigIntegerField(_("chain position"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT)
    memo = models.CharField(_("memo"), max_length=500)
    source = models.CharField(_("source"), max_length=100, default="manual")
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)
    content_digest = models.CharField(_("content digest"), max_length=64, editable=False)
    reverses = models.OneToOneField(
        "self", models.PROTECT, null=True, blank=True, related_name="reversed_by", verbose_name=_("reverses")
    )
    # The three people are not indexed (migration ledger 0019): nothing lists vouchers by who made,
    # reviewed or answered for them, and each index cost every posting (0.5 s of 240,000 lines on
    # PostgreSQL); only deleting a user, which the guards refuse while vouchers name them, reads by them.
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("made by (制单)"),
        db_constraint=False, db_index=False,
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("reviewed by (审核)"), db_constraint=False, db_index=False,
    )
    # The book's 会计主管 when the voucher posted (accounts.Book.supervisor), kept so a later change of
    # supervisor never rewrites who answered for an old voucher; the chain covers it.
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("chief accountant (会计主管)"), db_constraint=False, db_index=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64, blank=True, default="")
    hash = models.CharField(_("hash"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["book", "date", "month_number", "number", "id"]
        permissions = [("post_journalentry", _("Can review and post vouchers (审核记账)"))]
        constraints = [
            models.UniqueConstraint(fields=["book", "fiscal_year", "number"], name="entry_number_unique"),
            models.UniqueConstraint(fields=["book", "seq"], name="entry_chain_position_unique"),
            models.UniqueConstraint(fields=["period", "month_number"], name="entry_month_number_unique"),
            models.UniqueConstraint(fields=["book", "idempotency_key"], name="entry_idempotency_key_unique"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False, seq__isnull=False, posted_at__isnull=False),
                name="entry_posted_is_numbered",
            ),
            models.CheckConstraint(
                condition=Q(made_by__isnull=True) | Q(reviewed_by__isnull=True) | ~Q(made_by=F("reviewed_by")),
                name="entry_reviewer_not_maker",
                violation_error_message=_("The reviewer (审核) of a voucher cannot be its maker (制单)."),
            ),
            models.CheckConstraint(condition=~Q(reverses=F("id")), name="entry_not_own_reversal"),
        ]

    def __str__(self) -> str:
        return self.voucher or _("draft #%(id)s") % {"id": self.pk}

    @property
    def voucher(self) -> str:
        """The voucher label accountants cite: 记-2019-000001."""
        return voucher_label(self.fiscal_year, self.date.month, self.number, self.month_number)

    @property
    def is_posted(self) -> bool:
        return self.status == self.Status.POSTED

    def label(self) -> str:
        """How messages name the entry: its voucher, else its key, else its draft id."""
        from core.errors import lazy_format

        if self.number is not None:
            return self.voucher
        if self.idempotency_key:
            return lazy_format(_("key %(key)s"), key=self.idempotency_key)
        return lazy_format(_("draft #%(id)s"), id=self.pk)


class Posting(models.Model):
    """One line (分录) of an entry: a debit or a credit, never both, in fen, to a leaf account."""

    # entry and account need no index of their own: (entry, line) and (account, entry)
    # lead with them, and every index costs each of the millions of posting inserts. No foreign keys on
    # PostgreSQL: the guards check and lock what a statement's lines name once per statement, and lines
    # written before their entry are checked at commit (migrations 0014, 0015).
    entry = models.ForeignKey(JournalEntry, models.CASCADE, related_name="postings", verbose_name=_("entry"),
                              db_index=False, db_constraint=False)
    book = models.ForeignKey(Book, models.PROTECT, related_name="+", verbose_name=_("book"), db_constraint=False)
    line = models.PositiveSmallIntegerField(_("line"))
    account = models.ForeignKey(Account, models.PROTECT, related_name="postings", verbose_name=_("account"),
                                db_index=False, db_constraint=False)
    debit = FenField(_("debit"), db_column="debit_fen", default=0)
    credit = FenField(_("credit"), db_column="credit_fen", default=0)
    memo = models.CharField(_("memo"), max_length=300, blank=True, default="")
    counterparty = models.CharField(_("counterparty"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        ordering = ["entry", "line"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "line"], name="posting_line_unique"),
            models.CheckConstraint(
                condition=Q(debit__gt=0, credit=0) | Q(credit__gt=0, debit=0),
                name="posting_one_positive_side",
                violation_error_message=_("A line takes a debit or a credit above zero, not both."),
            ),
        ]
        indexes = [models.Index(fields=["account", "entry"], name="posting_account_entry")]

    def __str__(self) -> str:
        side = _("Dr") if self.debit else _("Cr")
        return f"{side} {self.account.code} {self.debit or self.credit}"


class Counterparty(models.Model):
    """Each counterparty name the lines have named, once (twice only if two transactions added it at the
    same moment; see below). The voucher search finds a name's words among these
    (a few thousand names in a province, not millions of lines) and then the lines naming it through the
    lines' (counterparty, entry) index. Kept by the database from the lines themselves (migration 0020), so
    a line written by any path is found; a name stays while a line names it. Not unique: two transactions
    adding the same new name both add it, neither waiting for the other (a unique index would hold the
    second until the first commits, and two adding two names in turn could deadlock); the search reads
    the names as a set."""

    name = models.CharField(_("counterparty"), max_length=200, db_index=True)

    class Meta:
        verbose_name = _("counterparty")
        verbose_name_plural = _("counterparties")

    def __str__(self) -> str:
        return self.name


class AccountBalance(models.Model):
    """Movements of one account in one period, kept by the posting transaction.

    A trial balance reads these rows, never the postings; verify_ledger proves them
    equal to the sums of postings.
    """

    book = models.ForeignKey(Book, models.PROTECT, related_name="+", verbose_name=_("book"))
    account = models.ForeignKey(Account, models.PROTECT, related_name="balances", verbose_name=_("account"))
    period = models.ForeignKey(Period, models.PROTECT, related_name="balances", verbose_name=_("period"))
    debit = FenField(_("period debit"), db_column="debit_fen", default=0)
    credit = FenField(_("period credit"), db_column="credit_fen", default=0)

    class Meta:
        verbose_name = _("account balance")
        verbose_name_plural = _("account balances")
        constraints = [
            models.UniqueConstraint(fields=["account", "period"], name="balance_unique_account_period"),
        ]

    def __str__(self) -> str:
        return f"{self.account.code} {self.period}"


class PeriodStatusChange(models.Model):
    """Every change of a period's status, written by a database trigger (migration 0006), whoever made it.

    The database cannot tell the services' closing and reopening from a raw UPDATE, so it records both;
    ledger.guards_check compares these rows with the audit trail's period_closed / period_reopened /
    year_closed events, and a change without its event is named. Append-only, held like the audit trail.
    """

    book = models.ForeignKey(Book, models.PROTECT, related_name="+", verbose_name=_("book"))
    period = models.ForeignKey(Period, models.PROTECT, related_name="status_changes", verbose_name=_("period"))
    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    old_status = models.CharField(_("status before"), max_length=8)
    new_status = models.CharField(_("status after"), max_length=8)
    # The database's own clock, not the application's.
    at = models.DateTimeField(_("changed at"))
    # PostgreSQL's session user (who logged in); empty on SQLite, which has no users.
    db_user = models.CharField(_("database user"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("period status change")
        verbose_name_plural = _("period status changes")
        ordering = ["book", "year", "month", "id"]

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d} {self.old_status} → {self.new_status}"


class Opening(models.Model):
    """建账: a book's opening balances (期初余额), as of the first day of its first year.

    Prepared by one person and approved by another, like everything that puts money into a book; it
    must balance, counts only once approved, and is frozen by the database once approved or once the
    book has posted. The seal (HMAC under the ledger's key) covers every line, so verify_ledger finds a
    line changed behind the application's back; checkpoints carry the lines in their balance digest.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("prepared, awaiting approval")
        APPROVED = "approved", _("approved")

    book = models.OneToOneField(Book, models.PROTECT, related_name="opening", verbose_name=_("book"))
    as_of = models.DateField(_("opening date (建账日期)"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+",
                                    verbose_name=_("prepared by"))
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("approved by"))
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    seal = models.CharField(_("seal"), max_length=64, blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("opening balances")
        verbose_name_plural = _("opening balances")
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft") | (Q(approved_by__isnull=False, approved_at__isnull=False)
                                               & ~Q(approved_by=F("prepared_by")) & ~Q(seal="")),
                name="opening_approved_by_another",
                violation_error_message=_("Opening balances are approved by someone other than who prepared them."),
            ),
        ]

    def __str__(self) -> str:
        return str(_("opening balances of %(book)s as of %(date)s") % {"book": self.book.code, "date": self.as_of})


class OpeningLine(models.Model):
    """One account's opening balance: a debit or a credit above zero, in fen."""

    opening = models.ForeignKey(Opening, models.CASCADE, related_name="lines", verbose_name=_("opening balances"))
    account = models.ForeignKey(Account, models.PROTECT, related_name="+", verbose_name=_("account"))
    debit = FenField(_("debit"), db_column="debit_fen", default=0)
    credit = FenField(_("credit"), db_column="credit_fen", default=0)

    class Meta:
        verbose_name = _("opening balance")
        verbose_name_plural = _("opening balances")
        ordering = ["opening", "account__code"]
        constraints = [
            models.UniqueConstraint(fields=["opening", "account"], name="opening_line_one_per_account"),
            models.CheckConstraint(condition=Q(debit__gt=0, credit=0) | Q(credit__gt=0, debit=0),
                                   name="opening_line_one_positive_side"),
        ]

    def __str__(self) -> str:
        return f"{self.account.code} {self.debit or self.credit}"


class Attachment(models.Model):
    """A scan a voucher rests on (银行回单, invoice, contract page): PDF, JPEG or PNG, kept in the database
    with its SHA-256. Added and removed only while the voucher is a draft; the posted voucher's seal covers
    every attachment's digest, so a file replaced behind the application's back fails verify_ledger."""

    entry = models.ForeignKey(JournalEntry, models.PROTECT, related_name="attachments", verbose_name=_("voucher"))
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content = models.BinaryField(_("content"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+",
                                    verbose_name=_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["entry", "id"]
        constraints = [models.UniqueConstraint(fields=["entry", "sha256"], name="attachment_once_per_voucher")]

    def __str__(self) -> str:
        return self.name
