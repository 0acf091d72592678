"""Admin for benefit policies (edited, validated), claims (read-only) and the discrepancy report."""


from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from contracts.models import ContractYear
from core.admin import ReadOnlyAdmin
from core.errors import Refused
from core.exports import ListExport
from ledger.admin import BoundedList, ScopedChoicesFilter
from ledger.admin_views import refusal_messages

from .admin_deadlines import ClaimOverdueFilter, claim_late_shown, claims_late_attach
from .exports import ClaimResource
from .models import BenefitPolicy, Claim, ClaimBatch, Hospital
from .rules import GROUPS
from .selectors import claims_discrepancies, claims_totals, counted_claims
from .services import claims_batch_withdraw, claims_post


class PolicyForm(forms.ModelForm):
    definition = forms.JSONField(label=_("definition"), initial=dict,
                                 widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"}))

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
    """Batches awaiting review are listed first; a reviewer other than the preparer posts them, the preparer
    (or an administrator) may withdraw one. Until posted, a batch counts in no report and no settlement."""

    list_display = ("pk", "file_name", "contract", "rows", "oop_total", "paid_total", "status", "prepared_by",
                    "reviewed_by", "imported_at", "report_link")
    list_filter = ("status",)
    list_select_related = ("contract", "prepared_by", "reviewed_by")
    ordering = ("-status", "-imported_at")  # "prepared" sorts after "posted": awaiting review first
    actions = ["approve", "withdraw"]

    def get_urls(self):
        from imports.admin_views import upload_urls  # 上传赔案文件: upload, preview, 确认导入

        return upload_urls(self, "claims") + super().get_urls()

    @admin.display(description=_("discrepancy report"))
    def report_link(self, obj):
        cy = ContractYear.objects.filter(claims__batch=obj).order_by("year").first()
        if cy is None:
            return "-"
        url = reverse("admin:claims_claim_report", args=[cy.pk]) + f"?batch={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("report"))

    # Action rights narrow Django's own check on batches to a named right.
    def has_approve_permission(self, request):
        return super().has_view_permission(request) and request.user.has_perm("ledger.post_journalentry")

    def has_withdraw_permission(self, request):
        # Django's view check first, narrowed to those holding the delete right on batches (ReadOnlyAdmin hides
        # the page's own delete: withdrawing goes through the service, which records it).
        opts = self.opts
        return super().has_view_permission(request) and request.user.has_perm(
            f"{opts.app_label}.{get_permission_codename('delete', opts)}")

    @admin.action(description=_("Review and post the selected batches (审核记账)"), permissions=["approve"])
    def approve(self, request, queryset):
        for batch in queryset:
            try:
                n = claims_post(batch=batch, reviewed_by=request.user)
            except Refused as exc:
                refusal_messages(request, exc, _("%(batch)s was not posted:") % {"batch": batch})
            else:
                messages.success(request, _("%(batch)s posted: %(n)s vouchers") % {"batch": batch, "n": n})

    @admin.action(description=_("Withdraw the selected batches awaiting review"), permissions=["withdraw"])
    def withdraw(self, request, queryset):
        for batch in queryset:
            name = str(batch)
            try:
                claims_batch_withdraw(batch=batch, by=request.user)
            except Refused as exc:
                refusal_messages(request, exc, _("%(batch)s was not withdrawn:") % {"batch": name})
            else:
                messages.success(request, _("%(batch)s withdrawn with its claims") % {"batch": name})


class GroupFilter(admin.SimpleListFilter):
    """Claims by the person's group, each group by its name in the policy documents."""

    title = _("group")
    parameter_name = "group_code"

    def lookups(self, request, model_admin):
        return list(GROUPS.items())

    def queryset(self, request, queryset):
        return queryset.filter(group_code=self.value()) if self.value() else queryset


# Discrepant claims listed on the report's screen; the count and the over- and under-payment totals cover all.
REPORT_SCREEN_CLAIMS = 200
# Claims of a contract year (or batch) up to which the report draws its totals on its first screen.
REPORT_TOTALS_INLINE = 20_000


@admin.register(Claim)
class ClaimAdmin(BoundedList, ListExport, ReadOnlyAdmin):
    resource_classes = [ClaimResource]  # 导出 (claims.exports)
    list_display = ("claim_no", "contract_year", "group_shown", "settled_on", "hospital", "oop", "expected", "paid",
                    "channel", "charged_to", "due_on", claim_late_shown, "report_link")
    list_filter = (("contract_year", ScopedChoicesFilter), "channel", GroupFilter, ClaimOverdueFilter)
    fields = [{"group_code": "group_shown", "summary": "posted_in"}.get(f.name, f.name) for f in Claim._meta.fields
              if f.name != "id"]
    readonly_fields = fields

    @admin.display(description=_("group"), ordering="group_code")
    def group_shown(self, obj):
        return GROUPS.get(obj.group_code, obj.group_code)

    @admin.display(description=_("posted in"))
    def posted_in(self, obj):
        return obj.posted_entry or "—"

    search_fields = ("claim_no", "hospital__name")
    search_help_text = _("The beginning of a claim number, or words of a hospital's name.")
    list_select_related = ("contract_year__contract", "charged_to__contract", "hospital")

    def get_ordering(self, request):
        # Newest first. For a user who sees some books only, newest first within each book (index
        # claim_book_newest): the newest-first scan of all claims skipped every other book's claims first
        # (1.3 s at 5 M claims for an insurer's accountant).
        from access.scope import scope_of

        return ("-book_id", "-id") if not scope_of(request.user).everything else ("-id",)

    def get_queryset(self, request):
        from access.scope import scope_of

        queryset = super().get_queryset(request)
        scope = scope_of(request.user)
        if not scope.everything and scope.book_ids:
            # The books as a range too, not only as a list: given `book_id = x`, PostgreSQL takes the book as
            # fixed, finds the primary key already in the list's order and walks it backwards over every other
            # book's claims (1.4-2.0 s at 5 M claims when this book's are the oldest); a range leaves it the
            # (book_id, id) index, which reads just the page.
            queryset = queryset.filter(book_id__gte=min(scope.book_ids), book_id__lte=max(scope.book_ids))
        return queryset

    def get_search_results(self, request, queryset, search_term):
        """A claim number by its beginning (index claim_no_prefix; a number's middle found every claim of a
        province by reading them all), or the claims of the hospitals whose name holds the words."""
        from django.db import connection
        from django.db.models import Q

        for term in search_term.split():
            # Read first: a short list of ids lets the database combine the two indexes.
            hospitals = list(Hospital.objects.filter(name__icontains=term).values_list("pk", flat=True)[:1000])
            if connection.vendor == "sqlite":
                # A range, not LIKE 'x%': SQLite matches LIKE without case and so reads every claim; the range
                # is the index's, and matches the beginning with case, as PostgreSQL's LIKE does.
                number = Q(claim_no__gte=term, claim_no__lt=term + "\U0010ffff")
            else:
                number = Q(claim_no__startswith=term)
            queryset = queryset.filter(number | Q(hospital__in=hospitals) if hospitals else number)
        return queryset, False

    @admin.display(description=_("discrepancy report"))
    def report_link(self, obj):
        url = reverse("admin:claims_claim_report", args=[obj.contract_year_id])
        return format_html('<a href="{}">{}</a>', url, _("report"))

    def get_changelist_instance(self, request):
        cl = super().get_changelist_instance(request)
        claims_late_attach(cl.result_list)  # the page's lateness in one read, not one per row
        return cl

    def get_urls(self):
        return [path("report/<int:cy>/", self.admin_site.admin_view(self.report_view), name="claims_claim_report")
                ] + super().get_urls()

    def report_view(self, request, cy):
        contract_year = scoped_get_or_404(request, ContractYear, cy, perm="claims.view_claim")
        batch_id = request.GET.get("batch")
        batch = scoped_get_or_404(request, ClaimBatch, batch_id) if batch_id else None
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "cy": contract_year, "batch": batch,
            "title": _("Claims against the policy: %(cy)s") % {"cy": contract_year},
            "d": claims_discrepancies(contract_year=contract_year, limit=REPORT_SCREEN_CLAIMS, batch=batch),
        }
        # The totals by month and hospital read every claim of the year (300,000 in a province): for a big year
        # asked for with a link, not drawn with each opening of the report, whose first screen counts them only.
        # Counted only as far as the threshold: the exact count of a big year is in the totals behind the link
        # (a count over every claim of a province's year took 300 ms of the report's 470).
        n = counted_claims(batch).filter(contract_year=contract_year)[:REPORT_TOTALS_INLINE + 1].count()
        if request.GET.get("totals") or n <= REPORT_TOTALS_INLINE:
            context["t"] = claims_totals(contract_year=contract_year, batch=batch)
        else:
            context["t"] = {"total": {"claims": None}}
            context["more_than"] = REPORT_TOTALS_INLINE
            query = request.GET.copy()
            query["totals"] = "1"
            context["totals_url"] = "?" + query.urlencode()
        return TemplateResponse(request, "admin/claims/report.html", context)


