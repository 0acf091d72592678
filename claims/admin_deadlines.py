"""Admin for the basic fund's advances (listed, overdue ones filtered, vouchers approved through the service),
the service time limits and the working-day calendar (edited by administrators)."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from access.roles import FUND_ACCOUNTANT
from access.scope import scope_filter
from access.sides import party_side
from core.errors import Refused
from core.forms import RecordForm
from core.money import fmt
from ledger.admin_views import refusal_messages

from .advances import (
    advance_approve,
    advance_lateness,
    advance_materials_receive,
    advance_record,
    advance_repay,
    advance_withdraw,
    advances_overdue,
)
from .deadlines import claims_overdue
from .models import CalendarDay, CalendarYear, ClaimBatch, FundAdvance, TimeLimit

CLAIMS_LATE_LIMIT = 10000  # the overdue filter lists at most this many claims


def _overdue(request) -> dict:
    """Advances late as of today within the user's scope, by id, computed once per page."""
    cached = getattr(request, "_advances_overdue", None)
    if cached is None:
        try:
            lates = advances_overdue(as_of=timezone.localdate(), user=request.user)
        except Refused as exc:
            messages.error(request, _("Beyond the working-day calendar: %(problem)s") % {
                "problem": Refused.describe(exc.problems[0])})
            lates = []
        cached = {late.advance.pk: late for late in lates}
        request._advances_overdue = cached
    return cached


_UNCOVERED = object()


def _lateness(obj):
    try:
        return advance_lateness(obj, timezone.localdate())
    except Refused:  # today lies beyond the working-day calendar: say so, never guess
        return _UNCOVERED


class OverdueFilter(admin.SimpleListFilter):
    """超期 / 未超期 as of today: repaid after the due date, or still unrepaid after it."""

    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("overdue")), ("no", _("not overdue"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=list(_overdue(request)))
        if self.value() == "no":
            return queryset.exclude(pk__in=list(_overdue(request)))
        return queryset


class AdvanceForm(RecordForm):
    """The fund's accountant records an advance: checked by a dry run of the service, recorded by save_model."""

    audit_kind = "fund advance"

    class Meta:
        model = FundAdvance
        fields = ("reference", "contract_year", "amount", "advanced_on", "memo")

    def record(self) -> FundAdvance:
        data = self.cleaned_data
        return advance_record(reference=data["reference"], contract_year=data["contract_year"], amount=data["amount"],
                              advanced_on=data["advanced_on"], memo=data.get("memo", ""),
                              user=getattr(self, "user", None))


class StepForm(forms.Form):
    on = forms.DateField(label=_("date"), widget=forms.DateInput(attrs={"type": "date"}))
    claims_batch = forms.ModelChoiceField(
        label=_("claims batch of the materials"), queryset=ClaimBatch.objects.none(), required=False,
        help_text=_("If the materials were imported as claims (channel 垫付还款), name the posted batch: its "
                    "posting booked the payable, so no second voucher is drafted."))


def _step(advance: FundAdvance, side: str | None):
    """What the user's side records next on this advance: (service name, explanation), or (None, why not)."""
    if side == "insurer" and advance.materials_received_on is None:
        return "receive", _("Record the day the materials were received: the repayment is due within the policy's "
                            "time limit from the next working day.")
    if side == "insurer" and advance.insurer_repay_entry_id is None:
        return "repay", _("Record the day the insurer repaid the advance (Dr 224103 / Cr 1002).")
    if side == "fund" and advance.fund_repay_entry_id is None and advance.fund_entry_id is not None:
        return "repay", _("Record the day the fund received the repayment (Dr 1002 / Cr 1101).")
    return None, _("Nothing is left for your side to record on this advance.")


@admin.register(FundAdvance)
class FundAdvanceAdmin(admin.ModelAdmin):
    """Each side records its own part through the services (claims.advances); reviewers post here."""

    form = AdvanceForm

    list_display = ("reference", "contract_year", "amount", "advanced_on", "materials_received_on", "due_on",
                    "repaid_on", "received_on", "working_days_late", "premium_shown", "overdue_since")
    list_filter = (OverdueFilter, "contract_year")
    list_select_related = ("contract_year__contract", "insurer_repay_entry", "fund_repay_entry")
    search_fields = ("reference",)
    actions = ["approve", "withdraw"]

    def get_list_display(self, request):
        return (*self.list_display, "next_step")

    @admin.display(description=_("record"))
    def next_step(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:claims_fundadvance_step", args=[obj.pk]),
                           _("record my side"))

    def has_add_permission(self, request):
        # Only a fund's accountant records an advance (the service refuses anyone else, and says why).
        return super().has_add_permission(request) and request.user.groups.filter(
            name=FUND_ACCOUNTANT.group).exists()

    def has_change_permission(self, request, obj=None):
        return False  # each step is a service call (record my side); a recorded advance is never edited here

    def has_delete_permission(self, request, obj=None):
        return False  # drafts are withdrawn (action), posted vouchers reversed

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        if not change:  # the fund's voucher is drafted by the service, never by the form
            obj.pk = form.record().pk

    def get_urls(self):
        view = self.admin_site.admin_view(self.step_view)
        return [path("<int:pk>/step/", view, name="claims_fundadvance_step"), *super().get_urls()]

    def step_view(self, request, pk):
        advance = scoped_get_or_404(request, FundAdvance.objects.select_related("fund", "insurer", "contract_year"),
                                    pk, perm="claims.change_fundadvance")
        side = party_side(request.user, fund=advance.fund, insurer=advance.insurer)
        step, explanation = _step(advance, side)
        form = None
        if step is not None:
            form = StepForm(request.POST or None)
            batches = ClaimBatch.objects.filter(contract=advance.contract_year.contract,
                                                status=ClaimBatch.Status.POSTED, advance__isnull=True)
            form.fields["claims_batch"].queryset = scope_filter(batches, request.user)
            if step != "receive":
                del form.fields["claims_batch"]
            if request.method == "POST" and form.is_valid():
                on = form.cleaned_data["on"]
                try:
                    if step == "receive":
                        advance_materials_receive(advance=advance, received_on=on, user=request.user,
                                                  claims_batch=form.cleaned_data.get("claims_batch"))
                    else:
                        advance_repay(advance=advance, on=on, user=request.user)
                except Refused as exc:
                    refusal_messages(request, exc, _("%(advance)s: nothing recorded:") % {
                        "advance": advance.reference})
                else:
                    messages.success(request, _("%(advance)s: your side's voucher is recorded for review") % {
                        "advance": advance.reference})
                    return HttpResponseRedirect(reverse("admin:claims_fundadvance_changelist"))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "advance": advance,
                   "amount": fmt(advance.amount), "form": form, "explanation": explanation,
                   "title": _("Record my side of advance %(ref)s") % {"ref": advance.reference}}
        return TemplateResponse(request, "admin/claims/advance_step.html", context)

    @admin.display(description=_("working days overdue"))
    def working_days_late(self, obj):
        late = _lateness(obj)
        if late is _UNCOVERED:
            return _("beyond the working-day calendar")
        return late.working_days_late if late is not None else "-"

    @admin.display(description=_("premium of the year on schedule"))
    def premium_shown(self, obj):
        late = _lateness(obj)
        if late is None or late is _UNCOVERED:
            return "-"
        if late.premium_on_schedule:
            return _("on schedule")
        return _("overdue since %(date)s") % {"date": late.premium_late[0].overdue_since}

    def has_approve_permission(self, request):
        return super().has_view_permission(request) and request.user.has_perm("ledger.post_journalentry")

    @admin.action(description=_("Review and post the selected advances' vouchers (审核记账)"), permissions=["approve"])
    def approve(self, request, queryset):
        for advance in queryset:
            try:
                posted = advance_approve(advance=advance, user=request.user)
            except Refused as exc:
                refusal_messages(request, exc, _("%(advance)s was not posted:") % {"advance": advance.reference})
            else:
                messages.success(request, _("%(advance)s: %(n)s vouchers posted") % {
                    "advance": advance.reference, "n": len(posted)})


    def has_withdraw_permission(self, request):
        # Django's view check first, narrowed to those who may withdraw voucher drafts (the preparers).
        return super().has_view_permission(request) and request.user.has_perm("ledger.delete_journalentry")

    @admin.action(description=_("Withdraw the drafts you prepared of the selected advances"), permissions=["withdraw"])
    def withdraw(self, request, queryset):
        for advance in queryset:
            name = advance.reference
            try:
                gone = advance_withdraw(advance=advance, user=request.user)
            except Refused as exc:
                refusal_messages(request, exc, _("%(advance)s was not withdrawn:") % {"advance": name})
            else:
                messages.success(request, (_("%(advance)s withdrawn") if gone else
                                           _("%(advance)s: your drafts withdrawn")) % {"advance": name})

@admin.register(TimeLimit)
class TimeLimitAdmin(admin.ModelAdmin):
    """The limits as the policies fix them; administrators correct them here (data, never code)."""

    list_display = ("policy", "kind", "days", "unit", "longest", "longest_unit")
    list_filter = ("kind",)


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 0
    fields = ("day", "kind", "name", "notice")


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    """A year of the working-day calendar with its holidays and 调休 working days, as the notice published them.
    A year not listed here is refused wherever working days are counted."""

    list_display = ("year", "notice")
    inlines = [CalendarDayInline]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("day", "kind", "name", "notice")
    list_filter = ("kind", "calendar_year")
    date_hierarchy = "day"


# -- claims against their time limits (shown on the claims list, claims.admin) ---------------------


def _claims_late(request) -> dict:
    cached = getattr(request, "_claims_late", None)
    if cached is None:
        try:
            rows = claims_overdue(user=request.user, limit=CLAIMS_LATE_LIMIT)
        except Refused as exc:
            messages.error(request, _("Beyond the working-day calendar: %(problem)s") % {
                "problem": Refused.describe(exc.problems[0])})
            rows = []
        cached = request._claims_late = {r.claim.pk: r for r in rows}
    return cached


class ClaimOverdueFilter(admin.SimpleListFilter):
    """超期 / 未超期: claims paid after the due date their policy's time limit gives from the materials' receipt."""

    title = _("time limit")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("overdue")), ("no", _("within the time limit"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=list(_claims_late(request)))
        if self.value() == "no":
            return queryset.filter(due_on__isnull=False).exclude(pk__in=list(_claims_late(request)))
        return queryset


_NOT_COUNTED = object()


def claims_late_attach(claims) -> None:
    """Each listed claim's lateness, read for the whole page at once (one query and one calendar, not one
    per row): set as `_late` on each claim with a due date (None when paid in time)."""
    tracked = [c for c in claims if c.due_on is not None]
    if not tracked:
        return
    try:
        rows = {r.claim.pk: r for r in claims_overdue(claim_ids=[c.pk for c in tracked], limit=None)}
    except Refused:
        rows = None
    for c in tracked:
        c._late = _NOT_COUNTED if rows is None else rows.get(c.pk)


@admin.display(description=_("overdue by"))
def claim_late_shown(obj):
    """How late the claim was paid: working days (a working-day limit) or days."""
    if obj.due_on is None:
        return "-"
    if not hasattr(obj, "_late"):
        claims_late_attach([obj])
    row = obj._late
    if row is _NOT_COUNTED:
        return _("beyond the working-day calendar")
    if row is None:
        return "-"
    unit = _("working days") if row.unit == TimeLimit.Unit.WORKING else _("days")
    return f"{row.late} {unit}"
