"""Issued statements (read-only, verifiable, found by the code printed on them) and statement jobs
rendered by a worker with progress."""

import re
import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from access.admin_scope import refuse, scoped_get_or_404
from access.scope import scope_filter
from accounts.models import Book
from core.admin import ReadOnlyAdmin
from core.errors import Refused, lazy_format

from .models import ReportJob, ReportRecord
from .registry import KINDS
from .services import MARK, report_issue, report_job_run, report_verify, report_verify_record


def _download(request, path: Path, *, record=None, name: str = "") -> FileResponse:
    from audit.services import audit_record

    audit_record(action="report_downloaded", actor=request.user, obj=record, request=request,
                 detail={"file": Path(path).name})
    xlsx = Path(name or path).suffix.lower() == ".xlsx"
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name or Path(path).name,
                        content_type=XLSX_TYPE if xlsx else "application/pdf")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class IssueForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=[(k, f"{v.title}") for k, v in KINDS.items()])
    book = forms.ModelChoiceField(label=_("book"), queryset=Book.objects.order_by("code"))
    year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100)
    month = forms.IntegerField(label=_("month"), min_value=1, max_value=12, required=False)
    format = forms.ChoiceField(label=_("format"), choices=[("pdf", _("PDF (signed)")), ("xlsx", _("Excel (XLSX)"))],
                               initial="pdf", required=False)  # not given: PDF


def _issue_initial(request) -> dict:
    """The issue form as another page links to it: ?kind=&book=&year=&month=&format= (book by id or code).
    A book outside the user's scope named in the link is refused (403, recorded) like a forged post."""
    initial = {"year": timezone.localdate().year - 1, "format": "pdf"}
    q = request.GET
    if q.get("kind") in KINDS:
        initial["kind"] = q["kind"]
    for key, low, high in (("year", 2000, 2100), ("month", 1, 12)):
        if q.get(key, "").isdigit() and low <= int(q[key]) <= high:
            initial[key] = int(q[key])
    if q.get("format") in ("pdf", "xlsx"):
        initial["format"] = q["format"]
    book = q.get("book", "").strip()
    if book:
        pk = book if book.isdigit() else Book.objects.filter(code=book).values_list("pk", flat=True).first()
        if pk is not None:
            initial["book"] = scoped_get_or_404(request, Book, pk, perm="reports.add_reportjob").pk
    return initial


class VerifyForm(forms.Form):
    file = forms.FileField(label=_("statement (PDF or XLSX)"))


class LookupForm(forms.Form):
    code = forms.CharField(label=_("verification code"), max_length=64,
                           help_text=_("As printed at the foot of every page, e.g. LEDGER-VERIFY-4BAED31936173B25 "
                                       "(the prefix, spaces and case do not matter)."))

    def clean_code(self):
        # Read off paper: the prefix may be typed or not, with spaces or dashes, in either case.
        text = re.sub(r"[\s\-]", "", self.cleaned_data["code"]).upper().removeprefix("核验码")
        text = text.removeprefix(MARK.replace("-", ""))
        if not re.fullmatch(r"[0-9A-F]{16}", text):
            raise forms.ValidationError(_("A verification code is 16 characters, digits 0-9 and letters A-F."))
        return text


class KindFilter(admin.SimpleListFilter):
    """Statements by kind, each kind named by its title."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(k, v.title) for k, v in KINDS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


def _params_table(params: dict):
    """A statement's parameters as a small table: year, month (none: the whole year)."""
    rows = [(_("year"), params.get("year", "-")),
            (_("month"), params.get("month") or _("the whole year"))]
    return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))


def _totals_table(totals: dict):
    from .labels import total_label

    if not totals:
        return "-"
    return format_html("<table>{}</table>", format_html_join(
        "", '<tr><th>{}</th><td style="text-align:right">{}</td></tr>', ((total_label(k), v) for k, v in totals.items())))


@admin.register(ReportRecord)
class ReportRecordAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind_shown", "format", "book", "period_shown", "generated_at", "generated_by")
    list_filter = (KindFilter, "format", "book")
    search_fields = ("code",)
    change_list_template = "admin/reports/reportrecord/change_list.html"
    fields = ("code", "kind_shown", "format", "book", "params_shown", "totals_shown", "data_digest", "pdf_sha256",
              "chain_length", "chain_head", "generated_at", "generated_by")
    readonly_fields = fields

    @admin.display(description=_("kind"), ordering="kind")
    def kind_shown(self, obj):
        return obj.title

    @admin.display(description=_("period"))
    def period_shown(self, obj):
        from .labels import period_shown

        return period_shown(obj.params)

    @admin.display(description=_("parameters"))
    def params_shown(self, obj):
        return _params_table(obj.params or {})

    @admin.display(description=_("totals shown"))
    def totals_shown(self, obj):
        return _totals_table(obj.totals or {})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("issue/", view(self.issue_view), name="reports_reportrecord_issue"),
                path("verify/", view(self.verify_view), name="reports_reportrecord_verify"),
                path("lookup/", view(self.lookup_view), name="reports_reportrecord_lookup")] + super().get_urls()

    def issue_view(self, request):
        """Write a statement for a book in the user's scope and hand it over as a download."""
        if not request.user.has_perm("reports.add_reportjob"):
            raise refuse(request, reason="permission reports.add_reportjob missing")
        form = IssueForm(request.POST or None, initial=_issue_initial(request) if request.method == "GET" else None)
        form.fields["book"].queryset = scope_filter(Book.objects.order_by("code"), request.user)
        if request.method == "POST":
            forged = request.POST.get("book", "")
            if form.is_valid():
                d = form.cleaned_data
                book = scoped_get_or_404(request, Book, d["book"].pk, perm="reports.add_reportjob")
                suffix = f"-{d['month']:02d}" if d["month"] else ""
                d["format"] = d["format"] or "pdf"
                name = f"{d['kind']}_{book.code}_{d['year']}{suffix}.{d['format']}"
                out = Path(tempfile.mkdtemp(dir=_issued_dir())) / name
                try:
                    record = report_issue(kind=d["kind"], book=book, year=d["year"], month=d["month"], out=out,
                                          by=request.user.get_username(), format=d["format"])
                except Refused as exc:
                    for p in exc.problems:
                        messages.error(request, Refused.describe(p))
                else:
                    return _download(request, out, record=record, name=name)
            elif forged.isdigit() and Book.objects.filter(pk=forged).exists():
                raise refuse(request, reason="statement requested for a book outside the user's scope",
                             model=Book, object_id=forged)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": _("Issue a statement (PDF or Excel)")}
        return TemplateResponse(request, "admin/reports/reportrecord/issue.html", context)

    def verify_view(self, request):
        """An auditor uploads a statement; the books say whether they still agree with it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = VerifyForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
                for chunk in form.cleaned_data["file"].chunks():
                    tmp.write(chunk)
                tmp.flush()
                result = report_verify(path=Path(tmp.name), by=request.user)
            if result.record is not None and not scope_filter(ReportRecord.objects.filter(pk=result.record.pk),
                                                              request.user).exists():
                raise refuse(request, reason="verification of a statement outside the user's scope",
                             obj=result.record)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "result": result, "title": _("Verify a statement")}
        return TemplateResponse(request, "admin/reports/reportrecord/verify.html", context)


    def lookup_view(self, request):
        """An auditor holding a paper copy types its code: what was issued, by whom and when, and whether
        the books still say what it says. A statement outside the user's scope is refused (403, recorded),
        whether or not its code was guessed right."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # POST: a look-up is recorded in the audit trail, so it goes through the CSRF check like any write.
        form = LookupForm(request.POST or None)
        record = result = None
        if request.method == "POST" and form.is_valid():
            code = form.cleaned_data["code"]
            pk = ReportRecord.objects.filter(code=code).values_list("pk", flat=True).first()
            if pk is None:
                from audit.services import audit_record

                audit_record(action="report_verified", actor=request.user, request=request, outcome="refused",
                             detail={"code": code, "looked_up_by_code": True,
                                     "differences": [f"verification code {code} was never issued here"]})
                form.add_error("code", _("No statement with this verification code was issued by this ledger."))
            else:
                record = scoped_get_or_404(request, ReportRecord.objects.select_related("book"), pk)
                result = report_verify_record(record, by=request.user)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "record": record, "result": result, "mark": MARK, "period": _period(record),
                   "kind_title": KINDS[record.kind].title if record is not None and record.kind in KINDS else "",
                   "title": _("Look up a statement by its verification code")}
        return TemplateResponse(request, "admin/reports/reportrecord/lookup.html", context)


def _period(record) -> str:
    if record is None:
        return ""
    year, month = record.params.get("year"), record.params.get("month")
    return f"{year}年" + (f"{month}月" if month else "1–12月")  # as the statement prints it


def _issued_dir() -> Path:
    folder = Path(settings.REPORT_JOBS_DIR) / "issued"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class JobForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("kind"), choices=[(k, v.title) for k, v in KINDS.items()])

    class Meta:
        model = ReportJob
        fields = ("kind", "book", "year", "month")


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin):
    form = JobForm
    list_display = ("__str__", "status", "status_note", "progress_bar", "stage", "parts_done", "parts", "requested_by",
                    "requested_at", "record", "download_link")
    list_filter = ("status", KindFilter)

    @admin.display(description=_("progress (%)"))
    def progress_bar(self, obj):
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress)

    @admin.display(description=_("PDF"))
    def download_link(self, obj):
        if obj.status != ReportJob.Status.DONE:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:reports_reportjob_download", args=[obj.pk]),
                           _("download"))

    def get_urls(self):
        return [path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                     name="reports_reportjob_download"),
                path("<int:pk>/render-now/", self.admin_site.admin_view(self.render_now_view),
                     name="reports_reportjob_render_now")] + super().get_urls()

    def download_view(self, request, pk):
        job = scoped_get_or_404(request, ReportJob, pk)
        if job.status != ReportJob.Status.DONE or not Path(job.file).is_file():
            raise Http404
        return _download(request, Path(job.file), record=job.record)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return ["kind_shown", *(f.name for f in ReportJob._meta.fields if f.name not in ("id", "kind"))]

    @admin.display(description=_("kind"))
    def kind_shown(self, obj):
        from .labels import kind_title

        return kind_title(obj.kind)

    def save_model(self, request, obj, form, change):
        if change:
            return
        from . import workers
        from .tasks import render_report

        obj.requested_by = request.user.get_username()
        # Asked before the job is saved, so the answer is the one the user reads (cached for a few seconds).
        state = workers.worker_state()
        if state != workers.NO_BROKER:
            obj.save()
            try:
                render_report.delay(obj.pk)  # the job row is visible to the worker: admin requests are not atomic
            except Exception:  # the broker went away between the question and the message
                state = workers.NO_BROKER
                ReportJob.objects.filter(pk=obj.pk).update(stage=workers.UNSENT)
            else:
                workers.report_jobs_unsent_send()  # older jobs that met a broker down go now too
        else:
            obj.stage = workers.UNSENT  # sent by the first worker that starts (config.celery)
            obj.save()
        if state == workers.LISTENING:
            messages.info(request, _("Queued for a worker; this list shows its progress."))
            return
        rows = workers.job_rows_estimate(kind=obj.kind, book=obj.book, year=obj.year, month=obj.month)
        why = (_("The message queue (Redis) cannot be reached, so no worker can take this statement.")
               if state == workers.NO_BROKER else _("No worker is running to render this statement."))
        if workers.job_small(rows):
            messages.warning(request, format_html(
                '{} {} <form method="post" action="{}" style="display:inline">'
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                '<button type="submit" class="button" id="render-now">{}</button></form>',
                why, lazy_format(_("It is small (about %(rows)s rows, %(pages)s pages): render it now, in this "
                                   "request, or leave it queued until a worker runs."),
                                 rows=rows, pages=workers.pages_estimate(rows)),
                reverse("admin:reports_reportjob_render_now", args=[obj.pk]), get_token(request),
                _("Render it now")))
        else:
            messages.warning(request, format_html("{} {}", why, lazy_format(
                _("It is large (about %(rows)s rows, %(pages)s pages): it stays queued and starts as soon as a worker "
                  "runs (see README.md: the development command, or the worker service in docs/operations.md)."),
                rows=rows, pages=workers.pages_estimate(rows))))

    def render_now_view(self, request, pk):
        """A small statement no worker is there to render, rendered in this request because the user chose so."""
        from . import workers

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = scoped_get_or_404(request, ReportJob.objects.select_related("book"), pk, perm="reports.add_reportjob")
        changelist = redirect("admin:reports_reportjob_changelist")
        if job.status != ReportJob.Status.QUEUED:
            messages.info(request, lazy_format(_("This statement is no longer waiting (%(status)s)."),
                                               status=job.get_status_display()))
            return changelist
        rows = workers.job_rows_estimate(kind=job.kind, book=job.book, year=job.year, month=job.month)
        if not workers.job_small(rows):
            messages.error(request, lazy_format(
                _("This statement is too large to render in a request (about %(rows)s rows; at most %(limit)s): "
                  "it waits for a worker."), rows=rows, limit=settings.REPORT_INLINE_MAX_ROWS))
            return changelist
        # Claimed first: a second tab or a double click finds it no longer queued and renders nothing.
        if ReportJob.objects.filter(pk=job.pk, status=ReportJob.Status.QUEUED).update(
                status=ReportJob.Status.RUNNING, stage=str(_("rendering in the request"))) != 1:
            messages.info(request, _("This statement is already being rendered."))
            return changelist
        try:
            job = report_job_run(job_id=job.pk, claimed=True)
        except Exception as exc:
            messages.error(request, lazy_format(_("The statement could not be rendered: %(error)s"), error=exc))
            return changelist
        if job.status == ReportJob.Status.DONE:
            messages.success(request, lazy_format(_("Rendered in this request: %(stage)s."), stage=job.stage))
        else:
            messages.error(request, lazy_format(_("The statement could not be rendered: %(error)s"), error=job.error))
        return changelist

    @admin.display(description=_("status note"))
    def status_note(self, obj):
        """Why a job waits: no worker, or no broker, for longer than REPORT_QUEUED_STALE_MINUTES."""
        from . import workers

        if obj.status != ReportJob.Status.QUEUED:
            return obj.error[:200] if obj.status == ReportJob.Status.FAILED else "-"
        waited = int((timezone.now() - obj.requested_at).total_seconds() // 60)
        if obj.stage == workers.UNSENT:
            return lazy_format(_("The message queue could not be reached; it starts when a worker runs "
                                 "(waiting %(minutes)s min)."), minutes=waited)
        if waited >= settings.REPORT_QUEUED_STALE_MINUTES and workers.worker_state() != workers.LISTENING:
            return lazy_format(_("Queued for %(minutes)s min with no worker running: start one (see README.md)."),
                               minutes=waited)
        return _("waiting for a worker")
