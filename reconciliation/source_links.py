"""Where the vouchers of the documents above the ledger come from (ledger.sources.source_document): a premium
transfer's (its fund_entry / insurer_entry), a claims batch's (source "claims batch N"), a settlement's (key
settlement:<contract year>:…). Registered at start-up (ReconciliationConfig.ready); the ledger imports none of it."""

import re

from ledger.sources import source_finder_register

_BATCH = re.compile(r"claims batch (\d+)")


def _transfer(entry):
    if entry.source != "premium-transfer":
        return None
    from django.db.models import Q

    from contracts.models import PremiumTransfer

    return PremiumTransfer.objects.filter(Q(fund_entry=entry) | Q(insurer_entry=entry)).first()


def _claims_batch(entry):
    match = _BATCH.fullmatch(entry.source or "")
    if match is None:
        return None
    from claims.models import ClaimBatch

    return ClaimBatch.objects.filter(pk=match.group(1), book=entry.book_id).first()


def _settlement(entry):
    key = entry.idempotency_key or ""
    if entry.source != "settlement" or not key.startswith("settlement:"):
        return None
    from .models import Settlement

    cy = key.split(":")[1]
    return Settlement.objects.filter(contract_year_id=cy).first() if cy.isdigit() else None


def register() -> None:
    for finder in (_transfer, _claims_batch, _settlement):
        source_finder_register(finder)
