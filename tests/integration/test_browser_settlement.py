"""The Jincheng 2019 settlement in a real browser: 李敏 (fund accountant) previews and drafts it from the books,
is refused reviewing and posting her own draft, 张伟 (reviewer) reviews and posts it; then the insurer's
accountant 刘洋 prepares its side and its reviewer 周婷 posts it. PostgreSQL only (live server)."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection

from access.demo import demo_people_of
from ledger.models import JournalEntry
from reconciliation.models import Settlement
from tests.reconciliation.test_settle import (  # noqa: F401 - fixtures
    _a_years_claims_in_one_line,
    _claims,
    jincheng,
    people,
)

from .browser import shot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="live server and browser share PostgreSQL"),
]
PASSWORD = "Ledger-结算-2026!x"


def _passwords(*users):
    for u in users:
        u.set_password(PASSWORD)
        u.save()


def test_a_settlement_drafted_reviewed_and_posted_in_the_browser(jincheng, people, new_page):  # noqa: F811
    preparer, reviewer = people
    accountant, checker = demo_people_of(jincheng.contract)["insurer"]
    _passwords(preparer, reviewer, accountant, checker)

    # 李敏: the changelist's add button leads to 起草结算; she picks Jincheng 2019 and previews it.
    page = new_page()
    sign_in(page, preparer.username, PASSWORD)
    page.goto(page.base + "/admin/reconciliation/settlement/")
    page.click(".object-tools a.addlink")
    page.wait_for_load_state()
    assert "/settlement/draft/" in page.url
    page.click(f"a[href='?contract_year={jincheng.pk}']")
    page.fill("#id_as_of", "2020-05-20")
    page.click("button[name=preview]")
    page.wait_for_load_state()
    assert Settlement.objects.count() == 0  # a preview writes nothing
    assert page.inner_text("#fig-premium") == "147,333,645.00" and page.inner_text("#fig-claims") == "120,000,000.00"
    assert page.inner_text("#fig-deposit") == "14,733,364.50" and page.inner_text("#fig-score") == "85.00"
    steps = page.inner_text("#settlement-steps")
    for figure in ("11,786,691.60", "2,946,672.90", "144,386,972.10", "21,386,972.10", "4,331,609.16",
                   "17,055,362.94"):
        assert figure in steps, figure
    assert "≥ 80" in steps  # the deposit band that applied
    shot(page, "settlement-draft-preview")
    with page.expect_navigation():
        page.click("#settle-draft")
    s = Settlement.objects.get()
    assert (s.status, s.prepared_by, s.as_of) == ("draft", preparer, date(2020, 5, 20))
    assert page.locator("#settle-not-reviewer").is_visible()  # no review button for her: she prepared it
    assert page.locator("text=Review (复核)").count() == 0 and "4,331,609.16" in page.inner_text("#settlement-steps")
    shot(page, "settlement-draft-preparer")
    # A review or post she forges is refused (403) and changes nothing.
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    for action in ("review", "post"):
        r = page.request.post(page.base + f"/admin/reconciliation/settlement/{s.pk}/{action}/",
                              form={"csrfmiddlewaretoken": token})
        assert r.status == 403
    s.refresh_from_db()
    assert s.status == "draft"

    # 张伟 reviews, then posts.
    rp = new_page()
    sign_in(rp, reviewer.username, PASSWORD)
    rp.goto(rp.base + f"/admin/reconciliation/settlement/{s.pk}/change/")
    with rp.expect_navigation():
        rp.click("button:has-text('复核')")
    s.refresh_from_db()
    assert (s.status, s.reviewed_by) == ("reviewed", reviewer)
    with rp.expect_navigation():
        rp.click("button:has-text('记账')")
    s.refresh_from_db()
    assert (s.status, s.posted_by, s.posted_on) == ("posted", reviewer, date(2020, 5, 20))
    assert {k: s.outcome[k] for k in ("retained", "surplus_returned", "deposit_released", "deposit_forfeited")} == {
        "retained": "4331609.16", "surplus_returned": "17055362.94", "deposit_released": "11786691.60",
        "deposit_forfeited": "2946672.90"}
    fund_book = jincheng.contract.fund.books.get()
    [received] = JournalEntry.objects.filter(book=fund_book, idempotency_key__startswith=f"settlement:{jincheng.pk}:")
    assert received.status == "posted" and received.made_by == preparer and received.reviewed_by == reviewer
    assert sorted((p.account.code, p.debit.amount, p.credit.amount) for p in received.postings.all()) == [
        ("1003", D("17055362.94"), D("0.00")), ("5101", D("0.00"), D("17055362.94"))]
    assert received.voucher in rp.inner_text("#settlement-entries")
    shot(rp, "settlement-posted-reviewer")

    # The insurer's side: 刘洋 prepares it from the page, 周婷 posts it; neither sees a link into the fund's book.
    ip = new_page()
    sign_in(ip, accountant.username, PASSWORD)
    ip.goto(ip.base + f"/admin/reconciliation/settlement/{s.pk}/change/")
    assert fund_book.code not in ip.inner_text("#settlement-entries")
    with ip.expect_navigation():
        ip.click("#insurer-prepare")
    insurer_entries = JournalEntry.objects.filter(book__insurer=jincheng.contract.insurer,
                                                  idempotency_key__startswith=f"settlement:{jincheng.pk}:")
    assert [(e.status, e.made_by) for e in insurer_entries] == [("draft", accountant)] * 2
    assert ip.locator("#insurer-approve").count() == 0  # never its own maker's to post
    cp = new_page()
    sign_in(cp, checker.username, PASSWORD)
    cp.goto(cp.base + f"/admin/reconciliation/settlement/{s.pk}/change/")
    with cp.expect_navigation():
        cp.click("#insurer-approve")
    assert sorted((e.status, e.reviewed_by_id, e.postings.filter(debit__gt=0).get().debit.amount)
                  for e in insurer_entries.all()) == [("posted", checker.pk, D("17055362.94"))] * 2
    shot(cp, "settlement-insurer-posted")


def test_a_loss_drafted_then_split_reviewed_and_posted_in_the_browser(jincheng, people, new_page, tmp_path):  # noqa: F811
    """Claims of 160,000,000.00 against an earned premium of 144,386,972.10 and 3,000,000.00 of cost: a loss of
    18,613,027.90. 李敏 drafts it pending the bureau's determination, then records the split (10,000,000.00
    policy-caused, shared 50%); 张伟 reviews and posts: the fund bears 5,000,000.00, the insurer 13,613,027.90."""
    (tmp_path / "loss").mkdir()
    _claims(tmp_path / "loss", jincheng.contract, [("JC-9", "2019-12-01", "2019-12-05", "40000000.00")])
    preparer, reviewer = people
    _passwords(preparer, reviewer)
    page = new_page()
    sign_in(page, preparer.username, PASSWORD)
    page.goto(page.base + f"/admin/reconciliation/settlement/draft/?contract_year={jincheng.pk}")
    page.fill("#id_as_of", "2020-05-20")
    page.click("button[name=preview]")
    page.wait_for_load_state()
    shot(page, "settlement-loss-preview")
    assert page.locator("#id_policy_loss").count() == 1  # the page asks for the accountants' determination
    assert page.inner_text("#fig-claims") == "160,000,000.00" and "18,613,027.90" in page.inner_text("#settlement-steps")
    assert Settlement.objects.count() == 0
    page.fill("#id_policy_loss", "0.00")
    page.fill("#id_reason", "待医保局认定政策性亏损")
    with page.expect_navigation():
        page.click("#settle-draft")
    s = Settlement.objects.get()
    assert (s.status, s.prepared_by, s.outcome["loss"], s.outcome["loss_fund"]) == (
        "draft", preparer, "18613027.90", "0.00")

    # The determination arrives: the split is recorded on the settlement's page and the draft recomputed.
    page.fill("#id_policy_loss", "10,000,000.00")
    page.fill("#id_reason", "2019年目录调整导致的政策性超支（医保局认定）")
    with page.expect_navigation():
        page.click("button:has-text('记录划分并重算')")
    s.refresh_from_db()
    assert (s.status, s.prepared_by, s.policy_loss.amount) == ("draft", preparer, D("10000000.00"))
    assert (s.outcome["loss"], s.outcome["loss_fund"], s.outcome["loss_insurer"]) == (
        "18613027.90", "5000000.00", "13613027.90")
    assert "5,000,000.00" in page.inner_text("#settlement-steps")
    shot(page, "settlement-loss-split")

    rp = new_page()
    sign_in(rp, reviewer.username, PASSWORD)
    rp.goto(rp.base + f"/admin/reconciliation/settlement/{s.pk}/change/")
    with rp.expect_navigation():
        rp.click("button:has-text('复核')")
    with rp.expect_navigation():
        rp.click("button:has-text('记账')")
    s.refresh_from_db()
    assert (s.status, s.reviewed_by, s.posted_by) == ("posted", reviewer, reviewer)
    fund_book = jincheng.contract.fund.books.get()
    entries = JournalEntry.objects.filter(book=fund_book, idempotency_key__startswith=f"settlement:{jincheng.pk}:")
    assert entries and all(e.status == "posted" and e.made_by == preparer and e.reviewed_by == reviewer
                           for e in entries)
    debits = sorted(p.debit.amount for e in entries for p in e.postings.all() if p.debit.amount)
    assert D("5000000.00") in debits  # the fund's share of the policy-caused loss
    shot(rp, "settlement-loss-posted")
