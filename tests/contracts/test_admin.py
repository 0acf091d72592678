"""Accountants record and confirm premium payments in the admin, each in their own book; reviewers post them;
the status page shows each tranche."""

from datetime import date

import pytest
from django.test import Client

from audit.models import AuditEvent
from contracts.models import ContractYear, PremiumTransfer
from ledger.models import JournalEntry


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def jincheng(jincheng_people):
    return ContractYear.objects.get(contract__code="JC-2019", year=2019)


@pytest.fixture
def desks(jincheng_people):
    """李敏 and 张伟 at the fund, 刘洋 and 周婷 at China Life Jincheng, each signed in at their own desk."""
    (limin, zhangwei), (liuyang, zhouting) = jincheng_people["fund"], jincheng_people["insurer"]
    return {"limin": _client(limin), "zhangwei": _client(zhangwei), "liuyang": _client(liuyang),
            "zhouting": _client(zhouting)}


def _post_transfer(client, cy, **overrides):
    data = {"reference": "JC-ADMIN-1", "contract_year": cy.pk, "obligation": "", "insurer": cy.contract.insurer.pk,
            "amount_0": "44200093.50", "amount_1": "CNY", "paid_on": "2019-04-26", "memo": "首期"}
    data.update(overrides)
    return client.post("/admin/contracts/premiumtransfer/add/", data)


def _action(client, action, t):
    return client.post("/admin/contracts/premiumtransfer/", {"action": action, "_selected_action": [t.pk]},
                       follow=True)


def test_each_side_books_its_own_half_and_a_reviewer_posts_it(desks, jincheng):
    # The fund's accountant records the payment; a forged "entered by: insurer" field changes nothing.
    response = _post_transfer(desks["limin"], jincheng, entered_by_side="insurer")
    assert response.status_code == 302, response.content.decode()[:2000]
    t = PremiumTransfer.objects.get(reference="JC-ADMIN-1")
    assert (t.entered_by_side, t.insurer_entry, t.fund_entry.status) == ("fund", None, "draft")
    assert list(JournalEntry.objects.values_list("book__code", "status")) == [("FUND-1405", "draft")]
    # The accountant cannot post it; the fund's reviewer does.
    assert desks["limin"].post("/admin/contracts/premiumtransfer/", {
        "action": "approve", "_selected_action": [t.pk]}).status_code == 403
    _action(desks["zhangwei"], "approve", t)
    t.refresh_from_db()
    assert t.fund_confirmed and t.in_transit
    # The insurer's accountant confirms the receipt in the insurer's book; the insurer's reviewer posts it.
    _action(desks["liuyang"], "confirm_own_side", t)
    _action(desks["zhouting"], "approve", t)
    t.refresh_from_db()
    assert not t.in_transit and t.received_on == date(2019, 4, 26)
    entries = JournalEntry.objects.filter(idempotency_key="transfer:JC-ADMIN-1").order_by("book__code")
    assert [(e.book.code, e.made_by.username, e.reviewed_by.username) for e in entries] == [
        ("CLIC-1405-DB", "clic1405-liuyang", "clic1405-zhouting"), ("FUND-1405", "jc-limin", "jc-zhangwei")]


def test_an_amount_is_typed_with_thousands_separators(desks, jincheng):
    response = _post_transfer(desks["limin"], jincheng, amount_0="24,200,093.50", reference="JC-SEP")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert str(PremiumTransfer.objects.get(reference="JC-SEP").amount.amount) == "24200093.50"


def test_a_reviewer_or_an_auditor_records_nothing(desks, jincheng, jincheng_people):
    assert _post_transfer(desks["zhangwei"], jincheng).status_code == 403
    assert not PremiumTransfer.objects.exists()
    refused = AuditEvent.objects.filter(action="access_refused", actor="jc-zhangwei")
    assert refused.count() == 1


def test_an_overpayment_is_refused_with_the_reason_and_nothing_written(desks, jincheng):
    response = _post_transfer(desks["limin"], jincheng, amount_0="147333645.01")
    assert response.status_code == 200
    text = response.content.decode()
    assert "147,333,645.00" in text and "147,333,645.01" in text
    assert not PremiumTransfer.objects.exists() and not JournalEntry.objects.exists()
    # The attempt is in the trail: who tried to record what, and why it was refused.
    event = AuditEvent.objects.get(action="transfer_recorded", outcome="refused")
    assert (event.actor, event.detail["reference"], event.detail["amount"]) == (
        "jc-limin", "JC-ADMIN-1", "147333645.01")
    assert "147,333,645.00" in event.detail["problems"][0]


def test_the_premium_status_page(desks, jincheng):
    _post_transfer(desks["limin"], jincheng, paid_on="2019-05-06")
    _action(desks["zhangwei"], "approve", PremiumTransfer.objects.get())
    response = desks["zhangwei"].get(
        f"/admin/contracts/contractyear/{jincheng.pk}/premium-status/?as_of=2019-07-01")
    text = response.content.decode()
    assert response.status_code == 200
    # Paid by the fund on May 6, 6 days after April 30, not yet confirmed by the insurer: in transit.
    assert "已拨付待确认 6天" in text and "逾期后足额" not in text
    assert "逾期未足额 1天" in text  # the 60% mark, one day past June 30
    assert "待考核" in text and "147,333,645.00" in text
    # The insurer confirms the money arrived on May 6; now it is received, 6 days late.
    t = PremiumTransfer.objects.get()
    _action(desks["liuyang"], "confirm_own_side", t)
    _action(desks["zhouting"], "approve", t)
    text = desks["zhangwei"].get(
        f"/admin/contracts/contractyear/{jincheng.pk}/premium-status/?as_of=2019-07-01").content.decode()
    assert "逾期后足额 6天" in text and "已拨付待确认" not in text
