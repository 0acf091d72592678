"""Who keeps books and with what accounts."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Region(models.Model):
    """A pooling region (统筹地区); regions nest province → city → county/district/zone."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("province")
        CITY = "city", _("city")
        COUNTY = "county", _("county / district")
        ZONE = "zone", _("development zone")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent region")
    )

    class Meta:
        verbose_name = _("pooling region")
        verbose_name_plural = _("pooling regions")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="region_name_unique_in_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    def path(self) -> str:
        names, node = [], self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " / ".join(reversed(names))


class Fund(models.Model):
    """The critical-illness money a pooling region carves out of its basic medical fund."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    region = models.ForeignKey(Region, models.PROTECT, related_name="funds", verbose_name=_("pooling region"))

    class Meta:
        verbose_name = _("fund")
        verbose_name_plural = _("funds")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Insurer(models.Model):
    """A commercial insurer's branch, or a co-insurance consortium (共保体) counted as one insurer."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200, unique=True)
    is_consortium = models.BooleanField(_("consortium"), default=False)

    class Meta:
        verbose_name = _("insurer")
        verbose_name_plural = _("insurers")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ConsortiumMember(models.Model):
    """A member's share of a consortium; the shares of one consortium add up to 100%."""

    consortium = models.ForeignKey(
        Insurer, models.CASCADE, related_name="members", verbose_name=_("consortium")
    )
    member = models.ForeignKey(
        Insurer, models.PROTECT, related_name="memberships", verbose_name=_("member insurer")
    )
    share_pct = models.DecimalField(_("share, percent"), max_digits=7, decimal_places=4)

    class Meta:
        verbose_name = _("consortium member")
        verbose_name_plural = _("consortium members")
        constraints = [
            models.UniqueConstraint(fields=["consortium", "member"], name="consortium_member_unique"),
            models.CheckConstraint(
                condition=Q(share_pct__gt=0) & Q(share_pct__lte=100), name="consortium_share_in_range"
            ),
            models.CheckConstraint(condition=~Q(consortium=models.F("member")), name="consortium_not_own_member"),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.share_pct}%"


class Book(models.Model):
    """One set of books, owned by exactly one fund or one insurer; CNY, natural-year fiscal years."""

    class Kind(models.TextChoices):
        FUND = "fund", _("fund book (社会保险基金会计制度)")
        INSURER = "insurer", _("insurer's critical-illness book")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    fund = models.ForeignKey(
        Fund, models.PROTECT, null=True, blank=True, related_name="books", verbose_name=_("fund")
    )
    insurer = models.ForeignKey(
        Insurer, models.PROTECT, null=True, blank=True, related_name="books", verbose_name=_("insurer")
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY", editable=False)
    # Head of the hash chain, advanced in the posting transaction under this row's lock.
    # 会计主管: the person who answers for this book's vouchers; printed on every voucher posted while in office.
    supervisor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("chief accountant (会计主管)"))
    chain_length = models.BigIntegerField(_("entries in chain"), default=0, editable=False)
    chain_head = models.CharField(_("chain head hash"), max_length=64, default="", editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("book")
        verbose_name_plural = _("books")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="fund", fund__isnull=False, insurer__isnull=True)
                           | Q(kind="insurer", insurer__isnull=False, fund__isnull=True)),
                name="book_has_one_owner_matching_kind",
            ),
            models.CheckConstraint(condition=Q(currency="CNY"), name="book_currency_cny"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def owner(self):
        return self.fund if self.kind == self.Kind.FUND else self.insurer


class Account(models.Model):
    """An account of one book's chart; postings go to leaf accounts only."""

    class Type(models.TextChoices):
        ASSET = "asset", _("asset")
        LIABILITY = "liability", _("liability")
        NET_ASSETS = "net_assets", _("net assets")
        INCOME = "income", _("income")
        EXPENSE = "expense", _("expenditure")

    class Side(models.TextChoices):
        DEBIT = "debit", _("debit")
        CREDIT = "credit", _("credit")

    class Deficit(models.TextChoices):
        """What a balance on the side opposite the normal one means for this account."""

        ALLOW = "allow", _("allowed (a balance may run either way)")
        FLAG = "flag", _("flagged on the trial balance and by verify_ledger")
        REFUSE = "refuse", _("refused at posting (不允许赤字)")

    book = models.ForeignKey(Book, models.PROTECT, related_name="accounts", verbose_name=_("book"))
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    normal_side = models.CharField(_("normal side"), max_length=6, choices=Side.choices)
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent account")
    )
    source = models.CharField(_("source of the code"), max_length=200, blank=True)
    # Cash and bank accounts cannot be overdrawn; a fund's balance may dip below zero only as a flagged fact.
    deficit = models.CharField(_("balance on the other side"), max_length=8, choices=Deficit.choices,
                               default=Deficit.ALLOW)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["book", "code"]
        constraints = [
            models.UniqueConstraint(fields=["book", "code"], name="account_code_unique_in_book"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
