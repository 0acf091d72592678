"""Settlement pages beyond Django's own: 起草结算 (draft with a preview from the books), the arithmetic on the
change page, and the insurer's side (its accountant prepares, its reviewer posts) — thin over the services."""

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.admin_scope import refuse, scoped_get_or_404
from access.scope import in_scope, scope_filter
from access.sides import party_side
from accounts.models import Book
from contracts.display import terms_table
from contracts.models import ContractYear
from core.errors import Refused, describe
from core.money import YuanFormField
from ledger.admin_views import refusal_messages
from ledger.models import JournalEntry

from .models import Settlement
from .services import settlement_draft, settlement_insurer_approve, settlement_insurer_prepare
from .settlement_preview import contract_years_to_settle, settlement_explained, settlement_preview

DRAFT_PERM = "reconciliation.add_settlement"  # what `settle --as` checks of a fund accountant


# Typed as accountants write amounts (10,000,000.00): a text box, not a number spinner.
AMOUNT_INPUT = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})


class DraftForm(forms.Form):
    contract_year = forms.IntegerField(widget=forms.HiddenInput)
    as_of = forms.DateField(label=_("as of"), widget=forms.DateInput(attrs={"type": "date"}))
    policy_loss = YuanFormField(label=_("policy-caused loss"), max_digits=17, decimal_places=2, min_value=0,
                                required=False, widget=AMOUNT_INPUT)
    reason = forms.CharField(label=_("reason"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    unpaid_reason = forms.CharField(
        label=_("decision on the unpaid premium (settled on what was owed, netted)"), required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


def _contract_year(request, raw):
    """The contract year named in the request, if the user's scope holds it and they may draft; 403 (audited)
    for one outside their scope, 404 for none."""
    return scoped_get_or_404(request, ContractYear.objects.select_related("contract__fund", "contract__insurer"),
                             raw, perm=DRAFT_PERM)


def draft_view(model_admin, request):
    """GET: choose a contract year, then see what the draft would record (nothing written). POST: draft it."""
    if not model_admin.has_add_permission(request):
        raise refuse(request, reason=f"permission {DRAFT_PERM} missing", model=Settlement)
    today = timezone.localdate()
    data = request.POST if request.method == "POST" else request.GET
    context = {**model_admin.admin_site.each_context(request), "opts": Settlement._meta,
               "title": _("Draft a settlement (起草结算)"),
               "choices": contract_years_to_settle(user=request.user, today=today)}
    raw = data.get("contract_year")
    if not raw:
        return TemplateResponse(request, "admin/reconciliation/settlement/draft.html", context)
    cy = _contract_year(request, raw)
    as_of, policy_loss, reason, unpaid_reason = today, None, "", None
    if "as_of" in data:
        form = DraftForm(data)
        if form.is_valid():
            as_of = form.cleaned_data["as_of"]
            policy_loss = form.cleaned_data["policy_loss"]
            reason = form.cleaned_data["reason"] or ""
            unpaid_reason = form.cleaned_data["unpaid_reason"] or None
        else:
            for name, errors in form.errors.items():
                for e in errors:
                    messages.error(request, f"{form.fields[name].label if name in form.fields else name}: {e}")
            return HttpResponseRedirect(request.path + f"?contract_year={cy.pk}")
    else:
        form = DraftForm(initial={"contract_year": cy.pk, "as_of": today})
    if request.method == "POST" and not data.get("preview"):
        try:
            s = settlement_draft(contract_year=cy, as_of=as_of, user=request.user, policy_loss=policy_loss,
                                 loss_reason=reason, unpaid_reason=unpaid_reason)
        except Refused as exc:
            refusal_messages(request, exc, _("Nothing was drafted:"), obj=cy)
            return HttpResponseRedirect(request.path + f"?contract_year={cy.pk}&as_of={as_of.isoformat()}")
        if s.status != Settlement.Status.DRAFT:
            messages.warning(request, _("This settlement is already %(status)s: nothing was recomputed.")
                             % {"status": s.get_status_display()})
        else:
            messages.success(request, _("Drafted; a reviewer other than you reviews and posts it."))
        return HttpResponseRedirect(reverse("admin:reconciliation_settlement_change", args=[s.pk]))
    preview = settlement_preview(contract_year=cy, as_of=as_of, policy_loss=policy_loss, unpaid_reason=unpaid_reason)
    context.update(cy=cy, preview=preview, explained=preview.explained, form=form,
                   problems=[describe(p) for p in preview.explained.problems if not preview.explained.needs_policy_loss],
                   terms=terms_table(cy.settlement_terms),
                   title=_("Draft the settlement of %(year)s (起草结算)") % {"year": cy})
    return TemplateResponse(request, "admin/reconciliation/settlement/draft.html", context)


def _entries_of(s: Settlement, user):
    """The settlement's vouchers in both books, each with the book it is in; only those the user's scope holds."""
    entries = JournalEntry.objects.filter(idempotency_key__startswith=f"settlement:{s.contract_year_id}:",
                                          book__in=[b for b in _books(s)]).select_related("book").order_by("book", "pk")
    return list(scope_filter(entries, user).select_related("book"))


def _books(s: Settlement) -> list[Book]:
    contract = s.contract_year.contract
    return list(Book.objects.filter(fund=contract.fund)) + list(Book.objects.filter(insurer=contract.insurer))


def change_context(request, s: Settlement) -> dict:
    """What the change page shows beyond the fields: the arithmetic, the vouchers (scoped), the insurer's buttons."""
    contract = s.contract_year.contract
    side = party_side(request.user, fund=contract.fund, insurer=contract.insurer)
    insurer_book = Book.objects.filter(insurer=contract.insurer).first()
    entries = _entries_of(s, request.user)
    insurer_entries = [e for e in entries if e.book_id == getattr(insurer_book, "pk", None)]
    drafts = [e for e in insurer_entries if e.status == JournalEntry.Status.DRAFT]
    posted = s.status == Settlement.Status.POSTED
    return {
        "explained": settlement_explained(settlement=s),
        "settlement_entries": entries,
        "insurer_may_prepare": posted and side == "insurer" and request.user.has_perm("ledger.add_journalentry")
        and not any(e.status == JournalEntry.Status.POSTED for e in insurer_entries),
        "insurer_may_approve": posted and bool(drafts) and request.user.has_perm("ledger.post_journalentry")
        and insurer_book is not None and in_scope(request.user, insurer_book),
        "insurer_drafts": drafts,
        "next_year_obligations": _next_year_obligations(s),
    }


def _next_year_obligations(s: Settlement):
    """What the posted settlement left to the next contract year (the carried surplus, a loss share owed)."""
    from contracts.models import PremiumObligation

    keys = [k.removeprefix("obligation ") for k in (s.entry_keys or []) if k.startswith("obligation ")]
    return list(PremiumObligation.objects.filter(key__in=keys).select_related("contract_year__contract"))


def insurer_view(action):
    """The insurer's accountant prepares its side in its own book; the insurer's reviewer posts it."""
    perm = {"prepare": "ledger.add_journalentry", "approve": "ledger.post_journalentry"}[action]

    def view(request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        s = scoped_get_or_404(request, Settlement, pk, perm=perm)
        insurer_book = Book.objects.filter(insurer=s.contract_year.contract.insurer).first()
        if insurer_book is None or not in_scope(request.user, insurer_book):
            raise refuse(request, reason="the insurer's book is outside the user's scope", obj=s)
        try:
            if action == "prepare":
                drafts = settlement_insurer_prepare(settlement=s, user=request.user)
                messages.success(request, _("%(n)s voucher(s) prepared in the insurer's book for its reviewer.")
                                 % {"n": len(drafts)})
            else:
                posted = settlement_insurer_approve(settlement=s, user=request.user)
                messages.success(request, _("%(n)s voucher(s) posted in the insurer's book.") % {"n": len(posted)})
        except Refused as exc:
            refusal_messages(request, exc, _("Nothing changed:"), obj=s)
        return HttpResponseRedirect(reverse("admin:reconciliation_settlement_change", args=[pk]))
    return view
