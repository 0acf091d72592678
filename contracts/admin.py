"""Admin for contracts and premiums: thin over contracts.services and contracts.selectors."""

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import refuse, scoped_get_or_404
from access.scope import scope_of
from core.errors import Refused
from core.forms import dry_run
from core.money import fmt

from .models import Assessment, Contract, ContractYear, PremiumObligation, PremiumTransfer
from .selectors import premium_status
from .services import obligations_generate, transfer_confirm, transfer_record


def _refusal(request, exc: Refused) -> None:
    for p in exc.problems:
        messages.error(request, Refused.describe(p))


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
        cy = scoped_get_or_404(request, ContractYear, pk)
        try:
            as_of = date.fromisoformat(request.GET.get("as_of", "")) if request.GET.get("as_of") else None
        except ValueError:
            messages.error(request, _("Date must be YYYY-MM-DD."))
            as_of = None
        as_of = as_of or min(timezone.localdate(), cy.cutoff)
        rows = premium_status(contract_year=cy, as_of=as_of)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Premium status: %(cy)s") % {"cy": cy},
            "cy": cy, "rows": rows, "as_of": as_of, "opts": self.model._meta,
            "totals": {k: fmt(sum(getattr(r, k).amount for r in rows)) for k in ("required", "received", "shortfall")},
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


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("contract_year", "score", "assessed_on", "assessor")


@admin.register(PremiumObligation)
class PremiumObligationAdmin(admin.ModelAdmin):
    list_display = ("description", "fund", "insurer", "year", "kind", "due_date", "amount_shown", "overdue_since")
    list_filter = ("year", "kind", "insurer", ("overdue_since", admin.EmptyFieldListFilter))
    search_fields = ("description", "fund__name", "fund__region__name", "insurer__name", "key")
    readonly_fields = [f.name for f in PremiumObligation._meta.fields]

    @admin.display(description=_("amount"))
    def amount_shown(self, obj):
        return fmt(obj.amount)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TransferForm(forms.ModelForm):
    """Recording a payment: checked by a dry run of the service, posted by save_model.

    The dry run is rolled back whatever happens, so an invalid form leaves nothing
    behind; a refusal becomes form errors naming each problem, with what was typed kept.
    """

    class Meta:
        model = PremiumTransfer
        fields = ("reference", "contract_year", "obligation", "insurer", "amount", "paid_on", "entered_by_side", "memo")

    def clean(self):
        data = super().clean()
        if self.instance.pk or self.errors:
            return data
        dry_run(self.record)
        return data

    def record(self) -> PremiumTransfer:
        data = self.cleaned_data
        return transfer_record(
            reference=data["reference"], contract_year=data.get("contract_year"), obligation=data.get("obligation"),
            insurer=data["insurer"], amount=data["amount"], paid_on=data["paid_on"], side=data["entered_by_side"],
            memo=data.get("memo", ""), user=getattr(self, "user", None),
        )


@admin.register(PremiumTransfer)
class PremiumTransferAdmin(admin.ModelAdmin):
    form = TransferForm
    list_display = ("reference", "fund", "insurer", "year", "amount_shown", "paid_on", "received_on",
                    "entered_by_side", "in_transit_shown", "fund_entry", "insurer_entry")
    list_filter = ("year", "insurer", "entered_by_side", "fund_confirmed", "insurer_confirmed")
    search_fields = ("reference", "fund__name", "insurer__name")
    actions = ["confirm_as_insurer", "confirm_as_fund"]

    @admin.display(description=_("amount"))
    def amount_shown(self, obj):
        return fmt(obj.amount)

    @admin.display(description=_("in transit"), boolean=True)
    def in_transit_shown(self, obj):
        return obj.in_transit

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in PremiumTransfer._meta.fields] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        if not change:  # both books are posted by the service, never by the form
            obj.pk = form.record().pk

    def _confirm(self, request, queryset, side):
        # Each side confirms only for its own party: an insurer's staff never confirm as the fund.
        s = scope_of(request.user)
        if not s.everything:
            ids = s.insurer_ids if side == PremiumTransfer.Side.INSURER else s.fund_ids
            party = "insurer" if side == PremiumTransfer.Side.INSURER else "fund"
            for t in queryset.exclude(**{f"{party}__in": ids}):
                refuse(request, reason=f"confirmation as {party} by a user not of that {party}", obj=t)
                messages.error(request, _("%(ref)s: only the %(party)s's own staff may confirm this side.") % {
                    "ref": t.reference, "party": party})
            queryset = queryset.filter(**{f"{party}__in": ids})
        for t in queryset:
            try:
                transfer_confirm(transfer=t, side=side, user=request.user)
            except Refused as exc:
                _refusal(request, exc)
            else:
                messages.success(request, _("%(ref)s confirmed") % {"ref": t.reference})

    @admin.action(description=_("Confirm receipt (insurer)"), permissions=["change"])
    def confirm_as_insurer(self, request, queryset):
        self._confirm(request, queryset, PremiumTransfer.Side.INSURER)

    @admin.action(description=_("Confirm payment (fund)"), permissions=["change"])
    def confirm_as_fund(self, request, queryset):
        self._confirm(request, queryset, PremiumTransfer.Side.FUND)
