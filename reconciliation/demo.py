"""The demo year end to end: premiums, top-ups, claims, the assessment, settlements and the year-end close."""

from datetime import date

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Book
from contracts.demo import demo_claims_post, demo_topups_post, demo_year_post
from contracts.models import Assessment, ContractYear

from .models import Settlement
from .services import settlement_draft, settlement_post, settlement_review, year_end_close

# (contract, year, settled on): after the March 31 cut-off, before the June 30 deadline.
SETTLE = [("SD-2015", 2015, date(2016, 6, 20)), ("JC-2019", 2019, date(2020, 6, 20))]


def _people():
    User = get_user_model()
    preparer, _ = User.objects.get_or_create(username="demo-kuaiji", defaults={"first_name": "演示会计"})
    reviewer, _ = User.objects.get_or_create(username="demo-fuhe", defaults={"first_name": "演示复核"})
    for u in (preparer, reviewer):
        if u.has_usable_password():
            continue
        u.set_unusable_password()
        u.save()
    return preparer, reviewer


@transaction.atomic
def demo_all(out_dir) -> dict:
    years = demo_year_post()
    topups = demo_topups_post()
    claims = demo_claims_post(out_dir)
    jc = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    Assessment.objects.get_or_create(contract_year=jc, defaults={"score": 85, "assessed_on": date(2020, 4, 20),
                                                                 "assessor": "晋城市医疗保障局（演示）"})
    preparer, reviewer = _people()
    settlements = []
    for code, year, on in SETTLE:
        cy = ContractYear.objects.get(contract__code=code, year=year)
        s = Settlement.objects.filter(contract_year=cy).first() or settlement_draft(
            contract_year=cy, as_of=on, user=preparer)
        if s.status == Settlement.Status.DRAFT:
            s = settlement_review(settlement=s, user=reviewer)
        settlements.append(settlement_post(settlement=s, on=on))
    closed = []
    for code, year, _ in SETTLE:
        cy = ContractYear.objects.get(contract__code=code, year=year)
        for book in (Book.objects.get(fund=cy.contract.fund), Book.objects.get(insurer=cy.contract.insurer)):
            year_end_close(book=book, year=year)
            closed.append((book, year))
    return {"years": years, "topups": topups, "claims": claims, "settlements": settlements, "closed": closed}
