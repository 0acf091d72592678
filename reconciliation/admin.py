"""Admin for annual settlements (figures, terms, the loss split, review and post) and missed deadlines."""

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from access.admin_scope import scoped_get_or_404
from access.roles import is_administrator
from contracts.display import terms_table
from core.errors import Refused
from core.exports import ListExport
from core.money import YuanFormField, fmt
from ledger.admin_views import refusal_messages
from ledger.models import Posting

from .bank import bank_match_auto, bank_match_manual, bank_reconciliation, bank_unmatch
from .exports import BankLineResource
from .management.commands.settlement_calc import LABELS
from .models import BankLine, BankStatement, Deadline, Settlement
from .services import settlement_delete, settlement_draft, settlement_post, settlement_review


class LossSplitForm(forms.Form):
    policy_loss = YuanFormField(label=_("policy-caused loss"), max_digits=17, decimal_places=2, min_value=0,
                                widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


@admin.register(Settlement)
class SettlementAdmin(admin.ModelAdmin):
    list_display = ("contract_year", "status", "as_of", "premium_shown", "claims_shown", "result_shown",
                    "prepared_by", "reviewed_by")
    list_filter = ("status", "contract_year__year")
    change_form_template = "admin/reconciliation/settlement/change_form.html"
    readonly_fields = ("contract_year", "status", "as_of", "premium", "claims", "cost", "deposit", "score",
                       "policy_loss", "loss_reason", "terms_shown", "outcome_shown",
                       "prepared_by", "reviewed_by", "posted_by", "posted_at")
    fields = readonly_fields

    def has_add_permission(self, request):
        # Drafted from the books (起草结算, `settle --as`, or the scheduled task), never typed in: Django's own
        # check (reconciliation.add_settlement, a fund accountant's) decides who may; the page is the draft page.
        return super().has_add_permission(request)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:reconciliation_settlement_draft"))

    def has_delete_permission(self, request, obj=None):
        # A draft is withdrawn by its preparer (or an administrator), never by anyone else.
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or (obj.status == Settlement.Status.DRAFT
                               and (obj.prepared_by_id == request.user.pk or is_administrator(request.user)))

    def has_change_permission(self, request, obj=None):
        return False  # figures come from the books; the page's own buttons review, split and post

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one by one, through the service that records it
        return actions

    def delete_model(self, request, obj):
        settlement_delete(settlement=obj, user=request.user)

    @admin.display(description=_("premium P"))
    def premium_shown(self, obj):
        return fmt(obj.premium)

    @admin.display(description=_("claims C"))
    def claims_shown(self, obj):
        return fmt(obj.claims)

    @admin.display(description=_("result"))
    def result_shown(self, obj):
        o = obj.outcome
        if Decimal(o["loss"]):
            return f"亏损 {fmt(Decimal(o['loss']))}"
        return f"留存 {fmt(Decimal(o['retained']))}，返还 {fmt(Decimal(o['surplus_returned']))}，" \
               f"结转 {fmt(Decimal(o['surplus_carried']))}"

    @admin.display(description=_("terms applied"))
    def terms_shown(self, obj):
        return terms_table(obj.terms)

    @admin.display(description=_("outcome"))
    def outcome_shown(self, obj):
        rows = [(LABELS[k], fmt(Decimal(v))) for k, v in obj.outcome.items()]
        return format_html("<table>{}</table>", format_html_join(
            "", '<tr><td>{}</td><td style="text-align:right">{}</td></tr>', rows))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from .admin_settlement import change_context

        extra = {"loss_form": LossSplitForm(), **(extra_context or {})}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra.update(change_context(request, obj))
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        view = self.admin_site.admin_view
        from .admin_settlement import draft_view, insurer_view

        return [
            path("draft/", view(lambda request: draft_view(self, request)), name="reconciliation_settlement_draft"),
            path("<int:pk>/insurer-prepare/", view(insurer_view("prepare")),
                 name="reconciliation_settlement_insurer_prepare"),
            path("<int:pk>/insurer-approve/", view(insurer_view("approve")),
                 name="reconciliation_settlement_insurer_approve"),
            path("<int:pk>/review/", view(self.action_view("review")), name="reconciliation_settlement_review"),
            path("<int:pk>/post/", view(self.action_view("post")), name="reconciliation_settlement_post"),
            path("<int:pk>/split/", view(self.action_view("split")), name="reconciliation_settlement_split"),
        ] + super().get_urls()

    # Reviewing and posting are the reviewer's; the loss split is the accountants' determination
    # (whoever enters it becomes the draft's preparer, so someone else reviews it).
    PERMS = {"review": "reconciliation.approve_settlement", "post": "reconciliation.approve_settlement",
             "split": "reconciliation.change_settlement"}

    def action_view(self, action):
        def view(request, pk):
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            s = scoped_get_or_404(request, Settlement, pk, perm=self.PERMS[action])
            try:
                if action == "review":
                    settlement_review(settlement=s, user=request.user)
                    messages.success(request, _("Reviewed."))
                elif action == "post":
                    settlement_post(settlement=s, user=request.user)
                    messages.success(request, _("Posted in both books."))
                else:
                    form = LossSplitForm(request.POST)
                    if not form.is_valid():
                        for errors in form.errors.values():
                            for e in errors:
                                messages.error(request, e)
                    else:
                        settlement_draft(contract_year=s.contract_year, as_of=s.as_of, user=request.user,
                                         policy_loss=form.cleaned_data["policy_loss"],
                                         loss_reason=form.cleaned_data["reason"])
                        messages.success(request, _("Loss split recorded; the draft is recomputed."))
            except Refused as exc:
                refusal_messages(request, exc, _("Nothing changed:"))
            return HttpResponseRedirect(reverse("admin:reconciliation_settlement_change", args=[pk]))
        return view


@admin.register(Deadline)
class DeadlineAdmin(admin.ModelAdmin):
    list_display = ("contract_year", "kind", "due", "noticed_on", "settlement_status")
    list_filter = ("kind",)

    @admin.display(description=_("settlement"))
    def settlement_status(self, obj):
        s = getattr(obj.contract_year, "settlement", None)
        return s.get_status_display() if s else _("not drafted")

    def has_add_permission(self, request):
        return False


@admin.display(description=_("matched by"))
def _matched_by(obj):
    return obj.matched_by_shown


class BankLineInline(admin.TabularInline):
    model = BankLine
    fields = ("line", "date", "amount", "description", "reference", "counterparty", "matched_by_shown", "matched_at")
    readonly_fields = fields
    matched_by_shown = staticmethod(_matched_by)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BankStatement)
class BankStatementAdmin(admin.ModelAdmin):
    list_display = ("account", "year", "month", "opening", "closing", "balanced_shown", "workspace_link",
                    "imported_at")
    inlines = [BankLineInline]
    actions = ["auto_match"]
    readonly_fields = ("account", "year", "month", "opening", "closing", "file_sha256", "imported_at",
                       "workspace_link")

    def has_add_permission(self, request):
        return False  # uploaded through the preview page (admin_uploads), checked whole

    @admin.display(description=_("对账"))
    def workspace_link(self, obj):
        # The reconciliation workspace of this account × month (admin_workspace): lines, postings, 余额调节表.
        if obj is None or obj.pk is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:reconciliation_bankstatement_workspace",
                                                          args=[obj.pk]), _("Reconcile"))

    def get_urls(self):
        from . import admin_uploads, admin_workspace

        return admin_uploads.urls(self) + admin_workspace.urls(self) + super().get_urls()

    @admin.display(description=_("余额调节表"), boolean=True)
    def balanced_shown(self, obj):
        return bank_reconciliation(statement=obj).balanced

    def has_match_permission(self, request):
        return super().has_view_permission(request) and request.user.has_perm("reconciliation.change_bankline")

    @admin.action(description=_("Match automatically"), permissions=["match"])
    def auto_match(self, request, queryset):
        for st in queryset:
            n = bank_match_auto(statement=st, by=request.user.get_username())
            messages.success(request, _("%(st)s: %(n)s matches") % {"st": st, "n": n})


class BankLineForm(forms.ModelForm):
    class Meta:
        model = BankLine
        fields = ("matched",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        line = self.instance
        start = line.date - timedelta(days=10)
        self.fields["matched"].queryset = Posting.objects.filter(
            account=line.statement.account, entry__status="posted", entry__date__gte=start,
            entry__date__lte=line.date + timedelta(days=10)).select_related("entry")
        self.fields["matched"].required = False


@admin.register(BankLine)
class BankLineAdmin(ListExport, admin.ModelAdmin):
    """Manual match and unmatch, recorded with who and when."""

    resource_classes = [BankLineResource]  # 导出 (reconciliation.exports)

    form = BankLineForm
    list_display = ("statement", "line", "date", "amount", "description", "reference", "matched_by_shown",
                    "matched_at")
    list_filter = ("statement",)
    actions = ["unmatch"]
    matched_by_shown = staticmethod(_matched_by)

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        pass

    def save_related(self, request, form, formsets, change):
        postings = list(form.cleaned_data.get("matched") or [])
        who = request.user.get_username()
        try:
            if postings:
                bank_match_manual(line=form.instance, postings=postings, by=who)
            else:
                bank_unmatch(line=form.instance, by=who)
        except Refused as exc:
            request._bank_match_refused = True
            refusal_messages(request, exc, _("%(line)s: nothing changed:") % {"line": form.instance})

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        # Django's "changed successfully" would contradict the refusal just shown.
        if getattr(request, "_bank_match_refused", False) and level == messages.SUCCESS:
            return
        super().message_user(request, message, level, *args, **kwargs)

    @admin.action(description=_("Unmatch"), permissions=["change"])
    def unmatch(self, request, queryset):
        for line in queryset:
            bank_unmatch(line=line, by=request.user.get_username())
