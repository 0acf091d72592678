"""Issued statements (read-only, verifiable) and statement jobs rendered by a worker with progress."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin

from .models import ReportJob, ReportRecord
from .registry import KINDS
from .services import report_job_run


@admin.register(ReportRecord)
class ReportRecordAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "book", "params", "generated_at", "generated_by")
    list_filter = ("kind", "book")
    search_fields = ("code",)


class JobForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("kind"), choices=[(k, f"{v.title} ({k})") for k, v in KINDS.items()])

    class Meta:
        model = ReportJob
        fields = ("kind", "book", "year", "month")


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin):
    form = JobForm
    list_display = ("__str__", "status", "progress_bar", "stage", "parts_done", "parts", "requested_by", "requested_at", "record")
    list_filter = ("status", "kind")

    @admin.display(description=_("progress (%)"))
    def progress_bar(self, obj):
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ReportJob._meta.fields] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        obj.requested_by = request.user.get_username()
        obj.save()
        from .tasks import render_report

        try:
            render_report.delay(obj.pk)  # the job row is visible to the worker: admin requests are not atomic
            messages.info(request, _("Queued for a worker; this list shows its progress."))
        except Exception:  # no broker reachable: render here rather than lose the request
            report_job_run(job_id=obj.pk)
            messages.warning(request, _("No worker reachable: the statement was rendered directly."))
