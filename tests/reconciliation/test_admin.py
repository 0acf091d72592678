"""The settlement page: figures and terms, the loss split with a reason, review by another, post."""

from datetime import date

import pytest
from django.test import Client

from contracts.models import ContractYear
from core.errors import Refused
from reconciliation.models import Settlement
from reconciliation.services import settlement_draft
from tests.reconciliation.test_settle import (  # noqa: F401 - fixtures
    _a_years_claims_in_one_line,
    _claims,
    jincheng,
    people,
)


def _client(user):
    c = Client()
    c.force_login(user)
    return c


def test_loss_split_review_and_post_from_the_page(jincheng, tmp_path, people):  # noqa: F811
    # 李敏 (the fund's accountant) drafts it and determines the split; 张伟 (the reviewer) reviews and posts.
    preparer, reviewer = people
    _claims(tmp_path, jincheng.contract, [("JC-9", "2019-12-01", "2019-12-05", "40000000.00")])
    with pytest.raises(Refused):  # a loss under these terms needs the split first
        settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), user=preparer)
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), user=preparer, policy_loss="0.00",
                         loss_reason="初稿")
    page = _client(preparer).get(f"/admin/reconciliation/settlement/{s.pk}/change/").content.decode()
    assert "承办机构承担" in page and "18,613,027.90" in page and "承办机构留存上限" in page  # the terms, in words
    # The reviewer may not enter the split (it is the accountants' determination): 403, nothing changed.
    assert _client(reviewer).post(f"/admin/reconciliation/settlement/{s.pk}/split/",
                                  {"policy_loss": "1.00", "reason": "审核人改"}).status_code == 403
    # The accountants determine 10,000,000 of it policy-caused.
    _client(preparer).post(f"/admin/reconciliation/settlement/{s.pk}/split/",
                           {"policy_loss": "10000000.00", "reason": "目录调整（医保局认定）"})
    s.refresh_from_db()
    assert (s.outcome["loss_fund"], s.loss_reason, s.prepared_by) == ("5000000.00", "目录调整（医保局认定）", preparer)
    # The preparer may not review (no right to): 403; the reviewer reviews and posts.
    assert _client(preparer).post(f"/admin/reconciliation/settlement/{s.pk}/review/").status_code == 403
    _client(reviewer).post(f"/admin/reconciliation/settlement/{s.pk}/review/")
    _client(reviewer).post(f"/admin/reconciliation/settlement/{s.pk}/post/")
    s.refresh_from_db()
    assert (s.status, s.reviewed_by, s.posted_by) == ("posted", reviewer, reviewer)
    page = _client(reviewer).get(f"/admin/reconciliation/settlement/{s.pk}/change/").content.decode()
    assert "分担政策性亏损" in page  # the entries it posted, linked
    assert ContractYear.objects.get(pk=jincheng.pk).settlement == Settlement.objects.get()


def test_an_administrator_who_prepared_a_settlement_is_refused_reviewing_it(jincheng, django_user_model):  # noqa: F811
    from tests.conftest import person

    chief = person("chief", "钱主任", "administrator")
    chief.is_superuser = True
    chief.save()
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=chief)
    response = _client(chief).post(f"/admin/reconciliation/settlement/{s.pk}/review/", follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["未作任何更改：", "JC-2019 2019 年度结算：审核人 —— 应为制单人以外的审核人，实为同一人"]
    s.refresh_from_db()
    assert (s.status, s.reviewed_by) == ("draft", None)


def test_what_a_schedule_prepared_awaits_the_reviewer_on_the_front_page(jincheng, people):  # noqa: F811
    # The 02:00 task drafted the settlement for 李敏; the next morning 张伟's front page says so.
    from reconciliation.tasks import settlement_drafts

    assert settlement_drafts.apply(kwargs={"as_of": "2020-04-01", "acts_for": people[0].username}).get() == 1
    page = _client(people[1]).get("/admin/").content.decode()
    assert 'id="awaiting-review"' in page and "待审核或待记账的年度结算" in page
    own = _client(people[0]).get("/admin/").content.decode()
    assert "待审核或待记账的年度结算" not in own  # the preparer is not asked to review their own
