"""Admin for vouchers, periods and balances: every write goes through ledger.services.

A voucher is prepared (制单) as a draft with its lines, posted by a reviewer (审核) who is
not its maker, and once posted can only be read or reversed (冲销).
"""

from decimal import Decimal
from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Subquery, Sum
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from access.roles import is_administrator
from access.scope import scope_filter
from accounts.models import Account, Book
from core.admin import ReadOnlyAdmin
from core.errors import Refused
from core.exports import ListExport
from core.money import YuanFormField, fmt, to_decimal

from .admin_views import check, refusal_messages
from .closing import year_end_close, year_end_prepare
from .exports import JournalEntryResource, PostingResource
from .models import AccountBalance, Counterparty, JournalEntry, Period, Posting
from .services import (
    OWN_SOURCES,
    Line,
    entry_draft_delete,
    entry_draft_post,
    entry_draft_save,
    entry_reverse,
    period_close,
    period_reopen,
)
from .sources import source_label

# -- lists at a province's size ------------------------------------------------------------------------------


class CappedCount(int):
    """A count that stopped short: shown as "100+" (how many more, nobody needs to wait for)."""

    shown = 0

    def __str__(self) -> str:
        return f"{self.shown}+"


class CappedPaginator(Paginator):
    """Counts only as far as the page asked for and one row more: COUNT(*) over millions of vouchers, claims or
    events took seconds on every page, and a search's count read the table to its end. The list then offers
    the pages up to the next one ("100+ vouchers"); each further page offers one more.

    The keys read for the count are the page's too: the page's rows are then read by key, so a search is
    evaluated once per request, not once to count and again to show (a counterparty searched among 10 M
    lines cost 240 ms each time)."""

    page_hint = 1

    @cached_property
    def _keys(self) -> tuple[int, list]:
        """(offset, the keys of the page asked for and one more): only as many as a page shows, whatever
        page number a URL asks for."""
        limit = self.page_hint * self.per_page
        bottom = limit - self.per_page
        # Only the keys (a voucher's total would be computed for every counted row), in the list's own order:
        # the plan the page itself is read by, which a search's selective join keeps fast; unordered, the
        # database was free to pick a plan that reads a table through before the first match.
        return bottom, list(self.object_list.values_list("pk", flat=True)[bottom:limit + 1])

    @cached_property
    def count(self) -> int:
        limit = self.page_hint * self.per_page
        bottom, keys = self._keys
        # A page past the end (a number typed into the URL) has no keys: counted as far as the limit instead.
        n = bottom + len(keys) if keys else self.object_list.values("pk")[:limit + 1].count()
        if n <= limit:
            return n
        count = CappedCount(limit + 1)
        count.shown = limit
        return count

    def page(self, number):
        number = self.validate_number(number)
        if number != self.page_hint:
            return super().page(number)
        _bottom, keys = self._keys
        return self._get_page(_rows_by_keys(self.object_list, keys[:self.per_page]), number, self)


def _rows_by_keys(queryset, keys):
    """The list's rows for keys already chosen by its filters and search, in its order, with its joins and
    annotations, without evaluating the filters again. Where a filter joined a many-valued relation (a
    row per match), the filters stay (dropping them could show a row once per related row)."""
    from django.db.models.sql.where import WhereNode

    query = queryset.query
    for join in query.alias_map.values():
        field = getattr(join, "join_field", None)
        if field is not None and (field.one_to_many or field.many_to_many):
            return queryset.filter(pk__in=keys)
    chosen = queryset._chain()
    chosen.query.where = WhereNode()
    return chosen.filter(pk__in=keys)


# The most counterparty names one search term may stand for. The names found are written into the query as
# a list, from which PostgreSQL estimates how many lines they name: a few thousand lines are gathered once
# (and the vouchers read newest first against them), millions are not (each voucher read is asked whether a
# line of it names one, and a page fills at once). Read by a subquery instead, the names were estimated as
# one and their millions of lines gathered: 17 s for 人民医院 at 10 M lines.
COUNTERPARTIES_AT_MOST = 10_000


def _counterparties(term: str) -> list[str] | None:
    """The counterparty names containing a term, looked up among the names (migration 0020: one row a name,
    not a substring search over every line), or None when more than COUNTERPARTIES_AT_MOST contain it."""
    names = Counterparty.objects.filter(name__icontains=term).values_list("name", flat=True).distinct()
    listed = list(names[:COUNTERPARTIES_AT_MOST + 1])
    return listed if len(listed) <= COUNTERPARTIES_AT_MOST else None


class BoundedList:
    """Mixed into the big lists' ModelAdmins: a bounded count and no second count of the whole table."""

    paginator = CappedPaginator
    show_full_result_count = False
    # Django's "show counts" link counts the list once for every choice of every filter: at a province's size,
    # a COUNT over millions of rows per choice, behind one click.
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        from django.contrib.admin.views.main import ChangeList

        class BoundedChangeList(ChangeList):
            def get_results(self, request):
                super().get_results(request)
                if not self.multi_page and not self.show_all and self.paginator.page_hint == 1:
                    # Everything fits the first page: Django would read the whole list again; its keys are known.
                    self.result_list = self.paginator.page(1).object_list

        return BoundedChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        from django.contrib.admin.views.main import PAGE_VAR

        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        page = request.GET.get(PAGE_VAR, "1")
        paginator.page_hint = int(page) if page.isdigit() and int(page) > 0 else 1
        return paginator

    def action_checkbox(self, obj):
        # Django renders the row's checkbox through the widget templates: a third of a 100-row page's time.
        # The same markup, formatted directly.
        from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
        from django.utils.translation import gettext

        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           ACTION_CHECKBOX_NAME, obj.pk,
                           format_html(gettext("Select this object for an action - {}"), str(obj)))


class ScopedChoicesFilter(admin.RelatedFieldListFilter):
    """A filter by a related object, offering the objects of the user's scope (not a DISTINCT over the list,
    which reads every row of a list this size)."""

    def field_choices(self, field, request, model_admin):
        qs = scope_filter(field.related_model._default_manager.all(), request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return [(o.pk, str(o)) for o in (qs.order_by(*ordering) if ordering else qs)]


class FiscalYearFilter(admin.SimpleListFilter):
    """The years the user's books have opened (their periods), not a DISTINCT over every voucher."""

    title = _("fiscal year")
    parameter_name = "fiscal_year"

    def lookups(self, request, model_admin):
        years = scope_filter(Period.objects.all(), request.user).order_by("-year").values_list("year", flat=True)
        return [(y, y) for y in dict.fromkeys(years)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(fiscal_year=int(value)) if value and value.isdigit() else queryset


def source_shown(entry) -> str:
    """Where a voucher came from, in words, with the document it belongs to (a transfer's reference, the
    settlement's contract year, the voucher a reversal corrects); the stored code stays internal."""
    words = str(source_label(entry.source))
    key = entry.idempotency_key or ""
    if entry.source == "premium-transfer" and key.startswith("transfer:"):
        return f"{words} {key.removeprefix('transfer:')}"
    if entry.source == "settlement" and key.startswith("settlement:"):
        from contracts.models import ContractYear

        cy = ContractYear.objects.filter(pk=key.split(":")[1]).select_related("contract").first()
        return f"{words} {cy}" if cy is not None else words
    if entry.source == "reversal" and entry.reverses_id:
        original = JournalEntry.objects.filter(pk=entry.reverses_id).first()
        return f"{words} {original}" if original is not None else words
    return words


def source_link(entry, user) -> dict:
    """The voucher's source document for its page: words, and a link when the user's scope holds the document
    (ledger.sources.source_document; the documents' apps register how to find them). A year-end close links
    to the year's periods; a voucher typed in by hand has no document."""
    from access.scope import in_scope

    from .sources import source_document

    words, url, name = source_shown(entry), None, ""
    if entry.source == "year-end close":
        url = reverse("admin:ledger_period_changelist") + f"?book__id__exact={entry.book_id}&year={entry.fiscal_year}"
        name = _("periods of %(year)s") % {"year": entry.fiscal_year}
    else:
        doc = source_document(entry)
        if doc is not None and in_scope(user, doc):
            url = reverse(f"admin:{doc._meta.app_label}_{doc._meta.model_name}_change", args=[doc.pk])
            name = f"{doc._meta.verbose_name} {doc}"
    return {"words": words, "url": url, "name": name}


def draft_editable(entry, user) -> bool:
    """Only the maker (制单) changes a draft: a reviewer who edited what they review would post their own work.
    A draft that is part of a document (a transfer's voucher …) changes only through that document."""
    if entry is None:
        return True
    return not entry.is_posted and entry.made_by_id == user.pk and entry.source in OWN_SOURCES


@admin.register(Period)
class PeriodAdmin(admin.ModelAdmin):
    list_display = ("book_code", "year", "month", "start_date", "end_date", "status", "closed_at", "closed_by")
    list_filter = ("status", "year", "book")
    list_select_related = ("book", "closed_by")
    actions = ["close_periods", "reopen_periods", "prepare_year_ends", "close_years"]
    readonly_fields = [f.name for f in Period._meta.fields]

    @admin.display(description=_("book"), ordering="book__code")
    def book_code(self, obj):
        return obj.book.code

    def has_add_permission(self, request):
        return False  # periods are opened a year at a time by the service

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Close the selected periods"), permissions=["change"])
    def close_periods(self, request, queryset):
        for period in queryset.order_by("book", "year", "month"):
            try:
                period_close(period=period, by=request.user)
            except Refused as exc:
                refusal_messages(request, exc, _("%(book)s %(period)s was not closed:") % {
                    "book": period.book.code, "period": period})
            else:
                messages.success(request, _("%(book)s %(period)s closed") % {"book": period.book.code,
                                                                             "period": period})

    @admin.action(description=_("Reopen the selected periods"), permissions=["change"])
    def reopen_periods(self, request, queryset):
        for period in queryset:
            try:
                period_reopen(period=period, by=request.user)
            except Refused as exc:
                refusal_messages(request, exc, _("%(book)s %(period)s was not reopened:") % {
                    "book": period.book.code, "period": period})
            else:
                messages.success(request, _("%(book)s %(period)s reopened") % {"book": period.book.code,
                                                                               "period": period})

    def _years(self, request, queryset, write, done, failed):
        for book_id, year in sorted(set(queryset.values_list("book", "year"))):
            book = Book.objects.get(pk=book_id)
            try:
                write(book, year)
            except Refused as exc:
                refusal_messages(request, exc, failed % {"book": book.code, "year": year})
            else:
                messages.success(request, done % {"book": book.code, "year": year})

    @admin.action(description=_("Prepare the year-end closing entry of the selected periods' years (制单)"),
                  permissions=["prepare"])
    def prepare_year_ends(self, request, queryset):
        self._years(request, queryset, lambda book, year: year_end_prepare(book=book, year=year, by=request.user),
                    _("%(book)s %(year)s: the closing entry is drafted for review"),
                    _("%(book)s %(year)s: no closing entry was prepared:"))

    @admin.action(description=_("Approve the year-end close: post the closing entry and close the year for good (审核)"),
                  permissions=["post"])
    def close_years(self, request, queryset):
        self._years(request, queryset, lambda book, year: year_end_close(book=book, year=year, by=request.user),
                    _("%(book)s %(year)s closed for good"), _("%(book)s %(year)s was not closed:"))

    # Action rights narrow Django's own check on the model (someone Django lets see periods) to a named right.
    def has_prepare_permission(self, request):
        return super().has_view_permission(request) and request.user.has_perm("ledger.add_journalentry")

    def has_post_permission(self, request):
        return (super().has_view_permission(request) and request.user.has_perm("ledger.post_journalentry")
                and request.user.has_perm("ledger.change_period"))


class YuanField(YuanFormField):
    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "style": "text-align:right"})


class PostingForm(forms.ModelForm):
    """One line; amounts in yuan with two decimals, the service turns them into Money and checks them."""

    debit = YuanField(label=_("debit"), max_digits=17, decimal_places=2, min_value=0, required=False)
    credit = YuanField(label=_("credit"), max_digits=17, decimal_places=2, min_value=0, required=False)

    class Meta:
        model = Posting
        fields = ("account", "debit", "credit", "memo", "counterparty")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("debit", "credit"):
            value = self.initial.get(name)
            if hasattr(value, "amount"):
                self.initial[name] = value.amount if value.amount else None
            self.fields[name].widget.attrs["class"] = f"ledger-{name}"


class PostingFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        entry = self.instance
        lines = self.lines()
        if entry.book_id and entry.date and lines:
            check(entry_draft_save, book=entry.book, date=entry.date, lines=lines, memo=entry.memo,
                  entry=entry if entry.pk else None, made_by=getattr(self, "user", None))

    def lines(self) -> list[Line]:
        rows = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("account"):
                continue
            rows.append(Line(account=data["account"].code, debit=data.get("debit") or None,
                             credit=data.get("credit") or None, memo=data.get("memo") or "",
                             counterparty=data.get("counterparty") or ""))
        return rows


class PostingInline(admin.TabularInline):
    model = Posting
    form = PostingForm
    formset = PostingFormSet
    fields = ("account", "debit", "credit", "memo", "counterparty")
    extra = 4
    min_num = 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.user = request.user  # the draft's maker (制单) is whoever is signed in, never a form field
        return formset

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is not None and obj.is_posted else (2 if obj is not None else 4)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            book = getattr(request, "_ledger_book", None)
            leaves = Account.objects.filter(children__isnull=True).order_by("book", "code")
            kwargs["queryset"] = leaves.filter(book=book) if book is not None else leaves.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        # The admin wraps the select after formfield_for_foreignkey; accounts are not edited from a voucher.
        if db_field.name == "account" and isinstance(field.widget, RelatedFieldWidgetWrapper):
            field.widget.can_add_related = field.widget.can_change_related = False
            field.widget.can_delete_related = field.widget.can_view_related = False
        return field

    # A voucher's lines are edited with the voucher: Django's check on the lines (roles that prepare vouchers
    # hold the posting rights too, access.roles) and the user's right on the voucher itself, narrowed to
    # drafts its maker is editing.
    def _may_edit_lines(self, request, obj) -> bool:
        perm = "ledger.add_journalentry" if obj is None else "ledger.change_journalentry"
        return request.user.has_perm(perm) and draft_editable(obj, request.user)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._may_edit_lines(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_edit_lines(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_edit_lines(request, obj)


class EntryForm(forms.ModelForm):
    class Meta:
        model = JournalEntry
        fields = ("book", "date", "memo")
        widgets = {"book": forms.HiddenInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "book" in self.fields:
            # The lines were chosen from this book's accounts; a draft does not move books.
            self.fields["book"].disabled = True


@admin.register(JournalEntry)
class JournalEntryAdmin(BoundedList, ListExport, admin.ModelAdmin):
    form = EntryForm
    resource_classes = [JournalEntryResource, PostingResource]  # 导出: the vouchers, or their lines (ledger.exports)
    inlines = [PostingInline]
    list_display = ("voucher_shown", "book_code", "date", "memo", "status", "amount_shown", "made_by", "reviewed_by")
    # By date as a few ranges, not Django's date hierarchy: its year and month links are a DISTINCT over every
    # voucher in the list.
    list_filter = ("status", ("book", ScopedChoicesFilter), FiscalYearFilter, ("date", admin.DateFieldListFilter))
    # Newest first across the user's books (index entry_admin_newest), or within one book-year when filtered
    # (entry_admin_list, read backwards). Book-major order put one book's oldest vouchers first and made a search
    # read every voucher of the books before the first match.
    ordering = ("-date", "-month_number", "-number", "-id")
    actions = ["post_drafts"]
    # Read by get_search_results, one meaning per kind of term (so that each uses an index).
    search_fields = ("memo", "idempotency_key", "postings__account__code", "postings__counterparty")
    search_help_text = _("A voucher number (记-2023-04-0001), an account code (its sub-accounts too), a document "
                         "key, or words of the memo or of a line's counterparty.")
    list_select_related = ("book", "made_by", "reviewed_by")
    change_form_template = "admin/ledger/journalentry/change_form.html"
    readonly_posted = ("voucher_shown", "book", "date", "memo", "source_shown", "status", "made_by", "reviewed_by",
                       "posted_at", "reverses", "reversed_by_shown", "hash", "prev_hash")
    readonly_draft = ("voucher_shown", "book", "date", "memo", "status", "made_by")

    def get_queryset(self, request):
        # A subquery, not a join: searching by a line's account or counterparty joins the lines again,
        # and a sum over that join would count each line once per match.
        total = (Posting.objects.filter(entry=OuterRef("pk")).order_by().values("entry")
                 .annotate(s=Sum("debit")).values("s"))
        return super().get_queryset(request).annotate(total_fen=Subquery(total))

    def get_search_results(self, request, queryset, search_term):
        """Each term by its kind: a voucher label finds that voucher; digits find the vouchers with a line on
        that account or one of its sub-accounts (a code's beginning, as the chart nests codes); any other term
        is a document key (exact) or words in the memo (substring, trigram-indexed on PostgreSQL) or in a line's
        counterparty (substring, found among the names). Several terms must all match."""
        import re

        from django.db.models import Q

        terms = search_term.split()
        for term in terms:
            label = re.fullmatch(r"记?-?(\d{4})-(\d{1,2})-(\d{1,4})", term)
            old_label = re.fullmatch(r"记?-?(\d{4})-(\d{5,6})", term)
            if label:
                year, month, number = map(int, label.groups())
                queryset = queryset.filter(period__year=year, period__month=month, month_number=number)
            elif old_label:
                year, number = map(int, old_label.groups())
                queryset = queryset.filter(fiscal_year=year, number=number, month_number__isnull=True)
            elif term.isdigit():
                # Read first (a chart has hundreds of accounts, not millions): a list of ids the planner can count.
                accounts = list(Account.objects.filter(code__startswith=term).values_list("pk", flat=True))
                queryset = queryset.filter(pk__in=Posting.objects.filter(account__in=accounts).values("entry_id"))
            else:
                matches = Q(memo__icontains=term) | Q(idempotency_key=term)
                names = _counterparties(term)
                if names:
                    # `counterparty <> ''` is the condition of the lines' (counterparty, entry) index, stated so
                    # that the index is usable whatever the number of names (PostgreSQL proves it from a list
                    # of names only up to 100 of them).
                    matches |= Exists(Posting.objects.filter(entry=OuterRef("pk"), counterparty__in=names)
                                      .exclude(counterparty=""))
                elif names is None:
                    messages.warning(request, _(
                        "More than %(n)s counterparties contain “%(term)s”: vouchers were searched by memo and "
                        "document key only. Type more of the name.") % {"n": f"{COUNTERPARTIES_AT_MOST:,}",
                                                                       "term": term})
                queryset = queryset.filter(matches)
        return queryset, False

    @admin.display(description=_("voucher"), ordering="number")
    def voucher_shown(self, obj):
        return obj.voucher or _("draft #%(id)s") % {"id": obj.pk}

    @admin.display(description=_("source"))
    def source_shown(self, obj):
        return source_shown(obj)

    @admin.display(description=_("book"), ordering="book__code")
    def book_code(self, obj):
        return obj.book.code

    @admin.display(description=_("amount"))
    def amount_shown(self, obj):
        total = getattr(obj, "total_fen", None)
        return fmt(total) if total is not None else "-"

    @admin.display(description=_("reversed by"))
    def reversed_by_shown(self, obj):
        rev = JournalEntry.objects.filter(reverses=obj).first()
        if rev is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:ledger_journalentry_change", args=[rev.pk]),
                           rev.voucher)

    # -- which book: chosen before the form, fixed afterwards ---------------------------

    def _book_for(self, request, obj):
        if obj is not None:
            return obj.book
        book_id = request.GET.get("book") or request.POST.get("book")
        if not (book_id and str(book_id).isdigit()):
            return None
        return scoped_get_or_404(request, Book, book_id, perm="ledger.add_journalentry")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        book = self._book_for(request, None)
        if book is None:
            context = {**self.admin_site.each_context(request), "title": _("Choose the book for the new voucher"),
                       "books": scope_filter(Book.objects.order_by("code"), request.user),
                       "opts": self.model._meta}
            return TemplateResponse(request, "admin/ledger/journalentry/choose_book.html", context)
        request._ledger_book = book
        extra = {"ledger_book": book, **(extra_context or {})}
        return super().add_view(request, form_url, extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = self.get_object(request, object_id)
        request._ledger_book = entry.book if entry is not None else None
        extra = {"entry": entry, "ledger_book": request._ledger_book,
                 "source_link": source_link(entry, request.user) if entry is not None else None,
                 "editable": draft_editable(entry, request.user),
                 # Scans go on any draft its maker holds, a transfer's voucher too (ledger.attachments).
                 "may_attach": entry is not None and not entry.is_posted and (
                     entry.made_by_id == request.user.pk or is_administrator(request.user)),
                 "attachments": list(entry.attachments.select_related("uploaded_by").defer("content"))
                 if entry is not None else [], **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_changeform_initial_data(self, request):
        data = super().get_changeform_initial_data(request)
        book = getattr(request, "_ledger_book", None)
        if book is not None:
            data["book"] = book.pk
        return data

    # -- posted entries are read-only ---------------------------------------------------

    def get_fields(self, request, obj=None):
        if obj is not None and obj.is_posted:
            return self.readonly_posted
        if obj is not None and not draft_editable(obj, request.user):
            return self.readonly_draft
        return ("book", "date", "memo")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_posted:
            return self.readonly_posted
        if obj is not None and not draft_editable(obj, request.user):
            return self.readonly_draft
        return ()

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and draft_editable(obj, request.user)

    def has_delete_permission(self, request, obj=None):
        # A draft is withdrawn by its maker or an administrator; a posted voucher never disappears.
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or draft_editable(obj, request.user) or (
            not obj.is_posted and obj.source in OWN_SOURCES and is_administrator(request.user))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # posted vouchers never disappear; drafts are deleted one by one
        return actions

    def delete_model(self, request, obj):
        entry_draft_delete(entry=obj, by=request.user)  # checked and recorded by the service

    # -- saving goes through the service ----------------------------------------------

    def save_model(self, request, obj, form, change):
        pass  # the entry and its lines are written together in save_related

    def save_related(self, request, form, formsets, change):
        formset = next(fs for fs in formsets if isinstance(fs, PostingFormSet))
        entry = form.instance
        saved = entry_draft_save(
            book=entry.book, date=entry.date, memo=entry.memo, lines=formset.lines(), made_by=request.user,
            entry=entry if change else None,
        )
        form.instance.pk = saved.pk
        form.instance._state.adding = False
        dr = sum((to_decimal(ln.debit or 0) for ln in formset.lines()), Decimal(0))
        cr = sum((to_decimal(ln.credit or 0) for ln in formset.lines()), Decimal(0))
        if dr != cr or dr <= 0:
            # Saved as a draft all the same (it may be finished later), but never silently: it cannot post so.
            messages.warning(request, _("This draft does not balance: debits %(dr)s, credits %(cr)s, difference "
                                        "%(diff)s. It is kept as a draft and cannot be posted until it balances.")
                             % {"dr": fmt(dr), "cr": fmt(cr), "diff": fmt(dr - cr)})
        # The admin's change message reads what formset.save() would have recorded.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    # -- review and reversal ------------------------------------------------------------

    def get_urls(self):
        return [
            path("<int:pk>/post/", self.admin_site.admin_view(self.post_view), name="ledger_journalentry_post"),
            path("<int:pk>/reverse/", self.admin_site.admin_view(self.reverse_view),
                 name="ledger_journalentry_reverse"),
            path("<int:pk>/attachments/", self.admin_site.admin_view(self.attach_view),
                 name="ledger_journalentry_attach"),
            path("<int:pk>/attachments/<int:aid>/", self.admin_site.admin_view(self.attachment_view),
                 name="ledger_journalentry_attachment"),
        ] + super().get_urls()

    # -- attachments (原始凭证) ------------------------------------------------------------

    def attach_view(self, request, pk):
        """Add a scan to a draft, or take one off (ledger.attachments); the maker's act."""
        from django.conf import settings

        from .attachments import attachment_add, attachment_remove

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        entry = scoped_get_or_404(request, JournalEntry, pk, perm="ledger.change_journalentry")
        try:
            if request.POST.get("remove"):
                attachment = entry.attachments.filter(pk=request.POST["remove"]).first()
                if attachment is not None:
                    attachment_remove(attachment=attachment, by=request.user)
                    messages.success(request, _("Attachment %(name)s removed.") % {"name": attachment.name})
            elif request.FILES.get("file") is None:
                messages.error(request, _("Choose a file to attach (PDF, JPEG or PNG)."))
            else:
                upload = request.FILES["file"]
                # One byte past the limit is enough for the service to refuse it; never read a huge file whole.
                content = upload.read(settings.ATTACHMENT_MAX_BYTES + 1)
                added = attachment_add(entry=entry, name=upload.name, content=content, by=request.user)
                messages.success(request, _("%(name)s attached (SHA-256 %(sha)s…).") % {
                    "name": added.name, "sha": added.sha256[:16]})
        except Refused as exc:
            refusal_messages(request, exc, _("Nothing was attached or removed:"), obj=entry)
        return HttpResponseRedirect(reverse("admin:ledger_journalentry_change", args=[pk]))

    def attachment_view(self, request, pk, aid):
        """Download one scan of a voucher the user may read; recorded in the audit trail."""
        from django.http import Http404, HttpResponse

        from audit.services import audit_record

        entry = scoped_get_or_404(request, JournalEntry, pk)
        attachment = entry.attachments.filter(pk=aid).first()
        if attachment is None:
            raise Http404
        audit_record(action="attachment_downloaded", actor=request.user, request=request, obj=entry,
                     digest=attachment.sha256, detail={"name": attachment.name})
        response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(attachment.name)}"
        return response

    def post_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        entry = scoped_get_or_404(request, JournalEntry, pk, perm="ledger.post_journalentry")
        self._post(request, entry)
        return HttpResponseRedirect(reverse("admin:ledger_journalentry_change", args=[pk]))

    def _post(self, request, entry) -> bool:
        try:
            posted = entry_draft_post(entry=entry, reviewed_by=request.user)
        except Refused as exc:
            refusal_messages(request, exc, _("%(entry)s was not posted; it is unchanged:") % {
                "entry": self.voucher_shown(entry)}, action="entry_posted", obj=entry)
            return False
        messages.success(request, _("Posted as %(voucher)s.") % {"voucher": posted.voucher})
        return True

    def has_post_permission(self, request):
        return super().has_view_permission(request) and request.user.has_perm("ledger.post_journalentry")

    @admin.action(description=_("Review and post the selected drafts (审核记账)"), permissions=["post"])
    def post_drafts(self, request, queryset):
        for entry in queryset.order_by("date", "pk"):
            if entry.is_posted:
                messages.warning(request, _("%(voucher)s is posted already.") % {"voucher": entry.voucher})
            else:
                self._post(request, entry)

    def reverse_view(self, request, pk):
        """An accountant prepares the reversal (a draft); a reviewer other than them posts it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        entry = scoped_get_or_404(request, JournalEntry, pk, perm="ledger.add_journalentry")
        try:
            reversal = entry_reverse(entry=entry, made_by=request.user)
        except Refused as exc:
            refusal_messages(request, exc, _("%(entry)s was not reversed; nothing changed:") % {
                "entry": self.voucher_shown(entry)})
            return HttpResponseRedirect(reverse("admin:ledger_journalentry_change", args=[pk]))
        if reversal.is_posted:
            messages.info(request, _("Already reversed by %(voucher)s.") % {"voucher": reversal.voucher})
        else:
            messages.success(request, _("The reversal is drafted for review; it counts once a reviewer posts it."))
        return HttpResponseRedirect(reverse("admin:ledger_journalentry_change", args=[reversal.pk]))


@admin.register(AccountBalance)
class AccountBalanceAdmin(ReadOnlyAdmin):
    """Read-only: the balance rows are kept by the posting transaction and proved by verify_ledger."""

    list_display = ("book", "period", "account", "debit", "credit")
    list_filter = ("book", "period__year")
    list_select_related = ("book", "period", "account")
