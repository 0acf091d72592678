"""The 建账 page of a book: its opening balances, prepared by one person and approved by another.

Thin: the form posts to ledger.opening's services; refusals come back as messages in the user's
language, each naming the account and what was wrong.
"""

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from access.admin_scope import scoped_get_or_404
from accounts.models import Book
from core.errors import Refused
from core.money import from_fen

from .admin_views import refusal_messages
from .models import Opening
from .opening import BALANCE_SHEET, opening_approve, opening_save


def opening_view(model_admin, request, pk):
    book = scoped_get_or_404(request, Book, pk, perm="ledger.view_journalentry")
    opening = Opening.objects.filter(book=book).select_related("prepared_by", "approved_by").first()
    may_prepare = request.user.has_perm("ledger.add_journalentry")
    may_approve = request.user.has_perm("ledger.post_journalentry")
    if request.method == "POST":
        action = request.POST.get("action")
        if (action == "save" and not may_prepare) or (action == "approve" and not may_approve) or action not in (
                "save", "approve"):
            raise PermissionDenied
        try:
            if action == "save":
                balances = {code: (request.POST.get(f"dr-{code}", "").strip(), request.POST.get(f"cr-{code}", "").strip())
                            for code in book.accounts.values_list("code", flat=True)}
                as_of = date.fromisoformat(request.POST.get("as_of") or "")
                opening_save(book=book, as_of=as_of, balances=balances, by=request.user)
                messages.success(request, _("Opening balances saved; they count once another person approves them."))
            else:
                opening_approve(book=book, by=request.user)
                messages.success(request, _("Opening balances approved; they are now the books' 期初 and frozen."))
        except ValueError:
            messages.error(request, _("The opening date must be a date such as 2019-01-01."))
        except Refused as exc:
            refusal_messages(request, exc, _("Nothing was saved."), obj=book)
        return HttpResponseRedirect(request.path)
    current = {line.account_id: line for line in opening.lines.all()} if opening else {}
    rows, total_dr, total_cr = [], 0, 0
    for account in book.accounts.filter(children__isnull=True, type__in=BALANCE_SHEET).order_by("code"):
        line = current.get(account.pk)
        dr = line.debit.amount if line else 0
        cr = line.credit.amount if line else 0
        total_dr += dr
        total_cr += cr
        rows.append({"account": account, "debit": f"{dr:,.2f}" if dr else "", "credit": f"{cr:,.2f}" if cr else ""})
    frozen = book.chain_length > 0 or (opening is not None and opening.status == Opening.Status.APPROVED)
    first_year = book.periods.order_by("year").values_list("year", flat=True).first()
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "book": book,
        "title": _("Opening balances (建账): %(book)s") % {"book": book}, "opening": opening, "rows": rows,
        "total_dr": from_fen(int(total_dr * 100)), "total_cr": from_fen(int(total_cr * 100)),
        "balanced": total_dr == total_cr, "frozen": frozen,
        "as_of": opening.as_of if opening else date(first_year or date.today().year, 1, 1),
        "may_prepare": may_prepare and not frozen,
        "may_approve": may_approve and not frozen and opening is not None and opening.prepared_by_id != request.user.pk,
    }
    return TemplateResponse(request, "admin/accounts/book/opening.html", context)
