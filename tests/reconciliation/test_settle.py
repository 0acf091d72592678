"""Settling a contract year from the books, posting it in both books, and closing the year.

Jincheng (Shanxi) 2019: P = 147,333,645.00 (85 yuan × 1,733,337), of which D = 14,733,364.50 is
the service deposit; the agreed margin is 3% after cost; deposit bands 90/80/60 → 100/80/50%.
Shandong 2015: P = 320,000,000.00; the insurer keeps 2%; loss beyond 4% deferred.
"""

import csv
from datetime import date
from decimal import Decimal as D

import pytest

from access.demo import demo_people_of
from claims.identity import check_digit
from claims.services import claims_import, claims_post
from contracts.demo import transfer_demo
from contracts.models import Assessment, ContractYear, PremiumObligation, PremiumTransfer
from contracts.reference import reference_contracts_load
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry, Period
from ledger.selectors import trial_balance
from reconciliation.models import Deadline, Settlement
from reconciliation.services import (
    deadlines_check,
    settlement_draft,
    settlement_insurer_approve,
    settlement_insurer_prepare,
    settlement_post,
    settlement_review,
    settlements_due_draft,
    year_end_close,
    year_end_prepare,
)
from tests.conftest import books_opened

IDNO = "140525198001010" + "01"
IDNO += check_digit(IDNO)


@pytest.fixture(autouse=True)
def _a_years_claims_in_one_line(settings):
    # These worked settlements stand a year's claims in as a few lines of tens of millions each,
    # far above the plausibility limit a real claims file is held to.
    settings.CLAIM_AMOUNT_LIMIT = 1_000_000_000


def _claims(tmp_path, contract, rows):
    """rows: (claim number, discharged on, settled on, paid); imported by the insurer's accountant and
    posted by the insurer's reviewer."""
    path = tmp_path / f"{contract.code}.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["claim_no", "id_number", "group", "admitted_on", "discharged_on", "settled_on", "hospital_code",
                    "hospital_name", "oop", "paid", "channel"])
        for no, discharged, settled, paid in rows:
            w.writerow([no, IDNO, "general", discharged, discharged, settled, "H001", "人民医院", paid, paid, "direct"])
    accountant, reviewer = demo_people_of(contract)["insurer"]
    result = claims_import(path=path, contract=contract, by=accountant)
    claims_post(batch=result.batch, reviewed_by=reviewer)
    return result


def _paid_by_the_insurer(cy, reference, amount, paid_on):
    """The insurer records the premium it received; the fund confirms it in its own book."""
    transfer_demo(people=demo_people_of(cy.contract), side="insurer", confirm_on=paid_on, reference=reference,
                  contract_year=cy, insurer=cy.contract.insurer, amount=amount, paid_on=paid_on, received_on=paid_on)


def _posted(s, on, people):
    """Reviewed and posted by the fund's reviewer; the insurer books its side in its own book."""
    s = settlement_post(settlement=settlement_review(settlement=s, user=people[1]), on=on, user=people[1])
    accountant, reviewer = demo_people_of(s.contract_year.contract)["insurer"]
    if settlement_insurer_prepare(settlement=s, user=accountant):
        settlement_insurer_approve(settlement=s, user=reviewer)
    return s


@pytest.fixture
def people(jincheng_people):
    """Jincheng fund's accountant 李敏 (prepares) and reviewer 张伟 (reviews and posts)."""
    return jincheng_people["fund"]


@pytest.fixture
def jincheng(jincheng_people, tmp_path):
    cy = ContractYear.objects.get(contract__code="JC-2019")
    cy.operating_cost = "3000000.00"
    cy.save()
    _paid_by_the_insurer(cy, "JC-T", "132600280.50", date(2019, 4, 26))
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
        settlement_post(settlement=s, user=reviewer)  # not before review
    s = settlement_review(settlement=s, user=reviewer)
    with pytest.raises(Refused) as info:
        settlement_post(settlement=s, on=date(2020, 6, 20), user=preparer)  # never by its preparer
    assert info.value.problems[0]["expected"] == "someone other than the preparer"
    s = settlement_post(settlement=s, on=date(2020, 6, 20), user=reviewer)
    assert (s.status, s.prepared_by, s.reviewed_by, s.posted_by) == ("posted", preparer, reviewer, reviewer)
    # The insurer's side is booked by the insurer's own people, never by the fund's.
    with pytest.raises(Refused):
        settlement_insurer_prepare(settlement=s, user=preparer)
    accountant, checker = demo_people_of(jincheng.contract)["insurer"]
    drafts = settlement_insurer_prepare(settlement=s, user=accountant)
    assert [(e.status, e.made_by, e.date) for e in drafts] == [("draft", accountant, date(2020, 6, 20))] * 2
    settlement_insurer_approve(settlement=s, user=checker)

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
    assert settlement_post(settlement=s, user=reviewer).status == "posted" and JournalEntry.objects.count() == before
    assert ledger_verify().ok


def test_a_settlement_before_the_cut_off_is_refused(jincheng, people):
    with pytest.raises(Refused) as info:
        settlement_draft(contract_year=jincheng, as_of=date(2020, 3, 31), user=people[0])
    assert info.value.problems[0]["expected"] == "a date after the cut-off 2020-03-31"
    assert not Settlement.objects.exists()


def test_a_loss_needs_the_accountants_split_with_a_reason(jincheng, tmp_path, people):
    _claims(tmp_path / "..", jincheng.contract, [("JC-9", "2019-12-01", "2019-12-05", "40000000.00")])
    with pytest.raises(Refused) as info:
        settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), user=people[0])
    assert info.value.problems[0]["field"] == "policy_loss"
    with pytest.raises(Refused):  # no reason
        settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), policy_loss="10000000.00", user=people[0])
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 1), policy_loss="10000000.00",
                         loss_reason="2019年目录调整导致的政策性超支（医保局认定）", user=people[0])
    # Loss 18,613,027.90; the fund bears 50% of the 10,000,000 policy part.
    assert (s.outcome["loss"], s.outcome["loss_fund"], s.outcome["loss_insurer"]) == (
        "18613027.90", "5000000.00", "13613027.90")


def test_shandong_loss_beyond_the_band_is_recorded_not_paid(db, tmp_path):
    reference_contracts_load()
    books_opened()
    cy = ContractYear.objects.get(contract__code="SD-2015")
    people = demo_people_of(cy.contract)["fund"]
    _paid_by_the_insurer(cy, "SD-T", "320000000.00", date(2015, 4, 28))
    _claims(tmp_path, cy.contract, [("SD-1", "2015-10-01", "2015-10-01", "170000000.00"),
                                    ("SD-2", "2015-12-20", "2016-01-10", "170000000.00")])
    s = settlement_draft(contract_year=cy, as_of=date(2016, 4, 5), user=people[0])
    assert (s.outcome["loss"], s.outcome["loss_insurer"], s.outcome["loss_deferred"], s.outcome["loss_fund"]) == (
        "20000000.00", "12800000.00", "7200000.00", "0.00")
    _posted(s, None, people)
    assert JournalEntry.objects.filter(source="settlement").count() == 0  # borne and deferred: nothing to pay


def test_the_scheduled_draft_makes_one_and_deadlines_are_noticed(jincheng, people):
    # Every reference contract year whose March 31 cut-off has passed by 2020-04-01: Shandong 2015 (its two
    # insurers), Xuzhou 2013 and Jincheng 2019 (Jiangxi 2025 and Changchun 2020 come later).
    due = set(ContractYear.objects.filter(cutoff__lt=date(2020, 4, 1)).values_list("contract__code", flat=True))
    assert due == {"SD-2015", "SD-2015-CLIC", "XZ-2013", "JC-2019"}
    # A schedule acting for 李敏 drafts the year of the fund she keeps; Shandong's and Xuzhou's schedules
    # name their own accountants.
    assert settlements_due_draft(today=date(2020, 4, 1), acts_for=people[0]) == 1
    assert settlements_due_draft(today=date(2020, 4, 1), acts_for=people[0]) == 0
    shandong = demo_people_of(ContractYear.objects.get(contract__code="SD-2015").contract)["fund"][0]
    # No Shandong premium is paid in this test: its drafts wait for the preparer's decision on it.
    assert settlements_due_draft(today=date(2020, 4, 1), acts_for=shandong) == 0
    s = Settlement.objects.get(contract_year=jincheng)
    assert (s.prepared_by, s.status) == (people[0], "draft")  # prepared for the named person; awaits a reviewer
    # Report due May 31 and settle due June 30 passed unposted, for each of the four.
    assert deadlines_check(today=date(2020, 7, 1)) == 8
    assert set(Deadline.objects.filter(contract_year=jincheng).values_list("kind", flat=True)) == {"report", "settle"}
    assert deadlines_check(today=date(2020, 7, 1)) == 0


def test_year_end_close_zeroes_income_and_expense_and_carries_balances(jincheng):
    insurer_book = jincheng.contract.insurer.books.get()
    accountant, reviewer = demo_people_of(jincheng.contract)["insurer"]
    before = trial_balance(book=insurer_book, year=2019)
    with pytest.raises(Refused) as info:  # nobody prepared the closing entry yet
        year_end_close(book=insurer_book, year=2019, by=reviewer)
    assert info.value.problems[0]["field"] == "closing entry"
    draft = year_end_prepare(book=insurer_book, year=2019, by=accountant)
    with pytest.raises(Refused):  # the preparer does not approve their own close
        year_end_close(book=insurer_book, year=2019, by=accountant)
    entry = year_end_close(book=insurer_book, year=2019, by=reviewer)
    assert entry.pk == draft.pk and entry.voucher.startswith("记-2019-")
    assert (entry.made_by, entry.reviewed_by) == (accountant, reviewer)
    closed = trial_balance(book=insurer_book, year=2019)
    rows = {r.account.code: r for r in closed.rows}
    for code in ("6031", "6511"):
        assert rows[code].closing_debit.amount == rows[code].closing_credit.amount == 0
    # Income 132,600,280.50 less claims 60,000,000.00 paid by Dec 31 → 本年利润.
    assert rows["4103"].closing_credit.amount == D("72600280.50")
    nxt = {r.account.code: r for r in trial_balance(book=insurer_book, year=2020).rows}
    assert nxt["1002"].opening_debit == rows["1002"].closing_debit
    assert {p.status for p in Period.objects.filter(book=insurer_book, year=2019)} == {"final"}
    assert year_end_close(book=insurer_book, year=2019, by=reviewer).pk == entry.pk  # again: nothing new
    assert closed.balanced and before.balanced and ledger_verify().ok


def _both_balanced(cy, year):
    fund_book, insurer_book = cy.contract.fund.books.get(), cy.contract.insurer.books.get()
    return trial_balance(book=fund_book, year=year).balanced and trial_balance(book=insurer_book, year=year).balanced


# Jiangxi's surplus carried into next year's fund, in both books and in the next year's premium:
# tests/reconciliation/test_settle_next_year.py.


@pytest.mark.parametrize("score, released, forfeited", [
    (95, "14733364.50", "0.00"), (85, "11786691.60", "2946672.90"), (50, "0.00", "14733364.50")])
def test_jincheng_deposit_paid_in_full_in_part_or_forfeited(jincheng, people, score, released, forfeited):
    jincheng.assessment.score = score
    jincheng.assessment.save()
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=people[0])
    _posted(s, date(2020, 6, 20), people)
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
    _posted(s, date(2020, 6, 20), people)
    r = transfers_reconcile(fund=jincheng.contract.fund, insurer=jincheng.contract.insurer, year=2020)
    assert r.surplus_paid == r.surplus_received == D("17055362.94")
    block = settlement_data(jincheng.contract.fund.books.get(), 2019, None)["blocks"][0]
    assert {"label": "返还基本医保基金", "words": "人民币壹仟柒佰零伍万伍仟叁佰陆拾贰元玖角肆分"} in block["upper"]


def test_the_january_close_is_prepared_for_a_named_person_and_approved_by_a_reviewer(jincheng):
    # On January 5 the task prepares the closing entries of the books 刘洋 keeps (China Life Jincheng's);
    # 周婷 approves, which closes the year. Without a named person the task prepares nothing.
    from reconciliation.tasks import year_end_close_all

    accountant, reviewer = demo_people_of(jincheng.contract)["insurer"]
    from django.core.exceptions import ValidationError

    from audit.models import AuditEvent

    with pytest.raises(ValidationError, match="有姓名的制单人"):  # Refused, as the task result carries it
        year_end_close_all.apply(kwargs={"year": 2019}).get()
    assert AuditEvent.objects.get(action="access_refused", actor="task year_end_close").detail["acts_for"] == ""
    assert year_end_close_all.apply(kwargs={"year": 2019, "acts_for": accountant.username}).get() == 1
    insurer_book = jincheng.contract.insurer.books.get()
    draft = JournalEntry.objects.get(book=insurer_book, idempotency_key="year-end:2019")
    assert (draft.status, draft.made_by) == ("draft", accountant)
    assert not JournalEntry.objects.filter(idempotency_key="year-end:2019").exclude(book=insurer_book).exists()
    year_end_close(book=insurer_book, year=2019, by=reviewer)
    assert {p.status for p in Period.objects.filter(book=insurer_book, year=2019)} == {"final"}
