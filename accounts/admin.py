"""Admin for regions, funds, insurers, books and charts; thin over accounts.services and ledger.selectors."""

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from ledger.admin_views import check
from ledger.books import account_ledger_window, general_ledger
from ledger.selectors import trial_balance

from .models import Account, Book, ConsortiumMember, Fund, Insurer, Region
from .services import CHARTS_DIR, account_create, book_create


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "level", "path_shown")
    list_filter = ("level",)
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)

    @admin.display(description=_("path"))
    def path_shown(self, obj):
        return obj.path()


@admin.register(Fund)
class FundAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "region")
    search_fields = ("code", "name", "region__name")
    autocomplete_fields = ("region",)


class ConsortiumMemberFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        shares = [f.cleaned_data["share_pct"] for f in self.forms
                  if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("share_pct")]
        # A consortium's members carry all of its risk between them, as insurer_ensure requires.
        if shares and sum(shares) != 100:
            raise forms.ValidationError(_("The members' shares add up to %(total)s%%, not 100%%.")
                                        % {"total": sum(shares)})


class ConsortiumMemberInline(admin.TabularInline):
    model = ConsortiumMember
    formset = ConsortiumMemberFormSet
    fk_name = "consortium"
    extra = 0
    autocomplete_fields = ("member",)


@admin.register(Insurer)
class InsurerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_consortium")
    search_fields = ("code", "name")
    inlines = [ConsortiumMemberInline]


class AccountInline(admin.TabularInline):
    model = Account
    fields = ("code", "name", "type", "normal_side", "deficit", "parent")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("code",)

    def has_add_permission(self, request, obj=None):
        return False


def _chart_templates():
    """Each chart template by the name it gives itself (data/charts/*.json, "name")."""
    import json

    return [(p.stem, json.loads(p.read_text(encoding="utf-8")).get("name") or p.stem)
            for p in sorted(CHARTS_DIR.glob("*.json"))]


class BookAddForm(forms.ModelForm):
    """A new book is created by book_create, which loads its chart of accounts in the same transaction."""

    template = forms.ChoiceField(
        label=_("chart template"), required=False, choices=[("", _("by the owner (fund or insurer)"))],
        help_text=_("The chart of accounts loaded into the new book."),
    )

    class Meta:
        model = Book
        fields = ("code", "name", "fund", "insurer")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [*self.fields["template"].choices, *_chart_templates()]

    def clean(self):
        data = super().clean()
        if not self.errors:
            check(self.create)
        return data

    def create(self) -> Book:
        d = self.cleaned_data
        return book_create(code=d["code"], name=d["name"], fund=d.get("fund"), insurer=d.get("insurer"),
                           template=d.get("template") or None)


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "owner_shown", "accounts_count", "chain_length", "links")
    list_filter = ("kind",)
    search_fields = ("code", "name", "fund__name", "insurer__name")
    readonly_fields = ("chain_length", "chain_head", "created_at", "links")
    inlines = [AccountInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("fund", "insurer").annotate(n_accounts=Count("accounts"))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = BookAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("code", "name", "fund", "insurer", "template")
        return ("code", "name", "kind", "fund", "insurer", "supervisor", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # A book's owner and kind are fixed once it exists: its entries belong to them.
        return ("code", "kind", "fund", "insurer", *self.readonly_fields)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "supervisor"])
            return
        book = form.create()
        obj.pk, obj.kind, obj.created_at = book.pk, book.kind, book.created_at
        obj._state.adding = False

    @admin.display(description=_("owner"))
    def owner_shown(self, obj):
        return obj.owner

    @admin.display(description=_("accounts"))
    def accounts_count(self, obj):
        return getattr(obj, "n_accounts", None)

    @admin.display(description=_("see"))
    def links(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a> · '
            '<a href="{}?book__id__exact={}">{}</a> · '
            '<a href="{}?book__id__exact={}">{}</a>',
            reverse("admin:accounts_book_opening", args=[obj.pk]), _("opening balances (建账)"),
            reverse("admin:accounts_book_trial_balance", args=[obj.pk]), _("trial balance (科目余额表)"),
            reverse("admin:accounts_book_general_ledger", args=[obj.pk]), _("general ledger (总分类账)"),
            reverse("admin:accounts_book_ledger", args=[obj.pk]), _("account ledgers (明细账)"),
            reverse("admin:ledger_period_changelist"), obj.pk, _("periods"),
            reverse("admin:ledger_journalentry_changelist"), obj.pk, _("journal entries"),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:pk>/trial-balance/", view(self.trial_balance_view), name="accounts_book_trial_balance"),
                path("<int:pk>/general-ledger/", view(self.general_ledger_view), name="accounts_book_general_ledger"),
                path("<int:pk>/ledger/", view(self.ledger_view), name="accounts_book_ledger"),
                path("<int:pk>/opening/", view(self.opening_view), name="accounts_book_opening")] + super().get_urls()

    def opening_view(self, request, pk):
        from ledger.admin_opening import opening_view

        return opening_view(self, request, pk)

    def trial_balance_view(self, request, pk):
        book = scoped_get_or_404(request, Book, pk)
        today = timezone.localdate()
        # Default to the latest year with movements, not an empty current year.
        latest = book.periods.filter(balances__isnull=False, year__lte=today.year).order_by("-year").first()
        default_year = latest.year if latest is not None else today.year
        try:
            year = int(request.GET.get("year") or default_year)
            month_from = int(request.GET.get("from") or 1)
            month_to = int(request.GET.get("to") or 12)
            tb = trial_balance(book=book, year=year, month_from=month_from, month_to=month_to)
        except ValueError:
            messages.error(request, _("Year and months must be numbers, with 1 ≤ from ≤ to ≤ 12."))
            year, month_from, month_to = default_year, 1, 12
            tb = trial_balance(book=book, year=year)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Trial balance: %(book)s") % {"book": book},
            "book": book, "tb": tb, "opts": self.model._meta, "months": range(1, 13),
            "years": sorted(set(book.periods.values_list("year", flat=True)) | {year}),
            "generated_at": timezone.localtime(), "as_of": date.today(),
        }
        return TemplateResponse(request, "admin/accounts/book/trial_balance.html", context)

    def _year_month(self, request, book) -> tuple[int, int | None]:
        """The year and month asked for (no month: the whole year); by default the latest year with movements."""
        today = timezone.localdate()
        latest = book.periods.filter(balances__isnull=False, year__lte=today.year).order_by("-year").first()
        default = latest.year if latest is not None else today.year
        try:
            year = int(request.GET.get("year") or default)
            month = int(request.GET["month"]) if request.GET.get("month") else None
            if not 1900 <= year <= 9999 or (month is not None and not 1 <= month <= 12):
                raise ValueError
        except ValueError:
            messages.error(request, _("The year must be a number and the month 1 to 12."))
            return default, None
        return year, month

    @staticmethod
    def _month_range(request) -> tuple[int, int]:
        """Months `from`..`to` of the trial balance a figure was clicked on (default the whole year)."""
        try:
            m1, m2 = int(request.GET.get("from") or 1), int(request.GET.get("to") or 12)
        except ValueError:
            m1, m2 = 0, 0
        if not 1 <= m1 <= m2 <= 12:
            messages.error(request, _("Year and months must be numbers, with 1 ≤ from ≤ to ≤ 12."))
            return 1, 12
        return m1, m2

    @staticmethod
    def _opening_link(request, book, year, month_from) -> str | None:
        """The book's approved 建账 page, for the opening row of its first year (where those balances start)."""
        from ledger.models import Opening

        opening = Opening.objects.filter(book=book, status=Opening.Status.APPROVED).first()
        if opening is None or opening.as_of.year != year or month_from != 1:
            return None
        return reverse("admin:accounts_book_opening", args=[book.pk])

    def _books_context(self, request, book, year, month, title) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "book": book, "opts": self.model._meta,
                "year": year, "month": month, "months": range(1, 13), "generated_at": timezone.localtime(),
                "years": sorted(set(book.periods.values_list("year", flat=True)) | {year}),
                "period": f"{year}年" + (f"{month}月" if month else "1–12月")}

    def ledger_view(self, request, pk):
        """明细账 of one leaf account for a year or a month, as the printed statement shows it (ledger.books)."""
        book = scoped_get_or_404(request, Book, pk)
        year, month = self._year_month(request, book)
        leaves = list(book.accounts.filter(children__isnull=True).order_by("code"))
        code = request.GET.get("account") or ""
        account = next((a for a in leaves if a.code == code), None)
        if account is None:
            if code:
                messages.error(request, _("Book %(book)s has no leaf account %(code)s.") % {"book": book.code,
                                                                                           "code": code})
            from ledger.models import AccountBalance

            # The balance table, not the postings: one row an account and month.
            used = set(AccountBalance.objects.filter(book=book, period__year=year).values_list("account__code",
                                                                                              flat=True))
            account = next((a for a in leaves if a.code in used), leaves[0] if leaves else None)
        m1, m2 = (month, month) if month else self._month_range(request)
        start = request.GET.get("start") or "0"
        start = int(start) if start.isdigit() else 0
        window, ledgers = None, []
        if account is not None:  # a screen of lines at a time: a busy account has 100,000s a year
            from core.money import from_fen

            window = account_ledger_window(book=book, year=year, account=account, month_from=m1, month_to=m2,
                                           start=start, size=LEDGER_SCREEN_LINES)
            block = window.block
            block.period_debit_money, block.period_credit_money = (from_fen(window.period_debit),
                                                                   from_fen(window.period_credit))
            ledgers = [block]
        context = self._books_context(request, book, year, month,
                                      _("Account ledger (明细账): %(book)s") % {"book": book})
        if not month and (m1, m2) != (1, 12):  # a range of months, as the trial balance it came from
            context.update(period=f"{year}年{m1}–{m2}月", month_from=m1, month_to=m2)
        if window is not None:
            query = request.GET.copy()
            query.pop("start", None)
            shown = sum(1 for r in window.block.rows if r.kind == "line")
            context.update(window=window, window_query=query.urlencode(), window_first=start + 1,
                           window_last=start + shown,
                           window_previous=max(0, start - LEDGER_SCREEN_LINES) if start else None,
                           window_next=start + LEDGER_SCREEN_LINES if window.more else None)
        context.update(kind="ledger", leaves=leaves, account=account, blocks=ledgers,
                       opening_link=None if start else self._opening_link(request, book, year, m1))
        return TemplateResponse(request, "admin/accounts/book/account_books.html", context)

    def general_ledger_view(self, request, pk):
        """总分类账 of every first-level account for a year or a month (ledger.books), each linking to the
        明细账 of its leaf accounts."""
        book = scoped_get_or_404(request, Book, pk)
        year, month = self._year_month(request, book)
        m1, m2 = (month, month) if month else (1, 12)
        blocks = general_ledger(book=book, year=year, month_from=m1, month_to=m2)
        leaves = list(book.accounts.filter(children__isnull=True).order_by("code"))
        for block in blocks:  # sub-accounts take their parent's code plus two digits (data/charts)
            block.leaves = [a for a in leaves if a.code.startswith(block.account.code)]
        context = self._books_context(request, book, year, month,
                                      _("General ledger (总分类账): %(book)s") % {"book": book})
        context.update(kind="general", blocks=blocks)
        return TemplateResponse(request, "admin/accounts/book/account_books.html", context)


# Lines of a 明细账 on one screen; the next screen carries the balance on (承前页).
LEDGER_SCREEN_LINES = 500


class AccountForm(forms.ModelForm):
    """A sub-account (明细科目) under an existing account; national codes come from the chart template."""

    class Meta:
        model = Account
        fields = ("book", "parent", "code", "name", "deficit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "deficit" in self.fields:  # left blank, a sub-account takes its parent's rule
            self.fields["deficit"].required = False

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and not self.errors:
            if not data.get("parent"):
                raise forms.ValidationError(_("New accounts are sub-accounts: choose the parent account."))
            # The service finds the parent by code within the book: the same code in another book must not do.
            if data["parent"].book_id != data["book"].pk:
                raise forms.ValidationError(_("The parent account %(parent)s belongs to book %(other)s, not %(book)s.")
                                            % {"parent": data["parent"], "other": data["parent"].book.code,
                                               "book": data["book"].code})
            check(self.create)
        return data

    def create(self) -> Account:
        d = self.cleaned_data
        account = account_create(book=d["book"], parent_code=d["parent"].code, code=d["code"], name=d["name"])
        if d.get("deficit") and d["deficit"] != account.deficit:  # a sub-account inherits unless told otherwise
            Account.objects.filter(pk=account.pk).update(deficit=d["deficit"])
        return account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ("code", "name", "book", "type", "normal_side", "deficit", "parent")
    list_filter = ("book", "type")
    search_fields = ("code", "name")
    ordering = ("book", "code")
    autocomplete_fields = ("parent",)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Code, book and parent are covered by the hash chain once postings exist; the
        # database refuses changing them, so the form does not offer it.
        return ("book", "parent", "code", "type", "normal_side", "source")

    def has_delete_permission(self, request, obj=None):
        # Narrows Django's own check: never an account that has postings (the chain covers them).
        return super().has_delete_permission(request, obj) and (obj is None or not obj.postings.exists())

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "deficit"] if obj.deficit else ["name"])
            return
        obj.pk = form.create().pk
