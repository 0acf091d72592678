"""The audit trail in the admin: browse, filter, export; nobody adds, changes or deletes."""

import csv
import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from ledger.admin import BoundedList

from .models import AuditEvent, FloodCounter, IntegrityAlert

COLUMNS = [("at", "时间"), ("actor", "操作人"), ("action", "操作"), ("outcome", "结果"), ("object_type", "对象类型"),
           ("object_id", "对象编号"), ("object_repr", "对象"), ("book_code", "账套"), ("digest", "文件SHA-256"),
           ("ip", "IP地址"), ("detail", "详情")]


def _cell(value) -> str:
    """A cell Excel shows as text: a typed-in name such as "=HYPERLINK(…)" (a failed sign-in keeps it)
    must not run as a formula on the auditor's machine."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# The keys of an event's detail (audit_record(detail=…) across the services), in words.
DETAIL = {
    "acts_for": _("acting for"), "amount": _("amount"), "as_of": _("as of"), "bank": _("bank"), "books": _("books"),
    "by_action": _("by action"), "code": _("code"), "command": _("command"), "credit": _("credit"), "date": _("date"),
    "debit": _("debit"), "differences": _("differences"), "entries": _("vouchers"), "events": _("events"),
    "file": _("file"), "first": _("first"), "how": _("how"), "kind": _("kind"), "last": _("last"),
    "lines": _("lines"), "looked_up_by_code": _("looked up by its code"), "made_by": _("prepared by"),
    "matches": _("matches"), "memo": _("memo"), "method": _("method"), "model": _("model"), "month": _("month"),
    "name": _("name"), "notes": _("notes"), "object": _("object"), "obligations": _("obligations"), "on": _("on"),
    "outcome": _("outcome"), "pages": _("pages"), "paid": _("paid"), "paid_on": _("paid on"), "parts": _("parts"),
    "path": _("page"), "permission": _("permission"), "postings": _("postings"), "prepared_by": _("prepared by"),
    "problems": _("problems"), "reason": _("reason"), "recomputed": _("recomputed"), "recorded": _("recorded"),
    "reference": _("reference"), "reversal_draft": _("reversal draft"), "rows": _("rows"), "side": _("side"),
    "sides": _("sides"), "size": _("size"), "source": _("source"), "sources": _("sources"), "status": _("status"),
    "suppressed": _("suppressed"), "type": _("type"), "voucher": _("voucher"), "what": _("what"), "year": _("year"),
}
# Actions recorded by services newer than AuditEvent.Action's list, until it names them.
ACTIONS = {
    "opening_prepared": _("opening balances prepared"), "opening_approved": _("opening balances approved"),
    "attachment_added": _("attachment added"), "attachment_removed": _("attachment removed"),
    "attachment_downloaded": _("attachment downloaded"),
}
VALUES = {"fund": _("fund"), "insurer": _("insurer"), "automatic": _("automatic"), "manual": _("by hand"),
          True: _("yes"), False: _("no")}


def _value_shown(value):
    from django.utils.html import format_html_join
    from django.utils.safestring import mark_safe

    if isinstance(value, dict):
        return detail_table(value)
    if isinstance(value, list):
        return format_html_join(mark_safe("<br>"), "{}", ((_value_shown(v),) for v in value)) if value else "-"
    if isinstance(value, (str, bool)) and value in VALUES:
        return VALUES[value]
    return "-" if value in (None, "") else value


def detail_table(detail: dict):
    """An event's detail as a table of words and values, not JSON."""
    from core.display import rows_table

    return rows_table((DETAIL.get(k, k), _value_shown(v)) for k, v in (detail or {}).items())


class BookCodeFilter(admin.SimpleListFilter):
    """The trail by book: the books' codes (a few dozen), not a DISTINCT over every event."""

    title = _("book")
    parameter_name = "book_code"

    def lookups(self, request, model_admin):
        from accounts.models import Book

        return [(code, code) for code in Book.objects.order_by("code").values_list("code", flat=True)]

    def queryset(self, request, queryset):
        return queryset.filter(book_code=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(BoundedList, ReadOnlyAdmin):
    list_display = ("at", "actor", "action_shown", "outcome", "object_repr", "book_code", "ip")
    fields = ("at", "actor", "action_shown", "outcome", "object_type_shown", "object_id", "object_repr", "book_code",
              "digest", "ip", "detail_shown", "mac")
    readonly_fields = fields

    @admin.display(description=_("action"), ordering="action")
    def action_shown(self, obj):
        shown = obj.get_action_display()
        return ACTIONS.get(obj.action, shown) if shown == obj.action else shown

    @admin.display(description=_("object type"))
    def object_type_shown(self, obj):
        from django.apps import apps

        try:
            return apps.get_model(obj.object_type)._meta.verbose_name if obj.object_type else "-"
        except (LookupError, ValueError):
            return obj.object_type

    @admin.display(description=_("detail"))
    def detail_shown(self, obj):
        return detail_table(obj.detail)
    # By time as a few ranges, not Django's date hierarchy, whose year links are a DISTINCT over the whole trail.
    list_filter = ("action", "outcome", BookCodeFilter, ("at", admin.DateFieldListFilter))
    search_fields = ("actor", "object_repr", "book_code", "digest")
    actions = ["export_csv"]

    def changelist_view(self, request, extra_context=None):
        from .services import audit_flood_now, audit_flood_summarize

        if request.method == "GET" and self.has_view_or_change_permission(request):
            # Whoever reads the trail sees every ended window summed up, and a flood still going on.
            audit_flood_summarize()
            sources, suppressed = audit_flood_now()
            if suppressed:
                messages.warning(request, _(
                    "%(sources)s source address(es) without a signed-in user are over the audit trail's limit "
                    "in the current window: %(n)s events are counted but not recorded one by one. A summary "
                    "event per address follows when the window ends.") % {"sources": sources, "n": suppressed})
        return super().changelist_view(request, extra_context)

    def get_actions(self, request):
        # Export is reading: offered to whoever may read the trail.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Export the selected events as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        name = f"audit-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response.write("\ufeff")  # Excel opens UTF-8 with a BOM as UTF-8
        writer = csv.writer(response)
        writer.writerow([title for _, title in COLUMNS])
        for e in queryset.order_by("at", "id").iterator(chunk_size=2000):
            writer.writerow([_cell(v) for v in (
                timezone.localtime(e.at).isoformat(timespec="seconds"), e.actor, e.get_action_display(),
                e.get_outcome_display(), e.object_type, e.object_id, e.object_repr, e.book_code, e.digest, e.ip,
                json.dumps(e.detail, ensure_ascii=False, sort_keys=True))])
        from .services import audit_record

        audit_record(action="report_downloaded", actor=request.user, request=request,
                     detail={"file": name, "events": queryset.count()})
        return response


@admin.register(FloodCounter)
class FloodCounterAdmin(ReadOnlyAdmin):
    """The live counts behind the flood limit; the trail keeps the summaries."""

    list_display = ("source", "action", "window_start", "window_end", "seen", "suppressed", "summarized", "last_at")
    list_filter = ("summarized",)
    search_fields = ("source",)


class AcknowledgeForm(forms.Form):
    reason = forms.CharField(label=_("reason"), min_length=10, widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                             help_text=_("What was found and what was done about it (at least 10 characters)."))


@admin.register(IntegrityAlert)
class IntegrityAlertAdmin(ReadOnlyAdmin):
    """What the nightly verification found: read by administrators and auditors, acknowledged with a reason."""

    list_display = ("at", "count", "first_problem", "acknowledged_by", "acknowledged_at")
    list_filter = (("acknowledged_at", admin.EmptyFieldListFilter),)
    fields = ("at", "count", "problems_shown", "acknowledged_by", "acknowledged_at", "reason")
    readonly_fields = fields
    change_form_template = "admin/audit/integrityalert/change_form.html"

    @admin.display(description=_("first problem"))
    def first_problem(self, obj):
        p = obj.problems[0] if obj.problems else {}
        return f"{p.get('book', '')} {p.get('entry', '')}: {p.get('check', '')}"

    @admin.display(description=_("problems"))
    def problems_shown(self, obj):
        from django.utils.html import format_html, format_html_join

        return format_html("<table>{}</table>", format_html_join("", (
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"), (
            (p.get("book"), p.get("entry"), p.get("check"), p.get("expected"), p.get("found")) for p in obj.problems)))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"ack_form": AcknowledgeForm(), "may_acknowledge": request.user.has_perm(
            "audit.acknowledge_integrityalert"), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        return [path("<int:pk>/acknowledge/", self.admin_site.admin_view(self.acknowledge_view),
                     name="audit_integrityalert_acknowledge")] + super().get_urls()

    def acknowledge_view(self, request, pk):
        from access.admin_scope import scoped_get_or_404

        from .services import integrity_alert_acknowledge

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        alert = scoped_get_or_404(request, IntegrityAlert, pk, perm="audit.acknowledge_integrityalert")
        form = AcknowledgeForm(request.POST)
        if form.is_valid():
            integrity_alert_acknowledge(alert=alert, user=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, _("Acknowledged."))
        else:
            for errors in form.errors.values():
                for e in errors:
                    messages.error(request, e)
        return HttpResponseRedirect(reverse("admin:audit_integrityalert_change", args=[pk]))
