"""Settling a contract year from the books, posting it in both books, and closing the year.

Jincheng (Shanxi) 2019: P = 147,333,645.00 (85 yuan × 1,733,337), of which D = 14,733,364.50 is
the service deposit; the agreed margin is 3% after cost; deposit bands 90/80/60 → 100/80/50%.
Shandong 2015: P = 320,000,000.00; the insurer keeps 2%; loss beyond 4% deferred.
"""

import csv
from datetime import date
from decimal import Decimal as D

import pytest

from claims.identity import check_digit
from claims.services import claims_import, claims_post
from contracts.models import Assessment, ContractYear, PremiumObligation, PremiumTransfer
from contracts.reference import reference_contracts_load
from contracts.services import transfer_record
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry, Period
from ledger.selectors import trial_balance
from reconciliation.models import Deadline, Settlement
from reconciliation.services import (
    deadlines_check,
    settlement_draft,
    settlement_post,
    settlement_review,
    settlements_due_draft,
    year_end_close,
)

IDNO = "140525198001010" + "01"
IDNO += check_digit(IDNO)


def _claims(tmp_path, contract, rows):
    """rows: (claim number, discharged on, settled on, paid)."""
    path = tmp_path / f"{contract.code}.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["claim_no", "id_number", "group", "admitted_on", "discharged_on", "settled_on", "hospital_code",
                    "hospital_name", "oop", "paid", "channel"])
        for no, discharged, settled, paid in rows:
            w.writerow([no, IDNO, "general", discharged, discharged, settled, "H001", "人民医院", paid, paid, "direct"])
    result = claims_import(path=path, contract=contract)
    claims_post(batch=result.batch)
    return result


@pytest.fixture
def people(django_user_model):
    return (django_user_model.objects.create_user("kuaiji", password="会计-test-pass-1"),
            django_user_model.objects.create_user("fuhe", password="复核-test-pass-1"))


@pytest.fixture
def jincheng(db, tmp_path):
    reference_contracts_load()
    cy = ContractYear.objects.get(contract__code="JC-2019")
    cy.operating_cost = "3000000.00"
    cy.save()
    transfer_record(reference="JC-T", contract_year=cy, insurer=cy.contract.insurer, amount="132600280.50",
                    paid_on=date(2019, 4, 26), side="insurer")
    _claims(tmp_path, cy.contract, [("JC-1", "2019-11-10", "2019-11-20", "60000000.00"),
                                    ("JC-2", "2019-12-20", "2020-03-31", "60000000.00"),
                                    ("JC-3", "2019-12-28", "2020-04-15", "5000000.00")])  # the last is settled after the cut-off
    Assessment.objects.create(contract_year=cy, score=85, assessed_on=date(2020, 4, 20), assessor="晋城市医保局")
    return cy


def test_jincheng_settlement_from_the_books(jincheng, people):
    preparer, reviewer = people
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=preparer)
    # C excludes JC-3 (settled after March 31: charged to 2020). Score 85 releases 80% of the deposit.
    assert (s.premium.amount, s.claims.amount, s.deposit.amount, s.score) == (
        D("147333645.00"), D("120000000.00"), D("14733364.50"), 85)
    # Earned 147,333,645.00 − 2,946,672.90 forfeited = 144,386,972.10; − C − E = 21,386,972.10;
    # 3% of earned = 4,331,609.16 kept; 17,055,362.94 returned.
    assert {k: s.outcome[k] for k in ("premium", "margin", "retained", "surplus_returned", "deposit_released",
                                      "deposit_forfeited")} == {
        "premium": "144386972.10", "margin": "21386972.10", "retained": "4331609.16",
        "surplus_returned": "17055362.94", "deposit_released": "11786691.60", "deposit_forfeited": "2946672.90"}

    with pytest.raises(Refused):
        settlement_review(settlement=s, user=preparer)  # not the preparer
    with pytest.raises(Refused):
        settlement_post(settlement=s)  # not before review
    s = settlement_review(settlement=s, user=reviewer)
    s = settlement_post(settlement=s, on=date(2020, 6, 20))
    assert s.status == "posted"

    fund_book, insurer_book = jincheng.contract.fund.books.get(), jincheng.contract.insurer.books.get()
    fund_tb, insurer_tb = trial_balance(book=fund_book, year=2020), trial_balance(book=insurer_book, year=2020)
    row = {r.account.code: r for r in insurer_tb.rows}
    assert row["224101"].period_credit.amount == D("17055362.94") == row["224101"].period_debit.amount
    assert {r.account.code: r for r in fund_tb.rows}["1003"].period_debit.amount == D("17055362.94")
    assert fund_tb.balanced and insurer_tb.balanced
    deposit = PremiumObligation.objects.get(contract_year=jincheng, kind="deposit")
    assert deposit.forfeited.amount == D("2946672.90")
    assert PremiumTransfer.objects.get(obligation=deposit).amount.amount == D("11786691.60")
    # Posting again changes nothing.
    before = JournalEntry.objects.count()
    assert settlement_post(settlement=s).status == "posted" and JournalEntry.objects.count() == before
    assert ledger_verify().ok


def test_a_settlement_before_the_cut_off_is_refused(jincheng):
    with pytest.raises(Refused) as info:
        settlement_draft(contract_year=jincheng, as_of=date(2020, 3, 31))
    assert info.value.problems[0]["expected"] == "a date after the cut-off 2020-03-31"
    assert not Settlement.objects.exists()


def test_a_loss_needs_the_accountants_split_with_a_reason(jincheng, tmp_path):
    _claims(tmp_path / "..", jincheng.contract, [("JC-9", "2019-12-01", "2019-12-05", "40000000.00")])
    with pytest.raises(Refused) as info:
        settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1))
    assert info.value.problems[0]["field"] == "policy_loss"
    with pytest.raises(Refused):
        settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), policy_loss="10000000.00")  # no reason
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), policy_loss="10000000.00",
                         loss_reason="2019年目录调整导致的政策性超支（医保局认定）")
    # Loss 18,613,027.90; the fund bears 50% of the 10,000,000 policy part.
    assert (s.outcome["loss"], s.outcome["loss_fund"], s.outcome["loss_insurer"]) == (
        "18613027.90", "5000000.00", "13613027.90")


def test_shandong_loss_beyond_the_band_is_recorded_not_paid(db, tmp_path, people):
    reference_contracts_load()
    cy = ContractYear.objects.get(contract__code="SD-2015")
    transfer_record(reference="SD-T", contract_year=cy, insurer=cy.contract.insurer, amount="320000000.00",
                    paid_on=date(2015, 4, 28), side="insurer")
    _claims(tmp_path, cy.contract, [("SD-1", "2015-10-01", "2015-10-01", "170000000.00"),
                                    ("SD-2", "2015-12-20", "2016-01-10", "170000000.00")])
    s = settlement_draft(contract_year=cy, as_of=date(2016, 4, 5), user=people[0])
    assert (s.outcome["loss"], s.outcome["loss_insurer"], s.outcome["loss_deferred"], s.outcome["loss_fund"]) == (
        "20000000.00", "12800000.00", "7200000.00", "0.00")
    settlement_post(settlement=settlement_review(settlement=s, user=people[1]))
    assert JournalEntry.objects.filter(source="settlement").count() == 0  # borne and deferred: nothing to pay


def test_the_scheduled_draft_makes_one_and_deadlines_are_noticed(jincheng):
    assert settlements_due_draft(today=date(2020, 4, 1)) >= 1
    assert settlements_due_draft(today=date(2020, 4, 1)) == 0
    assert Settlement.objects.filter(contract_year=jincheng).count() == 1
    assert deadlines_check(today=date(2020, 7, 1)) >= 2
    assert set(Deadline.objects.filter(contract_year=jincheng).values_list("kind", flat=True)) == {"report", "settle"}
    assert deadlines_check(today=date(2020, 7, 1)) == 0


def test_year_end_close_zeroes_income_and_expense_and_carries_balances(jincheng):
    insurer_book = jincheng.contract.insurer.books.get()
    before = trial_balance(book=insurer_book, year=2019)
    entry = year_end_close(book=insurer_book, year=2019)
    assert entry is not None and entry.voucher.startswith("记-2019-")
    closed = trial_balance(book=insurer_book, year=2019)
    rows = {r.account.code: r for r in closed.rows}
    for code in ("6031", "6511"):
        assert rows[code].closing_debit.amount == rows[code].closing_credit.amount == 0
    # Income 132,600,280.50 less claims 60,000,000.00 paid by Dec 31 → 本年利润.
    assert rows["4103"].closing_credit.amount == D("72600280.50")
    nxt = {r.account.code: r for r in trial_balance(book=insurer_book, year=2020).rows}
    assert nxt["1002"].opening_debit == rows["1002"].closing_debit
    assert {p.status for p in Period.objects.filter(book=insurer_book, year=2019)} == {"final"}
    assert year_end_close(book=insurer_book, year=2019).pk == entry.pk  # again: nothing new
    assert closed.balanced and before.balanced and ledger_verify().ok


def _both_balanced(cy, year):
    fund_book, insurer_book = cy.contract.fund.books.get(), cy.contract.insurer.books.get()
    return trial_balance(book=fund_book, year=year).balanced and trial_balance(book=insurer_book, year=year).balanced


def test_jiangxi_surplus_carried_into_next_years_fund(db, tmp_path, people):
    """Jiangxi 2024 terms: profit after cost held to 4% (5% with a score ≥ 90); the excess stays with the
    insurer as next year's critical-illness fund (2203 预收保费), nothing is paid back."""
    reference_contracts_load()
    cy = ContractYear.objects.get(contract__code="JX-NC-2025")
    cy.operating_cost = "6000000.00"
    cy.save()
    transfer_record(reference="JX-T", contract_year=cy, insurer=cy.contract.insurer, amount="312000000.00",
                    paid_on=date(2025, 4, 20), side="insurer")
    _claims(tmp_path, cy.contract, [("JX-1", "2025-09-01", "2025-09-10", "280000000.00")])
    Assessment.objects.create(contract_year=cy, score=92, assessed_on=date(2026, 4, 10), assessor="南昌市医保局")
    s = settlement_draft(contract_year=cy, as_of=date(2026, 4, 20), user=people[0])
    assert (s.outcome["retained"], s.outcome["surplus_carried"], s.outcome["surplus_returned"]) == (
        "15600000.00", "10400000.00", "0.00")
    settlement_post(settlement=settlement_review(settlement=s, user=people[1]), on=date(2026, 6, 10))
    insurer_tb = trial_balance(book=cy.contract.insurer.books.get(), year=2026)
    rows = {r.account.code: r for r in insurer_tb.rows}
    assert rows["2203"].period_credit.amount == D("10400000.00") and rows["6031"].period_debit.amount == D(
        "10400000.00")
    fund_rows = {r.account.code: r for r in trial_balance(book=cy.contract.fund.books.get(), year=2026).rows}
    assert fund_rows["1003"].period_debit.amount == 0  # carried, not returned: no money back to the fund
    assert _both_balanced(cy, 2026) and ledger_verify().ok


@pytest.mark.parametrize("score, released, forfeited", [
    (95, "14733364.50", "0.00"), (85, "11786691.60", "2946672.90"), (50, "0.00", "14733364.50")])
def test_jincheng_deposit_paid_in_full_in_part_or_forfeited(jincheng, people, score, released, forfeited):
    jincheng.assessment.score = score
    jincheng.assessment.save()
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=people[0])
    settlement_post(settlement=settlement_review(settlement=s, user=people[1]), on=date(2020, 6, 20))
    deposit = PremiumObligation.objects.get(contract_year=jincheng, kind="deposit")
    assert deposit.forfeited.amount == D(forfeited)
    paid = PremiumTransfer.objects.filter(obligation=deposit)
    assert (paid.get().amount.amount if paid.exists() else D("0.00")) == D(released)
    fund_rows = {r.account.code: r for r in trial_balance(book=jincheng.contract.fund.books.get(), year=2020).rows}
    # The fund's 5101 in 2020: the deposit paid out, less the surplus returned.
    assert fund_rows["5101"].period_debit.amount == D(released)
    assert fund_rows["5101"].period_credit.amount == D(s.outcome["surplus_returned"])
    assert _both_balanced(jincheng, 2020) and ledger_verify().ok


def test_the_returned_surplus_mirrors_in_both_books(jincheng, people):
    from reconciliation.transfers import transfers_reconcile
    from reports.registry import settlement_data

    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=people[0])
    settlement_post(settlement=settlement_review(settlement=s, user=people[1]), on=date(2020, 6, 20))
    r = transfers_reconcile(fund=jincheng.contract.fund, insurer=jincheng.contract.insurer, year=2020)
    assert r.surplus_paid == r.surplus_received == D("17055362.94")
    block = settlement_data(jincheng.contract.fund.books.get(), 2019, None)["blocks"][0]
    assert {"label": "返还基本医保基金", "words": "人民币壹仟柒佰零伍万伍仟叁佰陆拾贰元玖角肆分"} in block["upper"]
