"""The settlement page: figures and terms, the loss split with a reason, review by another, post."""

from datetime import date

import pytest
from django.test import Client

from contracts.models import ContractYear
from core.errors import Refused
from reconciliation.models import Settlement
from reconciliation.services import settlement_draft
from tests.reconciliation.test_settle import _claims, jincheng, people  # noqa: F401 - fixtures


def _client(user):
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def admins(django_user_model):
    return (django_user_model.objects.create_superuser("jsk", password="结算-test-pass-1"),
            django_user_model.objects.create_superuser("fh", password="复核-test-pass-1"))


def test_loss_split_review_and_post_from_the_page(jincheng, tmp_path, admins):  # noqa: F811
    preparer, reviewer = admins
    _claims(tmp_path, jincheng.contract, [("JC-9", "2019-12-01", "2019-12-05", "40000000.00")])
    with pytest.raises(Refused):  # a loss under these terms needs the split first
        settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1))
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), user=preparer, policy_loss="0.00",
                         loss_reason="初稿")
    page = _client(preparer).get(f"/admin/reconciliation/settlement/{s.pk}/change/").content.decode()
    assert "承办机构承担" in page and "18,613,027.90" in page and "retained_cap_pct" in page
    # The accountants determine 10,000,000 of it policy-caused.
    _client(preparer).post(f"/admin/reconciliation/settlement/{s.pk}/split/",
                           {"policy_loss": "10000000.00", "reason": "目录调整（医保局认定）"})
    s.refresh_from_db()
    assert (s.outcome["loss_fund"], s.loss_reason) == ("5000000.00", "目录调整（医保局认定）")
    response = _client(preparer).post(f"/admin/reconciliation/settlement/{s.pk}/review/", follow=True)
    assert any("a reviewer other than the preparer" in str(m) for m in response.context["messages"])
    _client(reviewer).post(f"/admin/reconciliation/settlement/{s.pk}/review/")
    _client(reviewer).post(f"/admin/reconciliation/settlement/{s.pk}/post/")
    s.refresh_from_db()
    assert s.status == "posted"
    page = _client(reviewer).get(f"/admin/reconciliation/settlement/{s.pk}/change/").content.decode()
    assert "分担政策性亏损" in page  # the entries it posted, linked
    assert ContractYear.objects.get(pk=jincheng.pk).settlement == Settlement.objects.get()
