"""Admin for contracts and premiums: thin over contracts.services and contracts.selectors."""

from datetime import date

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from access.roles import FUND_ACCOUNTANT, INSURER_ACCOUNTANT
from core.errors import Refused
from core.exports import ListExport
from core.forms import RecordForm
from core.money import fmt
from ledger.admin_views import refusal_messages

from .display import terms_table, tranches_table
from .exports import PremiumTransferResource
from .models import Assessment, Contract, ContractYear, PremiumObligation, PremiumTransfer
from .services import obligations_generate, transfer_approve, transfer_confirm, transfer_record, transfer_withdraw


class ContractYearInline(admin.TabularInline):
    model = ContractYear
    fields = ("year", "basis", "premium", "deposit_pct", "cutoff", "status")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "fund", "insurer", "first_year", "last_year")
    list_filter = ("insurer",)
    search_fields = ("code", "name", "fund__name", "insurer__name")
    inlines = [ContractYearInline]


class ObligationInline(admin.TabularInline):
    model = PremiumObligation
    fields = ("sequence", "kind", "description", "due_date", "amount", "overdue_since")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ContractYear)
class ContractYearAdmin(admin.ModelAdmin):
    list_display = ("contract", "year", "basis", "premium_shown", "deposit_pct", "cutoff", "status", "status_link",
                    "reconcile_link")
    list_filter = ("year", "status", "contract__insurer")
    search_fields = ("contract__code", "contract__name")
    inlines = [ObligationInline]
    actions = ["generate_obligations"]
    readonly_fields = ("premium",)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is None:
            return fields
        # Once the year exists its schedule and terms are read, as tables, not edited as JSON.
        return [{"tranches": "tranches_shown", "settlement_terms": "terms_shown"}.get(f, f) for f in fields]

    def get_readonly_fields(self, request, obj=None):
        return ("premium", "tranches_shown", "terms_shown") if obj is not None else ("premium",)

    @admin.display(description=_("tranche schedule"))
    def tranches_shown(self, obj):
        return tranches_table(obj.tranches)

    @admin.display(description=_("settlement terms"))
    def terms_shown(self, obj):
        return terms_table(obj.settlement_terms)

    @admin.display(description=_("premium of the year"))
    def premium_shown(self, obj):
        return fmt(obj.premium)

    @admin.display(description=_("premium status"))
    def status_link(self, obj):
        url = reverse("admin:contracts_contractyear_premium_status", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("premium status"))

    @admin.display(description=_("fund ↔ insurer"))
    def reconcile_link(self, obj):
        url = reverse("admin:contracts_contractyear_reconcile", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("reconcile"))

    @admin.action(description=_("Generate premium obligations (tranches and deposit)"), permissions=["change"])
    def generate_obligations(self, request, queryset):
        for cy in queryset:
            obs = obligations_generate(contract_year=cy)
            messages.success(request, _("%(year)s: %(n)s obligations, adding up to %(total)s") % {
                "year": cy, "n": len(obs), "total": fmt(sum(o.amount.amount for o in obs))})

    def get_urls(self):
        urls = [path("<int:pk>/premium-status/", self.admin_site.admin_view(self.premium_status_view),
                      name="contracts_contractyear_premium_status"),
                path("<int:pk>/reconcile/", self.admin_site.admin_view(self.reconcile_view),
                     name="contracts_contractyear_reconcile")]
        return urls + super().get_urls()

    def premium_status_view(self, request, pk):
        # The statement's selector (reconciliation.premium): 已到账 only what the insurer confirmed, 在途 apart,
        # the deposit and the premium reconciled to the settlement, as the PDF prints them.
        from reconciliation.premium import premium_statement, statement_date

        cy = scoped_get_or_404(request, ContractYear, pk)
        try:
            as_of = date.fromisoformat(request.GET.get("as_of", "")) if request.GET.get("as_of") else None
        except ValueError:
            messages.error(request, _("Date must be YYYY-MM-DD."))
            as_of = None
        if as_of is None:
            as_of = min(timezone.localdate(), statement_date(cy)[0])
        st = premium_statement(contract_year=cy, as_of=as_of)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Premium status: %(cy)s") % {"cy": cy},
            "cy": cy, "st": st, "rows": st.rows, "as_of": as_of, "opts": self.model._meta,
            "totals": {k: fmt(v) for k, v in st.totals.items()},
            "premium_book": _premium_book(request, cy),  # the PDF / Excel buttons (reports issue page)
        }
        return TemplateResponse(request, "admin/contracts/premium_status.html", context)

    def reconcile_view(self, request, pk):
        from reconciliation.transfers import transfers_reconcile

        cy = scoped_get_or_404(request, ContractYear.objects.select_related("contract__fund", "contract__insurer"), pk)
        r = transfers_reconcile(fund=cy.contract.fund, insurer=cy.contract.insurer, year=cy.year)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "cy": cy, "r": r,
                   "mismatched": [(f, i, f.amount - i.amount) for f, i in r.mismatched],
                   "title": _("Fund ↔ insurer reconciliation: %(cy)s") % {"cy": cy}}
        return TemplateResponse(request, "admin/contracts/transfer_reconciliation.html", context)


def _premium_book(request, cy):
    """The book in the user's scope whose 保费划拨对账单 covers this contract year (the fund's first)."""
    from django.db.models import Q

    from access.scope import scope_filter
    from accounts.models import Book

    books = Book.objects.filter(Q(fund=cy.contract.fund) | Q(insurer=cy.contract.insurer)).order_by("kind", "code")
    return scope_filter(books, request.user).values_list("pk", flat=True).first()


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("contract_year", "score", "assessed_on", "assessor")


@admin.register(PremiumObligation)
class PremiumObligationAdmin(admin.ModelAdmin):
    list_display = ("description", "fund", "insurer", "year", "kind", "due_date", "amount_shown", "overdue_since")
    list_filter = ("year", "kind", "insurer", ("overdue_since", admin.EmptyFieldListFilter))
    search_fields = ("description", "fund__name", "fund__region__name", "insurer__name", "key")
    # Its key is how the books find it again (an internal name): people read the description.
    fields = [f.name for f in PremiumObligation._meta.fields if f.name not in ("id", "key")]
    readonly_fields = fields

    @admin.display(description=_("amount"))
    def amount_shown(self, obj):
        return fmt(obj.amount)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        from imports.admin_views import upload_urls  # 上传补缴表: upload, preview, 确认导入

        return upload_urls(self, "topup") + super().get_urls()


class TransferForm(RecordForm):
    """Recording a payment: checked by a dry run of the service, recorded by save_model.

    The side is the user's own (a fund's or an insurer's accountant), never a field of the form;
    the dry run is rolled back whatever happens, so an invalid form leaves nothing behind.
    """

    class Meta:
        model = PremiumTransfer
        fields = ("reference", "contract_year", "obligation", "insurer", "amount", "paid_on", "received_on", "memo")

    def record(self) -> PremiumTransfer:
        data = self.cleaned_data
        return transfer_record(
            reference=data["reference"], contract_year=data.get("contract_year"), obligation=data.get("obligation"),
            insurer=data["insurer"], amount=data["amount"], paid_on=data["paid_on"],
            received_on=data.get("received_on"), memo=data.get("memo", ""), user=getattr(self, "user", None),
        )


def _voucher_state(entry) -> str:
    if entry is None:
        return "—"
    return str(_("posted %(voucher)s") % {"voucher": entry.voucher}) if entry.is_posted else str(_("awaiting review"))


@admin.register(PremiumTransfer)
class PremiumTransferAdmin(ListExport, admin.ModelAdmin):
    form = TransferForm
    resource_classes = [PremiumTransferResource]  # 导出 (contracts.exports)
    list_display = ("reference", "fund", "insurer", "year", "amount_shown", "paid_on", "received_on",
                    "entered_by_side", "fund_state", "insurer_state", "in_transit_shown")
    list_filter = ("year", "insurer", "entered_by_side", "fund_entry__status", "insurer_entry__status")
    list_select_related = ("fund", "insurer", "fund_entry", "insurer_entry")
    search_fields = ("reference", "fund__name", "insurer__name")
    actions = ["confirm_own_side", "approve", "withdraw"]

    @admin.display(description=_("amount"))
    def amount_shown(self, obj):
        return fmt(obj.amount)

    @admin.display(description=_("in transit"), boolean=True)
    def in_transit_shown(self, obj):
        return obj.in_transit

    @admin.display(description=_("fund's voucher"))
    def fund_state(self, obj):
        return _voucher_state(obj.fund_entry)

    @admin.display(description=_("insurer's voucher"))
    def insurer_state(self, obj):
        return _voucher_state(obj.insurer_entry)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in PremiumTransfer._meta.fields] if obj is not None else []

    def has_add_permission(self, request):
        # Only a fund's or an insurer's accountant records a payment, as their own side.
        return super().has_add_permission(request) and request.user.groups.filter(
            name__in=[FUND_ACCOUNTANT.group, INSURER_ACCOUNTANT.group]).exists()

    def has_delete_permission(self, request, obj=None):
        return False  # drafts are withdrawn (action), posted vouchers reversed; a transfer is never deleted here

    def has_approve_permission(self, request):
        return super().has_view_permission(request) and request.user.has_perm("ledger.post_journalentry")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        if not change:  # the side's voucher is drafted by the service, never by the form
            obj.pk = form.record().pk

    def _each(self, request, queryset, write, done):
        for t in queryset:
            try:
                write(t)
            except Refused as exc:
                refusal_messages(request, exc, _("%(ref)s: nothing changed:") % {"ref": t.reference})
            else:
                messages.success(request, done % {"ref": t.reference})

    def has_confirm_permission(self, request):
        # Confirming books the user's own side: Django's add right on transfers, narrowed (as recording one is)
        # to a fund's or an insurer's accountant.
        return super().has_add_permission(request) and request.user.groups.filter(
            name__in=[FUND_ACCOUNTANT.group, INSURER_ACCOUNTANT.group]).exists()

    @admin.action(description=_("Confirm for my side (draft my book's voucher)"), permissions=["confirm"])
    def confirm_own_side(self, request, queryset):
        self._each(request, queryset, lambda t: transfer_confirm(transfer=t, user=request.user),
                   _("%(ref)s: your side's voucher is drafted for review"))

    @admin.action(description=_("Review and post the vouchers awaiting me (审核记账)"), permissions=["approve"])
    def approve(self, request, queryset):
        self._each(request, queryset, lambda t: transfer_approve(transfer=t, user=request.user),
                   _("%(ref)s: posted"))

    @admin.action(description=_("Withdraw my drafts"), permissions=["change"])
    def withdraw(self, request, queryset):
        self._each(request, queryset, lambda t: transfer_withdraw(transfer=t, user=request.user),
                   _("%(ref)s: drafts withdrawn"))
