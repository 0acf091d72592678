"""Policies are edited in the admin and re-checked whole; the discrepancy report lists the wrong payments."""

import json

import pytest

from bench.claims_data import write_claims
from claims.models import BenefitPolicy
from claims.policies import policies_load, policy_get
from claims.services import claims_import, claims_recompute
from contracts.models import ContractYear


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("yibao", password="医保-test-pass-1"))
    return client


def test_editing_a_policy_is_checked(staff, db):
    policies_load()
    p = BenefitPolicy.objects.get(code="shandong-2015")
    bad = {**p.definition, "groups": {"general": {"deductible": "12000",
                                                   "bands": [["12000", "0.5"], ["10000", "0.6"]], "cap": "300000"}}}
    response = staff.post(f"/admin/claims/benefitpolicy/{p.pk}/change/", {
        "code": p.code, "year": p.year, "name": p.name, "source": p.source, "definition": json.dumps(bad)})
    assert response.status_code == 200 and "第 2 段起点 —— 应为大于 12000" in response.content.decode()
    good = {**p.definition, "groups": {"general": {**p.definition["groups"]["general"], "cap": "350000"}}}
    response = staff.post(f"/admin/claims/benefitpolicy/{p.pk}/change/", {
        "code": p.code, "year": p.year, "name": p.name, "source": p.source, "definition": json.dumps(good)})
    assert response.status_code == 302
    assert policy_get(code="shandong-2015").rule("general").cap == 350000  # the stored policy wins


def test_a_batch_is_reviewed_on_its_discrepancy_report_and_posted_by_the_reviewer(jincheng_people, tmp_path):
    # 刘洋 imports the file; 周婷 reads the batch's discrepancies (the planted wrong payments) and posts it.
    from django.test import Client

    from claims.models import ClaimBatch
    from ledger.models import JournalEntry

    cy = ContractYear.objects.get(contract__code="JC-2019")
    (liuyang, zhouting) = jincheng_people["insurer"]
    made = write_claims(tmp_path / "y.csv", n_claims=500, year=2019, policy=policy_get(code="shanxi-2019"),
                        wrong=3, hospitals=8, seed=11, late_share=0)
    batch = claims_import(path=tmp_path / "y.csv", contract=cy.contract, by=liuyang).batch
    claims_recompute(contract_year=cy)
    reviewer = Client()
    reviewer.force_login(zhouting)
    listing = reviewer.get("/admin/claims/claimbatch/").content.decode()
    assert "待审核" in listing and f"?batch={batch.pk}" in listing
    page = reviewer.get(f"/admin/claims/claim/report/{cy.pk}/?batch={batch.pk}").content.decode()
    assert "不一致 <b>3</b> 笔" in page
    for claim_no in made["wrong"]:
        assert claim_no in page
    assert "按定点医疗机构合计" in page and "定点医院0001" in page  # the batch's own totals
    # The preparer has no 审核 right: the forged action is refused; the reviewer's posts the batch.
    preparer = Client()
    preparer.force_login(liuyang)
    assert preparer.post("/admin/claims/claimbatch/", {"action": "approve",
                                                      "_selected_action": [batch.pk]}).status_code == 403
    assert not JournalEntry.objects.exists()
    reviewer.post("/admin/claims/claimbatch/", {"action": "approve", "_selected_action": [batch.pk]})
    batch = ClaimBatch.objects.get(pk=batch.pk)
    assert (batch.status, batch.reviewed_by) == ("posted", zhouting)
    page = reviewer.get(f"/admin/claims/claim/report/{cy.pk}/").content.decode()
    assert "不一致 <b>3</b> 笔" in page and "按定点医疗机构合计" in page and "定点医院0001" in page


def test_a_big_years_report_counts_no_further_than_it_shows_and_links_the_exact_totals(
        jincheng_people, tmp_path, monkeypatch):
    # A year bigger than the report draws inline (here: over 100 claims; in use 20,000): the first screen says
    # "more than 100" instead of counting every claim, and the totals behind the link give the exact count.
    from django.test import Client

    from claims import admin as claims_admin

    monkeypatch.setattr(claims_admin, "REPORT_TOTALS_INLINE", 100)
    cy = ContractYear.objects.get(contract__code="JC-2019")
    (liuyang, zhouting) = jincheng_people["insurer"]
    write_claims(tmp_path / "y.csv", n_claims=250, year=2019, policy=policy_get(code="shanxi-2019"),
                 wrong=2, hospitals=4, seed=5, late_share=0)
    batch = claims_import(path=tmp_path / "y.csv", contract=cy.contract, by=liuyang).batch
    claims_recompute(contract_year=cy)
    reviewer = Client()
    reviewer.force_login(zhouting)
    first = reviewer.get(f"/admin/claims/claim/report/{cy.pk}/?batch={batch.pk}").content.decode()
    assert "超过 100 笔" in first and "不一致 <b>2</b> 笔" in first
    assert "按定点医疗机构合计" not in first and "totals=1" in first
    totals = reviewer.get(f"/admin/claims/claim/report/{cy.pk}/?batch={batch.pk}&totals=1").content.decode()
    assert "：250 笔" in totals and "按定点医疗机构合计" in totals


def test_the_claims_list_finds_a_claim_number_by_its_beginning_through_its_index(staff, jincheng_people, tmp_path):
    from django.db import connection

    from claims.admin import ClaimAdmin
    from claims.models import Claim

    cy = ContractYear.objects.get(contract__code="JC-2019")
    write_claims(tmp_path / "y.csv", n_claims=300, year=2019, policy=policy_get(code="shanxi-2019"), hospitals=4,
                 seed=2, late_share=0)
    claims_import(path=tmp_path / "y.csv", contract=cy.contract, by=jincheng_people["insurer"][0])
    page = staff.get("/admin/claims/claim/", {"q": "2019-0000012"}).content.decode()
    # 2019-00000120 … 2019-00000129: the ten claims whose number begins so, and no other
    shown = {no for no in Claim.objects.values_list("claim_no", flat=True) if f">{no}<" in page}
    assert shown == {f"2019-{n:08d}" for n in range(120, 130)}
    assert staff.get("/admin/claims/claim/", {"q": "2019-0000012"}).context["cl"].result_count == 10
    if connection.vendor == "sqlite":
        admin = ClaimAdmin(Claim, None)
        queryset, _ = admin.get_search_results(None, Claim.objects.all(), "2019-0000012")
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        assert "claim_no_prefix" in plan or "claim_number_once_per_book" in plan or "INDEX" in plan, plan
        assert "SCAN claims_claim" not in plan, plan
