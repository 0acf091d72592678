"""Accountants record and confirm premium payments in the admin; the status page shows each tranche."""

from datetime import date

import pytest

from contracts.models import ContractYear, PremiumTransfer
from contracts.reference import reference_contracts_load
from ledger.models import JournalEntry


@pytest.fixture
def admin_client_zh(client, django_user_model):
    user = django_user_model.objects.create_superuser("caiwu", password="财务-test-pass-1")
    client.force_login(user)
    return client


@pytest.fixture
def jincheng(db):
    reference_contracts_load()
    return ContractYear.objects.get(contract__code="JC-2019", year=2019)


def _post_transfer(client, cy, **overrides):
    data = {"reference": "JC-ADMIN-1", "contract_year": cy.pk, "obligation": "", "insurer": cy.contract.insurer.pk,
            "amount_0": "44200093.50", "amount_1": "CNY", "paid_on": "2019-04-26", "entered_by_side": "fund",
            "memo": "首期"}
    data.update(overrides)
    return client.post("/admin/contracts/premiumtransfer/add/", data)


def test_recording_a_transfer_posts_both_books(admin_client_zh, jincheng):
    response = _post_transfer(admin_client_zh, jincheng)
    assert response.status_code == 302, response.content.decode()[:2000]
    t = PremiumTransfer.objects.get(reference="JC-ADMIN-1")
    assert (t.amount.amount, t.in_transit) == (44200093.50, True)
    assert JournalEntry.objects.filter(idempotency_key="transfer:JC-ADMIN-1").count() == 2
    response = admin_client_zh.post("/admin/contracts/premiumtransfer/", {
        "action": "confirm_as_insurer", "_selected_action": [t.pk]})
    assert response.status_code == 302
    t.refresh_from_db()
    assert not t.in_transit and t.received_on == date(2019, 4, 26)


def test_an_overpayment_is_refused_with_the_reason_and_nothing_written(admin_client_zh, jincheng):
    response = _post_transfer(admin_client_zh, jincheng, amount_0="147333645.01")
    assert response.status_code == 200
    text = response.content.decode()
    assert "at most what is still owed, 147,333,645.00" in text and "147,333,645.01" in text
    assert not PremiumTransfer.objects.exists() and not JournalEntry.objects.exists()


def test_the_premium_status_page(admin_client_zh, jincheng):
    _post_transfer(admin_client_zh, jincheng, paid_on="2019-05-06")
    response = admin_client_zh.get(f"/admin/contracts/contractyear/{jincheng.pk}/premium-status/?as_of=2019-07-01")
    text = response.content.decode()
    assert response.status_code == 200
    assert "逾期后足额 6天" in text  # the 30% tranche arrived 6 days after April 30
    assert "逾期未足额 1天" in text  # the 60% mark, one day past June 30
    assert "待考核" in text and "147,333,645.00" in text
