"""起草结算 from the browser: the preview from the books writes nothing and shows what the service records;
the draft is refused before the cut-off, outside the user's scope (403, audited); the change page shows the
same arithmetic; the insurer books its side from the page."""

from datetime import date, timedelta

from django.test import Client
from django.utils import timezone

from access.demo import demo_people_of
from audit.models import AuditEvent
from contracts.models import ContractYear
from core.money import fmt
from reconciliation.models import Settlement
from reconciliation.services import settlement_draft, settlement_post, settlement_review
from reconciliation.settlement_preview import settlement_preview
from tests.reconciliation.test_settle import (  # noqa: F401 - fixtures
    _a_years_claims_in_one_line,
    _claims,
    jincheng,
    people,
)

DRAFT = "/admin/reconciliation/settlement/draft/"


def _client(user):
    c = Client()
    c.force_login(user)
    return c


def test_the_preview_writes_nothing_and_shows_what_the_draft_records(jincheng, people):  # noqa: F811
    preparer, _ = people
    c = _client(preparer)
    choices = c.get(DRAFT).content.decode()
    assert str(jincheng) in choices and f"?contract_year={jincheng.pk}" in choices
    before = (Settlement.objects.count(), AuditEvent.objects.filter(action="settlement_drafted").count())
    page = c.post(DRAFT, {"contract_year": jincheng.pk, "as_of": "2020-05-20", "preview": "1"}).content.decode()
    assert (Settlement.objects.count(), AuditEvent.objects.filter(action="settlement_drafted").count()) == before
    preview = settlement_preview(contract_year=jincheng, as_of=date(2020, 5, 20)).explained
    # The books' figures and the terms, side by side, and each step with the band that applied.
    for shown in ("147,333,645.00", "120,000,000.00", "3,000,000.00", "14,733,364.50",
                  "2,946,672.90", "11,786,691.60", "144,386,972.10", "21,386,972.10", "4,331,609.16",
                  "17,055,362.94", "≥ 80", "承办机构留存上限"):
        assert shown in page, shown
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=preparer)
    assert preview.outcome_json == s.outcome
    # The change page shows the same steps for what was stored.
    stored = c.get(f"/admin/reconciliation/settlement/{s.pk}/change/").content.decode()
    assert 'id="settlement-steps"' in stored and "4,331,609.16" in stored and "17,055,362.94" in stored
    assert 'id="settle-not-reviewer"' in stored and 'id="settle-draft"' not in stored


def test_drafting_from_the_page_names_the_preparer(jincheng, people):  # noqa: F811
    preparer, reviewer = people
    response = _client(preparer).post(DRAFT, {"contract_year": jincheng.pk, "as_of": "2020-05-20", "draft": "1"})
    s = Settlement.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{s.pk}/change/")
    assert (s.status, s.prepared_by, s.as_of, s.outcome["retained"]) == ("draft", preparer, date(2020, 5, 20),
                                                                         "4331609.16")
    # The changelist's add button leads to the draft page; a reviewer may not draft (403).
    assert _client(preparer).get("/admin/reconciliation/settlement/add/")["Location"] == DRAFT
    assert _client(reviewer).get(DRAFT).status_code == 403
    assert _client(reviewer).post(DRAFT, {"contract_year": jincheng.pk, "as_of": "2020-05-20"}).status_code == 403


def test_drafting_before_the_cut_off_is_refused_with_the_date(jincheng, people):  # noqa: F811
    preparer, _ = people
    c = _client(preparer)
    response = c.post(DRAFT, {"contract_year": jincheng.pk, "as_of": "2020-03-31", "draft": "1"}, follow=True)
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "2020-03-31" in shown and Settlement.objects.count() == 0
    # A year whose cut-off is still ahead is not offered, and its preview says so.
    ahead = timezone.localdate() + timedelta(days=30)
    ContractYear.objects.filter(pk=jincheng.pk).update(cutoff=ahead)
    assert f"?contract_year={jincheng.pk}" not in c.get(DRAFT).content.decode()
    page = c.get(DRAFT, {"contract_year": jincheng.pk}).content.decode()
    assert ahead.isoformat() in page and 'id="settle-draft"' not in page
    c.post(DRAFT, {"contract_year": jincheng.pk, "as_of": timezone.localdate().isoformat(), "draft": "1"})
    assert Settlement.objects.count() == 0


def test_a_contract_year_of_another_region_is_refused_and_recorded(jincheng, people):  # noqa: F811
    preparer, _ = people
    other = ContractYear.objects.exclude(contract__fund=jincheng.contract.fund).first()
    before = AuditEvent.objects.filter(action="access_refused").count()
    c = _client(preparer)
    assert c.get(DRAFT, {"contract_year": other.pk}).status_code == 403
    assert c.post(DRAFT, {"contract_year": other.pk, "as_of": "2020-05-20", "draft": "1"}).status_code == 403
    assert AuditEvent.objects.filter(action="access_refused").count() == before + 2
    assert Settlement.objects.count() == 0
    assert str(other) not in c.get(DRAFT).content.decode()


def test_the_insurer_books_its_side_from_the_page(jincheng, people):  # noqa: F811
    preparer, reviewer = people
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=preparer)
    s = settlement_post(settlement=settlement_review(settlement=s, user=reviewer), on=date(2020, 6, 20), user=reviewer)
    accountant, checker = demo_people_of(jincheng.contract)["insurer"]
    url = f"/admin/reconciliation/settlement/{s.pk}/"
    # The fund's accountant may not book the insurer's side (their scope lacks its book): 403.
    assert _client(preparer).post(url + "insurer-prepare/").status_code == 403
    page = _client(accountant).get(url + "change/").content.decode()
    assert 'id="insurer-prepare"' in page
    fund_book = jincheng.contract.fund.books.get()
    assert f"{fund_book.code}</td>" not in page  # no link into the fund's book for the insurer's people
    _client(accountant).post(url + "insurer-prepare/")
    insurer_book = jincheng.contract.insurer.books.get()
    drafts = insurer_book.entries.filter(idempotency_key__startswith=f"settlement:{jincheng.pk}:")
    assert sorted((e.status, e.made_by) for e in drafts) == [("draft", accountant)] * 2
    # Its maker may not post them; the insurer's reviewer does.
    assert 'id="insurer-approve"' not in _client(accountant).get(url + "change/").content.decode()
    assert 'id="insurer-approve"' in _client(checker).get(url + "change/").content.decode()
    _client(checker).post(url + "insurer-approve/")
    amounts = sorted(e.postings.filter(debit__gt=0).first().debit.amount for e in drafts.all())
    assert [e.status for e in drafts.all()] == ["posted", "posted"]
    assert [fmt(a) for a in amounts] == ["17,055,362.94", "17,055,362.94"]
