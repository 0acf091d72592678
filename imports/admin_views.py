"""The upload pages in the admin: choose the target and the file → preview → 确认导入 or 取消.

Each ModelAdmin that takes uploads adds `upload_urls(self, kind)` to its get_urls: 银行对账单 (bank),
赔案批次 (claims), 保费应拨 (topup). The pages are thin: the staging, the checks and the import are
imports.services.
"""

from functools import partial

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from access.admin_scope import _scope_field, refuse
from core.errors import Refused
from ledger.admin_views import refusal_messages

from .models import StagedUpload
from .services import PERMISSION, upload_cancel, upload_confirm, upload_may_act, upload_stage

Kind, Status = StagedUpload.Kind, StagedUpload.Status
TITLES = {Kind.BANK: _("Upload a bank statement"), Kind.CLAIMS: _("Upload a claims file"),
          Kind.TOPUP: _("Upload a top-up table")}


class _UploadForm(forms.Form):
    file = forms.FileField(label=_("file"))


class BankUploadForm(_UploadForm):
    SOURCES = [("table", _("table (CSV, XLSX or XLS) read through a saved bank mapping")),
               ("mt940", _("SWIFT MT940")), ("camt053", _("ISO 20022 camt.053 (XML)"))]
    account = forms.ModelChoiceField(label=_("bank account"), queryset=None)
    source = forms.ChoiceField(label=_("file format"), choices=SOURCES, initial="table")
    bank = forms.ModelChoiceField(label=_("bank (saved column mapping)"), queryset=None, to_field_name="name",
                                  required=False)
    year = forms.IntegerField(label=_("year"), min_value=1900, max_value=9998, required=False)
    month = forms.IntegerField(label=_("month"), min_value=1, max_value=12, required=False)
    opening = forms.CharField(label=_("opening balance"), max_length=40, required=False,
                              help_text=_("as the statement prints it, e.g. 300,000,000.00"))
    closing = forms.CharField(label=_("closing balance"), max_length=40, required=False)
    field_order = ["account", "source", "bank", "year", "month", "opening", "closing", "file"]

    def __init__(self, *args, request, **kwargs):
        from django.db.models import Q

        from accounts.models import Account
        from reconciliation.models import BankFormat

        super().__init__(*args, **kwargs)
        bank_accounts = Account.objects.filter(Q(code__startswith="1002") | Q(code__startswith="1004"),
                                               children__isnull=True).select_related("book")
        self.fields["account"].queryset = bank_accounts
        self.fields["account"].label_from_instance = lambda a: f"{a.book.code} · {a.code} {a.name}"
        _scope_field(self.fields["account"], request)
        self.fields["bank"].queryset = BankFormat.objects.order_by("name")

    def clean(self):
        data = super().clean()
        if data.get("source") == "table":
            for key in ("bank", "year", "month", "opening", "closing"):
                if data.get(key) in (None, ""):
                    self.add_error(key, _("A table statement needs this."))
        return data

    def params(self) -> dict:
        d = self.cleaned_data
        return {"account": d["account"].pk, "source": d["source"], "bank": d["bank"].name if d["bank"] else "",
                "year": d["year"], "month": d["month"], "opening": d["opening"], "closing": d["closing"]}


class ClaimsUploadForm(_UploadForm):
    contract = forms.ModelChoiceField(label=_("contract"), queryset=None)
    field_order = ["contract", "file"]

    def __init__(self, *args, request, **kwargs):
        from contracts.models import Contract

        super().__init__(*args, **kwargs)
        self.fields["contract"].queryset = Contract.objects.select_related("insurer")
        _scope_field(self.fields["contract"], request)

    def params(self) -> dict:
        return {"contract": self.cleaned_data["contract"].pk}


class TopupUploadForm(_UploadForm):
    year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100, initial=2019)
    per_capita = forms.DecimalField(label=_("top-up per insured person (yuan)"), max_digits=8, decimal_places=2,
                                    min_value=0, initial="15")
    due = forms.DateField(label=_("due date"), initial="2019-11-30", help_text="YYYY-MM-DD")
    accept_discrepancies = forms.BooleanField(
        label=_("import although totals or per-capita × count do not hold (kept as warnings)"), required=False)
    field_order = ["year", "per_capita", "due", "accept_discrepancies", "file"]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)

    def params(self) -> dict:
        d = self.cleaned_data
        return {"year": d["year"], "per_capita": f"{d['per_capita']:.2f}", "due": d["due"].isoformat(),
                "accept_discrepancies": d["accept_discrepancies"]}


# What an import reports, as the result table names it.
RESULT_LABELS = {"statement": _("statement"), "lines": _("lines"), "matched": _("matched automatically"),
                 "balanced": _("余额调节表 balanced"), "batch": _("claims batch"), "rows": _("rows"),
                 "created": _("claims created"), "status": _("status"), "recomputed": _("claims recomputed"),
                 "oop_total": _("out-of-pocket within policy (政策范围内个人自付)"),
                 "paid_total": _("paid by the insurer (保险公司支付)"), "obligations": _("premium obligations created"),
                 "total_amount": _("total (合计)"), "year": _("year")}

FORMS = {Kind.BANK: BankUploadForm, Kind.CLAIMS: ClaimsUploadForm, Kind.TOPUP: TopupUploadForm}


def upload_urls(model_admin, kind: str) -> list:
    """The upload, preview, confirm and cancel pages under `model_admin`; its changelist gets the 上传… button
    (object-tools) unless the admin already has a changelist template of its own."""
    if model_admin.change_list_template is None:
        model_admin.change_list_template = "admin/imports/change_list.html"
    opts = model_admin.model._meta
    name = f"{opts.app_label}_{opts.model_name}_upload"
    wrap = model_admin.admin_site.admin_view
    return [
        path("upload/", wrap(partial(upload_view, model_admin, kind)), name=name),
        path("upload/<int:pk>/", wrap(partial(preview_view, model_admin, kind)), name=f"{name}_preview"),
        path("upload/<int:pk>/confirm/", wrap(partial(confirm_view, model_admin, kind)), name=f"{name}_confirm"),
        path("upload/<int:pk>/cancel/", wrap(partial(cancel_view, model_admin, kind)), name=f"{name}_cancel"),
    ]


def _url(model_admin, suffix: str = "", *args) -> str:
    opts = model_admin.model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_upload{suffix}", args=args)


def _may_upload(request, kind: str) -> None:
    if not request.user.has_perm(PERMISSION[kind]):
        raise refuse(request, reason=f"permission {PERMISSION[kind]} missing (upload)")


def _context(request, model_admin, kind, **extra) -> dict:
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta,
            "title": TITLES[kind], "kind": kind, **extra}


def upload_view(model_admin, kind, request):
    _may_upload(request, kind)
    form_class = FORMS[kind]
    problems = []
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, request=request)
        if form.is_valid():
            f = form.cleaned_data["file"]
            try:
                staged = upload_stage(kind=kind, params=form.params(), file_name=f.name, content=f, by=request.user)
            except Refused as exc:
                problems = exc.problems
                refusal_messages(request, exc, _("The file was not staged:"), action="upload_refused")
            else:
                return HttpResponseRedirect(_url(model_admin, "_preview", staged.pk))
    else:
        form = form_class(request=request)
    return TemplateResponse(request, "admin/imports/upload_form.html",
                            _context(request, model_admin, kind, form=form, problems=problems,
                                     max_mb=_max_bytes() / 1024 / 1024))


def _max_bytes() -> int:
    from django.conf import settings

    return settings.UPLOAD_MAX_BYTES


def _staged(request, kind, pk) -> StagedUpload:
    """The staged upload if this user may act on it (uploader or administrator, in scope); else 403, audited."""
    staged = StagedUpload.objects.filter(pk=pk, kind=kind).defer("content").first()
    if staged is None:
        raise Http404
    if not upload_may_act(request.user, staged):
        raise refuse(request, reason="staged upload of another user or outside the scope", obj=staged)
    return staged


def preview_view(model_admin, kind, request, pk):
    _may_upload(request, kind)
    staged = _staged(request, kind, pk)
    result_url = _result_url(staged)
    return TemplateResponse(request, "admin/imports/preview.html", _context(
        request, model_admin, kind, staged=staged, preview=staged.preview, result_url=result_url,
        result_rows=[(RESULT_LABELS.get(k, k), v) for k, v in (staged.result or {}).items() if k != "problems"],
        title=_("Preview: %(file)s") % {"file": staged.file_name},
        polling=staged.status in (Status.QUEUED, Status.IMPORTING),
        percent=int(100 * staged.progress / staged.rows) if staged.rows else 0,
        can_confirm=staged.status == Status.PREVIEWED and not staged.problems,
        can_cancel=staged.status in (Status.PREVIEWED, Status.REFUSED),
        confirm_url=_url(model_admin, "_confirm", staged.pk), cancel_url=_url(model_admin, "_cancel", staged.pk),
        again_url=_url(model_admin), list_url=reverse(
            f"admin:{model_admin.model._meta.app_label}_{model_admin.model._meta.model_name}_changelist")))


def _result_url(staged: StagedUpload) -> str:
    r = staged.result or {}
    if staged.status != Status.DONE:
        return ""
    if staged.kind == Kind.BANK and r.get("statement"):
        return reverse("admin:reconciliation_bankstatement_change", args=[r["statement"]])
    if staged.kind == Kind.CLAIMS and r.get("batch"):
        return reverse("admin:claims_claimbatch_changelist") + f"?id={r['batch']}"
    if staged.kind == Kind.TOPUP:
        return reverse("admin:contracts_premiumobligation_changelist") + f"?year={r.get('year', '')}&kind=topup"
    return ""


def confirm_view(model_admin, kind, request, pk):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _may_upload(request, kind)
    staged = _staged(request, kind, pk)
    try:
        staged = upload_confirm(staged_id=staged.pk, by=request.user, sha256=request.POST.get("sha256", ""))
    except Refused as exc:
        refusal_messages(request, exc, _("Nothing was imported:"), obj=staged)
    else:
        if staged.status == Status.DONE:
            messages.success(request, _("Imported."))
        elif staged.status == Status.QUEUED:
            messages.info(request, _("Queued for a background worker: this page shows its progress."))
        else:
            messages.error(request, _("The import was refused: nothing was written."))
    return HttpResponseRedirect(_url(model_admin, "_preview", pk))


def cancel_view(model_admin, kind, request, pk):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _may_upload(request, kind)
    staged = _staged(request, kind, pk)
    try:
        upload_cancel(staged_id=staged.pk, by=request.user)
    except Refused as exc:
        refusal_messages(request, exc, _("Not cancelled:"), obj=staged)
        return HttpResponseRedirect(_url(model_admin, "_preview", pk))
    messages.success(request, _("Cancelled: nothing was imported."))
    return HttpResponseRedirect(_url(model_admin))
