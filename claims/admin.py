"""Admin for benefit policies (edited, validated), claims (read-only) and the discrepancy report."""


from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from contracts.models import ContractYear
from core.admin import ReadOnlyAdmin

from .models import BenefitPolicy, Claim, ClaimBatch, Hospital
from .selectors import claims_discrepancies, claims_totals


class PolicyForm(forms.ModelForm):
    definition = forms.JSONField(widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"}))

    class Meta:
        model = BenefitPolicy
        fields = ("code", "year", "name", "source", "definition")


@admin.register(BenefitPolicy)
class BenefitPolicyAdmin(admin.ModelAdmin):
    """Editing a policy re-checks it whole (bands ascending, ratios 0–1, caps ≥ 0 or none) in model.clean."""

    form = PolicyForm
    list_display = ("code", "year", "name", "updated_at")
    search_fields = ("code", "name")


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(ClaimBatch)
class ClaimBatchAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "contract", "rows", "oop_total", "paid_total", "imported_at")


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ("claim_no", "contract_year", "group_code", "settled_on", "hospital", "oop", "expected", "paid",
                    "channel", "charged_to", "report_link")
    list_filter = ("contract_year", "channel", "group_code")
    search_fields = ("claim_no", "hospital__name")
    list_select_related = ("contract_year__contract", "charged_to__contract", "hospital")
    show_full_result_count = False  # counting a million rows on every page helps no one

    @admin.display(description=_("discrepancy report"))
    def report_link(self, obj):
        url = reverse("admin:claims_claim_report", args=[obj.contract_year_id])
        return format_html('<a href="{}">{}</a>', url, _("report"))

    def get_urls(self):
        return [path("report/<int:cy>/", self.admin_site.admin_view(self.report_view), name="claims_claim_report")
                ] + super().get_urls()

    def report_view(self, request, cy):
        contract_year = scoped_get_or_404(request, ContractYear, cy, perm="claims.view_claim")
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "cy": contract_year,
            "title": _("Claims against the policy: %(cy)s") % {"cy": contract_year},
            "d": claims_discrepancies(contract_year=contract_year, limit=500),
            "t": claims_totals(contract_year=contract_year),
        }
        return TemplateResponse(request, "admin/claims/report.html", context)


