"""The demo's advances: what the basic fund advanced for each demo year's 垫付还款 claims, repaid in both books."""

from datetime import date, timedelta

from django.db.models import Max, Q, Sum

from access.demo import demo_people_of
from ledger.models import JournalEntry

from .advances import advance_approve, advance_materials_receive, advance_record, advance_repay
from .models import Claim, ClaimBatch, FundAdvance


def demo_advances_post(*, batches: list[ClaimBatch]) -> list[FundAdvance]:
    """One advance per demo claims batch, equal to its 垫付还款 claims of the year: the fund records it on
    April 7 of the next year, the insurer receives the materials (the batch) the next day and repays a week later;
    each side's accountant prepares and its reviewer posts. Safe to run twice (the references are fixed)."""
    made = []
    for batch in batches:
        cy = Claim.objects.filter(batch=batch).first().contract_year
        # The advance's year: its claims charged to it (a late claim is charged to the next year's).
        claims = Claim.objects.filter(batch=batch, channel=Claim.Channel.ADVANCE).filter(
            Q(charged_to=cy) | Q(charged_to__isnull=True, contract_year=cy))
        total = claims.aggregate(total=Sum("paid"))["total"]
        if total is None or total.amount <= 0:
            continue
        people = demo_people_of(cy.contract)
        reference = f"{cy.contract.code}-{cy.year}-垫付"
        done = FundAdvance.objects.filter(reference=reference, fund_repay_entry__status="posted").first()
        if done is not None:
            made.append(done)
            continue
        # The agency claims a year's advances in one lump after the cut-off, once the claims of the year are known.
        # Vouchers are numbered in date order within a month: never before what the two books already hold.
        latest = JournalEntry.objects.filter(book__in=[batch.book, *cy.contract.fund.books.all()],
                                             status=JournalEntry.Status.POSTED).aggregate(d=Max("date"))["d"]
        on = max(date(cy.year + 1, 4, 7), latest or date.min)
        a = advance_record(reference=reference, contract_year=cy, amount=total.amount, advanced_on=on,
                           user=people["fund"][0])
        _approve(a, people["fund"][1])
        a = advance_materials_receive(advance=a, received_on=on + timedelta(days=1), user=people["insurer"][0],
                                      claims_batch=batch)
        a = advance_repay(advance=a, on=on + timedelta(days=7), user=people["insurer"][0])
        _approve(a, people["insurer"][1])
        a = advance_repay(advance=a, on=on + timedelta(days=7), user=people["fund"][0])
        _approve(a, people["fund"][1])
        made.append(a)
    return made


def _approve(advance: FundAdvance, reviewer) -> None:
    advance.refresh_from_db()
    advance_approve(advance=advance, user=reviewer)
