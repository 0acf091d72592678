"""Reads across the books: what awaits a person's review (their notice on the admin's front page)."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from access.scope import scope_filter
from claims.models import ClaimBatch
from ledger.models import JournalEntry

from .models import Settlement


@dataclass(frozen=True)
class Awaiting:
    label: str
    count: int
    url: str


def awaiting_review(*, user) -> list[Awaiting]:
    """What someone else prepared and this user may approve, in the books of their scope; and, for whoever
    prepares, their own drafts still waiting for a reviewer. Scheduled drafts (settlements after March 31,
    year-end closing entries) show here the morning after the task ran."""
    items = []
    entries = scope_filter(JournalEntry.objects.filter(status=JournalEntry.Status.DRAFT), user)
    if user.has_perm("ledger.post_journalentry"):
        n = entries.exclude(made_by=user).count()
        items.append(Awaiting(_("Vouchers awaiting review (transfers, reversals and year-end closes included)"), n,
                              reverse("admin:ledger_journalentry_changelist") + "?status__exact=draft"))
        n = scope_filter(ClaimBatch.objects.filter(status=ClaimBatch.Status.PREPARED), user).exclude(
            prepared_by=user).count()
        items.append(Awaiting(_("Claims batches awaiting review"), n,
                              reverse("admin:claims_claimbatch_changelist") + "?status__exact=prepared"))
    if user.has_perm("reconciliation.approve_settlement"):
        settlements = scope_filter(Settlement.objects.exclude(status=Settlement.Status.POSTED), user)
        n = settlements.exclude(prepared_by=user).count()
        items.append(Awaiting(_("Settlements awaiting review or posting"), n, reverse("admin:reconciliation_settlement_changelist")))
    if user.has_perm("ledger.add_journalentry"):
        n = entries.filter(made_by=user).count()
        items.append(Awaiting(_("Vouchers I prepared, awaiting someone else's review"), n,
                              reverse("admin:ledger_journalentry_changelist") + "?status__exact=draft"))
    return [i for i in items if i.count]
