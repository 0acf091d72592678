"""What a settlement leaves to the next year, premium settled against what was paid, and the assessment
moving the cost allowance (issue 15: items 1, 5, 7, 8).

Nanchang (Jiangxi) 2025: P = 312,000,000.00 fixed, 50% by April 30 and the rest by September 30; the insurer
keeps 4% after cost (5% with a score ≥ 90); an excess surplus is carried into next year's critical-illness
fund (赣医保发〔2024〕10号: 超额结余转入下一年大病保险基金). The 2026 year is built here with the same terms.
Jincheng (Shanxi) 2019: P = 147,333,645.00, of which D = 14,733,364.50; tranches 30/60/90% (tranche 3 =
44,200,093.50); 3% kept after cost; deposit bands 90/80/60 → 100/80/50%.
"""

from datetime import date
from decimal import Decimal as D

import pytest
from django.utils import translation

from access.demo import demo_people_of
from audit.models import AuditEvent
from contracts.demo import transfer_demo
from contracts.models import Assessment, ContractYear, PremiumObligation, PremiumTransfer
from contracts.reference import reference_contracts_load
from contracts.selectors import premium_status
from contracts.services import contract_year_create, obligations_generate
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry
from ledger.selectors import trial_balance
from reconciliation.models import Settlement
from reconciliation.premium import premium_statement
from reconciliation.services import settlement_draft, settlement_figures, settlement_post, settlement_review
from reconciliation.settlement import settlement_compute, settlement_netting, terms_from_dict
from reconciliation.settlement_preview import settlement_explained, settlement_preview
from reconciliation.transfers import advances_reconcile, transfers_reconcile
from tests.conftest import books_opened
from tests.reconciliation.test_settle import (
    _a_years_claims_in_one_line,  # noqa: F401 - autouse fixture
    _claims,
    _paid_by_the_insurer,
    _posted,
)

JX_TERMS = {"retained_cap_pct": "4", "cost_deducted": True, "surplus_to": "next_year_fund",
            "insurer_loss_band_pct": None, "beyond_band": "shared", "policy_loss_fund_share_pct": "50",
            "incentive": [{"min_score": "90", "extra_pct": "1"}], "deposit_release": []}


def _rows(book, year):
    return {r.account.code: r for r in trial_balance(book=book, year=year).rows}


@pytest.fixture
def nanchang(db, tmp_path):
    """Nanchang 2025 paid in full (312,000,000.00 on 2025-04-20), E = 6,000,000.00, score 92; and its 2026
    year (same premium and terms), whose first tranche 156,000,000.00 was paid on 2026-04-20."""
    reference_contracts_load()
    books_opened()
    cy = ContractYear.objects.get(contract__code="JX-NC-2025", year=2025)
    cy.operating_cost = "6000000.00"
    cy.save()
    nxt = contract_year_create(contract=cy.contract, year=2026, basis="fixed_total", fixed_total="312000000.00",
                               tranches=[{"due": "2026-04-30", "cumulative_pct": "50"},
                                         {"due": "2026-09-30", "cumulative_pct": "100"}],
                               settlement_terms=JX_TERMS, benefit_policy="jiangxi-2025")
    obligations_generate(contract_year=nxt)
    _paid_by_the_insurer(cy, "JX-T", "312000000.00", date(2025, 4, 20))
    _paid_by_the_insurer(nxt, "JX26-T1", "156000000.00", date(2026, 4, 20))
    Assessment.objects.create(contract_year=cy, score=92, assessed_on=date(2026, 4, 10), assessor="南昌市医保局")
    return cy, nxt


def test_jiangxi_surplus_carried_into_2026_in_both_books_and_its_premium(nanchang, tmp_path):
    cy, nxt = nanchang
    people = demo_people_of(cy.contract)["fund"]
    _claims(tmp_path, cy.contract, [("JX-1", "2025-09-01", "2025-09-10", "280000000.00")])
    s = settlement_draft(contract_year=cy, as_of=date(2026, 4, 20), user=people[0])
    # Margin 312,000,000.00 − 280,000,000.00 − 6,000,000.00 = 26,000,000.00; score 92: cap (4% + 1%) × 312,000,000.00
    # = 15,600,000.00 kept; 26,000,000.00 − 15,600,000.00 = 10,400,000.00 carried into 2026.
    assert (s.outcome["retained"], s.outcome["surplus_carried"], s.premium_unpaid.amount) == (
        "15600000.00", "10400000.00", D("0.00"))
    s = _posted(s, date(2026, 6, 10), people)

    # 2026 owes a carried obligation of 10,400,000.00, paid by carry (no cash): P 2026 = 312,000,000.00 + 10,400,000.00.
    carried = PremiumObligation.objects.get(contract_year=nxt, kind="carried")
    assert carried.amount.amount == D("10400000.00") and "以结转方式拨付" in carried.description
    assert settlement_figures(contract_year=nxt, as_of=date(2027, 4, 5))["premium"] == D("322400000.00")
    t = PremiumTransfer.objects.get(obligation=carried)
    assert t.fund_confirmed and t.insurer_confirmed and t.fund_entry.made_by == people[0]
    accountant, checker = demo_people_of(cy.contract)["insurer"]
    assert (t.insurer_entry.made_by, t.insurer_entry.reviewed_by) == (accountant, checker)
    [row] = [r for r in premium_status(fund=cy.contract.fund, insurer=cy.contract.insurer, year=2026,
                                       as_of=date(2026, 6, 30)) if r.obligation == carried]
    assert (row.state, row.received.amount, row.shortfall.amount) == ("paid_on_time", D("10400000.00"), D("0.00"))
    # The 2026 保费划拨对账单: the carry is part of P, paid by carry; the tranches still add up to the contract.
    st = premium_statement(contract_year=nxt, as_of=date(2026, 6, 30))
    lines = {label: amount for label, amount, _kind in st.lines}
    assert lines["加：上年度结转结余（以结转方式拨付，非现金）"] == D("10400000.00")
    assert lines["应拨保费合计 P"] == D("322400000.00") and all(c.ok for c in st.checks)

    # Both books, 2026. Fund: Dr 1101 / Cr 5101 at the settlement, then Dr 5101 / Cr 1101 as 2026's premium.
    fund = _rows(cy.contract.fund.books.get(), 2026)
    assert (fund["1101"].period_debit.amount, fund["1101"].period_credit.amount) == (D("10400000.00"),) * 2
    # 5101 debits: tranche 1 156,000,000.00 + carry 10,400,000.00 = 166,400,000.00; credit: the surplus held back.
    assert (fund["5101"].period_debit.amount, fund["5101"].period_credit.amount) == (
        D("166400000.00"), D("10400000.00"))
    # Insurer: Dr 6031 / Cr 224101 (owed to the fund), then Dr 224101 / Cr 6031 as 2026's premium; 2203 untouched.
    ins = _rows(cy.contract.insurer.books.get(), 2026)
    assert (ins["224101"].period_credit.amount, ins["224101"].period_debit.amount) == (D("10400000.00"),) * 2
    assert (ins["6031"].period_debit.amount, ins["6031"].period_credit.amount) == (
        D("10400000.00"), D("166400000.00"))
    assert "2203" not in ins or ins["2203"].period_credit.amount == 0

    # The 2026 fund ↔ insurer reconciliation is clean: tranche 1 and the carry matched by reference.
    r = transfers_reconcile(fund=cy.contract.fund, insurer=cy.contract.insurer, year=2026)
    assert (r.fund_only, r.insurer_only, r.mismatched) == ([], [], [])
    assert r.fund_total == r.insurer_total == D("166400000.00") and len(r.matched) == 2
    assert r.surplus_paid == r.surplus_received == D("10400000.00")
    # The carry's 1101 lines are not the basic fund's advances (1101 credits naming the insurer).
    a = advances_reconcile(fund=cy.contract.fund, insurer=cy.contract.insurer, year=2026)
    assert (a.fund_only, a.insurer_only, a.fund_total) == ([], [], 0)
    assert ledger_verify().ok

    # A carry moves no cash: nobody records a payment against it, nor confirms it as money received.
    from contracts.services import transfer_confirm, transfer_record

    with pytest.raises(Refused) as info:
        transfer_record(reference="JX26-CASH", obligation=carried, insurer=cy.contract.insurer, amount="1.00",
                        paid_on=date(2026, 6, 11), user=people[0])
    assert [p["field"] for p in info.value.problems] == ["obligation"]
    assert transfer_confirm(transfer=t, user=accountant).insurer_entry_id == t.insurer_entry_id  # nothing new
    assert not PremiumTransfer.objects.filter(reference="JX26-CASH").exists()


def test_a_carried_surplus_with_no_next_contract_year_is_refused(db, tmp_path):
    reference_contracts_load()
    books_opened()
    cy = ContractYear.objects.get(contract__code="JX-NC-2025", year=2025)  # no 2026 year in the reference data
    cy.operating_cost = "6000000.00"
    cy.save()
    people = demo_people_of(cy.contract)["fund"]
    _paid_by_the_insurer(cy, "JX-T", "312000000.00", date(2025, 4, 20))
    _claims(tmp_path, cy.contract, [("JX-1", "2025-09-01", "2025-09-10", "280000000.00")])
    Assessment.objects.create(contract_year=cy, score=92, assessed_on=date(2026, 4, 10), assessor="南昌市医保局")
    s = settlement_review(settlement=settlement_draft(contract_year=cy, as_of=date(2026, 4, 20), user=people[0]),
                          user=people[1])
    with pytest.raises(Refused) as info:
        settlement_post(settlement=s, on=date(2026, 6, 10), user=people[1])
    assert info.value.problems[0]["field"] == "next contract year"
    s.refresh_from_db()
    assert s.status == "reviewed" and not JournalEntry.objects.filter(source="settlement").exists()
    assert not PremiumObligation.objects.filter(kind="carried").exists()


def test_a_policy_loss_carried_into_next_years_premium(nanchang, tmp_path):
    cy, nxt = nanchang
    cy.settlement_terms = {**JX_TERMS, "policy_loss_settled_by": "next_year_premium"}
    cy.save()
    people = demo_people_of(cy.contract)
    _claims(tmp_path, cy.contract, [("JX-1", "2025-09-01", "2025-09-10", "330000000.00")])
    s = settlement_draft(contract_year=cy, as_of=date(2026, 4, 20), user=people["fund"][0],
                         policy_loss="10000000.00", loss_reason="2025年目录调整（医保局认定）")
    # Margin 312,000,000.00 − 330,000,000.00 − 6,000,000.00 = −24,000,000.00; the fund bears 50% × 10,000,000.00.
    assert (s.outcome["loss"], s.outcome["loss_fund"], s.outcome["loss_insurer"]) == (
        "24000000.00", "5000000.00", "19000000.00")
    _posted(s, date(2026, 6, 10), people["fund"])
    # Nothing paid at the settlement: the share is an obligation of 2026, due with its tranche of 2026-09-30.
    assert not JournalEntry.objects.filter(source="settlement").exists()
    loss = PremiumObligation.objects.get(contract_year=nxt, kind="loss")
    assert (loss.amount.amount, loss.due_date) == (D("5000000.00"), date(2026, 9, 30))
    # Not part of 2026's P (it compensates 2025): still 312,000,000.00.
    assert settlement_figures(contract_year=nxt, as_of=date(2027, 4, 5))["premium"] == D("312000000.00")
    # The fund pays it as a transfer; 2026's premium status shows it, and both books mirror it.
    transfer_demo(people=people, side="fund", confirm_on=date(2026, 9, 20), reference="JX25-LOSS", obligation=loss,
                  insurer=cy.contract.insurer, amount="5000000.00", paid_on=date(2026, 9, 20))
    [row] = [r for r in premium_status(fund=cy.contract.fund, insurer=cy.contract.insurer, year=2026,
                                       as_of=date(2026, 9, 30)) if r.obligation == loss]
    assert (row.state, row.received.amount) == ("paid_on_time", D("5000000.00"))
    lines = {label: amount for label, amount, _kind in premium_statement(contract_year=nxt,
                                                                          as_of=date(2026, 9, 30)).lines}
    # P 312,000,000.00 without the share; received 156,000,000.00 + 5,000,000.00; the tranche 2 156,000,000.00 owed.
    assert (lines["应拨保费合计 P"], lines["加：上年度政策性亏损基金分担（随本年保费拨付，不计入 P）"],
            lines["减：已到账"], lines["差额（基金尚未拨付）"]) == (
        D("312000000.00"), D("5000000.00"), D("-161000000.00"), D("156000000.00"))
    r = transfers_reconcile(fund=cy.contract.fund, insurer=cy.contract.insurer, year=2026)
    # Tranche 1 156,000,000.00 + the loss share 5,000,000.00, matched.
    assert (r.fund_only, r.insurer_only, r.mismatched, r.fund_total) == ([], [], [], D("161000000.00"))
    assert ledger_verify().ok


@pytest.fixture
def jincheng_short(jincheng_people, tmp_path):
    """Jincheng 2019 with 24,200,093.50 of tranche 3 unpaid: 108,400,187.00 paid (132,600,280.50 owed by the
    three tranches − 24,200,093.50); claims 120,000,000.00 by the cut-off, E = 3,000,000.00, score 85."""
    cy = ContractYear.objects.get(contract__code="JC-2019")
    cy.operating_cost = "3000000.00"
    cy.save()
    _paid_by_the_insurer(cy, "JC-T", "108400187.00", date(2019, 4, 26))
    _claims(tmp_path, cy.contract, [("JC-1", "2019-11-10", "2019-11-20", "60000000.00"),
                                    ("JC-2", "2019-12-20", "2020-03-31", "60000000.00")])
    Assessment.objects.create(contract_year=cy, score=85, assessed_on=date(2020, 4, 20), assessor="晋城市医保局")
    return cy


def test_unpaid_premium_is_refused_until_the_preparer_decides_then_netted(jincheng_short):
    from reports.registry import settlement_data

    cy = jincheng_short
    preparer, reviewer = demo_people_of(cy.contract)["fund"]
    with pytest.raises(Refused) as info:
        settlement_draft(contract_year=cy, as_of=date(2020, 5, 20), user=preparer)
    [p] = info.value.problems
    assert p["field"] == "unpaid_premium" and "unpaid 24,200,093.50" in str(p["found"])
    assert not Settlement.objects.exists()
    preview = settlement_preview(contract_year=cy, as_of=date(2020, 5, 20))
    assert preview.explained.needs_unpaid_decision and preview.explained.figures["premium_unpaid"] == D("24200093.50")

    reason = "第3期尚欠24,200,093.50元，经医保局同意按应拨保费结算，与返还结余轧差"
    s = settlement_draft(contract_year=cy, as_of=date(2020, 5, 20), user=preparer, unpaid_reason=reason)
    # P as owed: 147,333,645.00; paid (deposit apart) 108,400,187.00; unpaid 147,333,645.00 − 14,733,364.50
    # − 108,400,187.00 = 24,200,093.50. Earned 144,386,972.10 − 120,000,000.00 − 3,000,000.00 = 21,386,972.10;
    # 3% kept 4,331,609.16; returned 17,055,362.94.
    assert (s.premium.amount, s.premium_paid.amount, s.premium_unpaid.amount, s.unpaid_reason) == (
        D("147333645.00"), D("108400187.00"), D("24200093.50"), reason)
    assert s.outcome["surplus_returned"] == "17055362.94"
    event = AuditEvent.objects.filter(action="settlement_drafted").latest("pk")
    assert (event.detail["premium_unpaid"], event.detail["unpaid_reason"]) == ("24200093.50", reason)
    # Net: the insurer returns 17,055,362.94; the fund still owes 24,200,093.50: the fund pays 7,144,730.56 net.
    n = settlement_netting(outcome=s.outcome, unpaid=s.premium_unpaid.amount)
    assert n["net"] == D("-7144730.56")
    explained = settlement_explained(settlement=s)
    with translation.override("en"):
        assert (str(explained.steps[-1].label), explained.steps[-1].amount) == ("net: the fund pays the insurer",
                                                                                D("7144730.56"))
        assert reason in str(explained.steps[-2].formula)
    # A re-draft without a new reason keeps the decision; the reviewer reviews it.
    s = settlement_draft(contract_year=cy, as_of=date(2020, 5, 20), user=preparer)
    assert s.unpaid_reason == reason
    s = settlement_post(settlement=settlement_review(settlement=s, user=reviewer), on=date(2020, 6, 20),
                        user=reviewer)
    block = settlement_data(cy.contract.fund.books.get(), 2019, None)["blocks"][0]
    assert block["netting"] == [
        {"label": "应拨保费（不含服务保证金）", "amount": "132600280.50"},
        {"label": "截至结算日已拨付", "amount": "108400187.00"},
        {"label": "基金尚欠保费", "amount": "24200093.50"},
        {"label": "承办机构应返还结余", "amount": "17055362.94"},
        {"label": "基金应付政策性亏损分担", "amount": "0.00"},
        {"label": "轧差净额：基金应付承办机构", "amount": "7144730.56"}]
    assert block["unpaid_reason"] == reason and block["net_words"] == "人民币柒佰壹拾肆万肆仟柒佰叁拾元伍角陆分"


TERMS_WITH_COST_BANDS = {**JX_TERMS, "cost_release": [{"min_score": "90", "pct": "100"},
                                                      {"min_score": "80", "pct": "90"},
                                                      {"min_score": "60", "pct": "70"}]}


@pytest.mark.parametrize("score, allowed, withheld, margin, retained, carried", [
    # 92: all of E; margin 312,000,000 − 280,000,000 − 6,000,000 = 26,000,000; cap 5% = 15,600,000; carried 10,400,000.
    ("92", "6000000.00", "0.00", "26000000.00", "15600000.00", "10400000.00"),
    # 85: 90% of E = 5,400,000 (600,000 not allowed); margin 26,600,000; cap 4% = 12,480,000; carried 14,120,000.
    ("85", "5400000.00", "600000.00", "26600000.00", "12480000.00", "14120000.00"),
    # 65: 70% = 4,200,000; margin 27,800,000; kept 12,480,000; carried 15,320,000.
    ("65", "4200000.00", "1800000.00", "27800000.00", "12480000.00", "15320000.00"),
    # 50: below every band, none of E; margin 32,000,000; kept 12,480,000; carried 19,520,000.
    ("50", "0.00", "6000000.00", "32000000.00", "12480000.00", "19520000.00"),
])
def test_the_assessment_score_moves_the_cost_allowed(score, allowed, withheld, margin, retained, carried):
    o = settlement_compute(terms=terms_from_dict(TERMS_WITH_COST_BANDS), premium="312000000.00",
                           claims="280000000.00", cost="6000000.00", score=score).as_json()
    assert (o["cost"], o["cost_allowed"], o["cost_withheld"], o["margin"], o["retained"], o["surplus_carried"]) == (
        "6000000.00", allowed, withheld, margin, retained, carried)


def test_cost_bands_in_the_preview_and_the_strict_terms(nanchang):
    from reconciliation.settlement_preview import settlement_explain

    ex = settlement_explain(terms=TERMS_WITH_COST_BANDS, premium="312000000.00", claims="280000000.00",
                            cost="6000000.00", deposit="0", score="85")
    with translation.override("en"):
        steps = {str(s.label): (str(s.formula), s.amount) for s in ex.steps}
    assert steps["operating cost allowed E′ (by the assessment)"] == (
        "score 85 reaches the band ≥ 80: 90% of E allowed", D("5400000.00"))
    assert steps["margin"] == ("P′ − C − E′", D("26600000.00"))
    with pytest.raises(Refused) as info:  # the score sets the cost allowed: none, refused
        settlement_compute(terms=terms_from_dict(TERMS_WITH_COST_BANDS), premium="1.00", claims="0", cost="1.00")
    assert info.value.problems[0]["field"] == "score"
    with pytest.raises(Refused) as info:
        terms_from_dict({**TERMS_WITH_COST_BANDS, "cost_deducted": False, "policy_loss_settled_by": "contract_term",
                         "cost_release": [{"min_score": "80", "pct": "90"}, {"min_score": "90", "pct": "100"}]})
    assert [p["field"] for p in info.value.problems] == [
        "cost_release 2 min_score", "cost_release", "policy_loss_settled_by"]
    assert terms_from_dict(JX_TERMS).policy_loss_settled_by == "paid" and terms_from_dict(JX_TERMS).cost_release == ()
