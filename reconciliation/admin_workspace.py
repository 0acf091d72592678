"""The bank reconciliation workspace: per bank account and month, lines and postings side by side.

One page per BankStatement (account × month): unmatched bank lines on the left, the postings that may still be
matched (or that the 余额调节表 counts) on the right, suggested matches, the matches made, and the 余额调节表.
Every write goes through the services in `bank.py` (POST, CSRF, `reconciliation.change_bankline`, the statement
in the user's scope); the page's script posts the same forms with fetch and swaps in the re-rendered body, and
without the script the forms post and redirect back.
"""

from django.contrib import messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from access.admin_scope import refuse, scoped_get_or_404
from core.errors import Refused, problem
from ledger.admin_views import refusal_messages
from ledger.models import Posting

from .bank import bank_match, bank_unmatch
from .models import BankLine, BankStatement
from .selectors import bank_workspace

MATCH_PERM = "reconciliation.change_bankline"
FRAGMENT_HEADER = "HTTP_X_WORKSPACE"  # the page's script asks for the body fragment instead of a redirect


def urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view
    return [
        path("<int:pk>/workspace/", view(_page(model_admin)), name="reconciliation_bankstatement_workspace"),
        path("<int:pk>/workspace/match/", view(_write(model_admin, "match")),
             name="reconciliation_bankstatement_workspace_match"),
        path("<int:pk>/workspace/unmatch/", view(_write(model_admin, "unmatch")),
             name="reconciliation_bankstatement_workspace_unmatch"),
        path("<int:pk>/workspace/figures.json", view(_figures), name="reconciliation_bankstatement_workspace_figures"),
    ]


def _statement(request, pk, perm=None) -> BankStatement:
    return scoped_get_or_404(request, BankStatement.objects.select_related("account__book"), pk, perm=perm)


def report_url(statement: BankStatement, fmt: str) -> str:
    """The statement issue page, prefilled for this statement's 余额调节表."""
    return (reverse("admin:reports_reportrecord_issue") + f"?kind=bank-reconciliation&book={statement.account.book_id}"
            f"&year={statement.year}&month={statement.month}&format={fmt}")


def _context(request, model_admin, statement, *, fragment: bool) -> dict:
    ws = bank_workspace(statement=statement)
    return {
        **model_admin.admin_site.each_context(request),
        "opts": BankStatement._meta, "title": _("Bank reconciliation workspace"), "st": statement, "ws": ws,
        "r": ws.reconciliation, "fragment": fragment,
        "can_match": request.user.has_perm(MATCH_PERM),
        "match_url": reverse("admin:reconciliation_bankstatement_workspace_match", args=[statement.pk]),
        "unmatch_url": reverse("admin:reconciliation_bankstatement_workspace_unmatch", args=[statement.pk]),
        "pdf_url": report_url(statement, "pdf"), "xlsx_url": report_url(statement, "xlsx"),
    }


def _page(model_admin):
    def view(request, pk):
        statement = _statement(request, pk)
        return TemplateResponse(request, "admin/reconciliation/workspace.html",
                                _context(request, model_admin, statement, fragment=False))
    return view


def _figures(request, pk):
    """The 余额调节表 as JSON (amounts as strings with 2 decimals)."""
    r = bank_workspace(statement=_statement(request, pk)).reconciliation
    s = lambda m: f"{m.amount:.2f}"  # noqa: E731
    return JsonResponse({
        "book_balance": s(r.book_balance), "bank_balance": s(r.bank_balance),
        "bank_in_not_booked": [ln.pk for ln in r.bank_in_not_booked],
        "bank_out_not_booked": [ln.pk for ln in r.bank_out_not_booked],
        "booked_in_not_in_bank": [p.pk for p in r.booked_in_not_in_bank],
        "booked_out_not_in_bank": [p.pk for p in r.booked_out_not_in_bank],
        "adjusted_book": s(r.adjusted_book), "adjusted_bank": s(r.adjusted_bank), "balanced": r.balanced})


def _ids(request, name: str) -> list[str]:
    return [v.strip() for v in request.POST.getlist(name) if v.strip()]


def _forged(request, statement, lines: list[str], postings: list[str]) -> None:
    """An id of another statement's line, or of a posting on another account or book, was put into the form:
    refused (403) and recorded, before any service runs."""
    digits = lambda xs: [int(x) for x in xs if x.isdigit()]  # noqa: E731
    other_lines = list(BankLine.objects.filter(pk__in=digits(lines)).exclude(statement=statement)
                       .values_list("pk", flat=True))
    other_postings = list(Posting.objects.filter(pk__in=digits(postings)).exclude(account_id=statement.account_id)
                          .values_list("pk", flat=True))
    if other_lines:
        raise refuse(request, reason=f"bank lines {other_lines} are not on statement {statement.pk}", model=BankLine,
                     object_id=",".join(map(str, other_lines))[:64])
    if other_postings:
        raise refuse(request, reason=f"postings {other_postings} are not on bank account {statement.account}",
                     model=Posting, object_id=",".join(map(str, other_postings))[:64])


def _write(model_admin, action: str):
    def view(request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        statement = _statement(request, pk, perm=MATCH_PERM)
        lines, postings = _ids(request, "line"), _ids(request, "posting")
        _forged(request, statement, lines, postings)
        status, ticked = 200, {}
        try:
            bad = [v for v in lines + postings if not v.isdigit()]
            if bad:
                raise Refused([problem(str(statement), _("ids"), _("numbers"), ", ".join(bad)[:100])])
            if action == "match":
                how = "suggested" if request.POST.get("how") == "suggested" else "manual"
                done = bank_match(statement=statement, lines=lines, postings=postings, by=request.user, how=how)
                messages.success(request, _("Matched: bank lines %(lines)s.") % {
                    "lines": ", ".join(f"#{ln.line}" for ln in done)})
            else:
                line = BankLine.objects.filter(statement=statement, pk__in=lines[:1]).first()
                if line is None:
                    raise Refused([problem(str(statement), _("bank lines"), _("a line of this statement"), _("none"))])
                done = bank_unmatch(line=line, by=request.user)
                if done:
                    messages.success(request, _("Unmatched: bank lines %(lines)s.") % {
                        "lines": ", ".join(f"#{ln.line}" for ln in done)})
                else:
                    messages.warning(request, _("Bank line #%(n)s was no longer matched (someone undid it first); "
                                                "nothing changed.") % {"n": line.line})
        except Refused as exc:
            status = 409
            # Refused: the same boxes stay ticked, so the person corrects the selection instead of redoing it.
            ticked = {"ticked_lines": {int(v) for v in lines if v.isdigit()},
                      "ticked_postings": {int(v) for v in postings if v.isdigit()}}
            heading = _("Nothing matched:") if action == "match" else _("Nothing unmatched:")
            refusal_messages(request, exc, heading, obj=statement)
        if request.META.get(FRAGMENT_HEADER) == "fragment":
            return TemplateResponse(request, "admin/reconciliation/workspace_body.html",
                                    {**_context(request, model_admin, statement, fragment=True), **ticked},
                                    status=status)
        return HttpResponseRedirect(reverse("admin:reconciliation_bankstatement_workspace", args=[statement.pk]))
    return view
