"""Premiums owed and paid, as a Shanxi city and the Shandong province pay them.

Shanxi 2019 (晋医保发〔2019〕52号): ≥85 yuan per person; at least 30% arrived by April 30,
60% by June 30, 90% by September 30; the last 10% is a service deposit paid after the
annual assessment. Shandong 2015 (鲁人社发〔2014〕48号): 32 yuan per person; 80% by the
end of April, 20% after the evaluation, before year end.
"""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from access.demo import demo_pair
from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from audit.models import AuditEvent
from contracts.demo import opening_demo, transfer_demo
from contracts.models import ContractYear, PremiumObligation, PremiumTransfer
from contracts.selectors import premium_status
from contracts.services import (
    contract_create,
    contract_year_create,
    obligations_generate,
    premium_overdue_mark,
    transfer_approve,
    transfer_confirm,
    transfer_record,
    transfer_withdraw,
)
from core.errors import Refused
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry
from ledger.selectors import trial_balance
from ledger.services import fiscal_year_open
from tests.conftest import person

SHANXI_TRANCHES = [{"due": "2019-04-30", "cumulative_pct": "30"}, {"due": "2019-06-30", "cumulative_pct": "60"},
                   {"due": "2019-09-30", "cumulative_pct": "90"}]


def cny(x):
    return Money(x, "CNY")


@pytest.fixture
def jincheng(db):
    shanxi = region_ensure(code="14", name="山西省", level="province")
    city = region_ensure(code="1405", name="晋城市", level="city", parent=shanxi)
    fund = fund_ensure(code="F-1405", name="晋城市城乡居民大病保险资金", region=city)
    insurer = insurer_ensure(code="CLIC-1405", name="中国人寿保险股份有限公司晋城分公司")
    fund_book = book_create(code="FUND-1405", name="晋城市大病保险资金账", fund=fund)
    insurer_book = book_create(code="CLIC-1405-DB", name="国寿晋城大病保险专账", insurer=insurer)
    for b in (fund_book, insurer_book):
        fiscal_year_open(book=b, year=2019)
    contract = contract_create(code="JC-2019", name="晋城市大病保险承办合同", fund=fund, insurer=insurer,
                               first_year=2019, last_year=2021)
    # 85 yuan × 1,733,337 insured = 147,333,645.00: tranches that do not divide evenly.
    cy = contract_year_create(contract=contract, year=2019, per_capita="85", insured_count=1733337,
                              tranches=SHANXI_TRANCHES, deposit_pct="10")
    return cy


def test_shanxi_tranches_and_deposit_add_up_to_the_premium(jincheng):
    assert jincheng.premium == cny("147333645.00")
    obs = obligations_generate(contract_year=jincheng)
    assert [(o.kind, o.due_date, o.amount) for o in obs] == [
        ("tranche", date(2019, 4, 30), cny("44200093.50")),   # 30%
        ("tranche", date(2019, 6, 30), cny("44200093.50")),   # 60% cumulative = 88,400,187.00
        ("tranche", date(2019, 9, 30), cny("44200093.50")),   # 90% cumulative = 132,600,280.50
        ("deposit", None, cny("14733364.50")),                # the remaining 10%
    ]
    assert sum((o.amount for o in obs), cny(0)) == jincheng.premium
    assert obligations_generate(contract_year=jincheng) == obs  # running again creates nothing
    assert PremiumObligation.objects.count() == 4


def test_shandong_80_20_with_a_total_that_rounds(db):
    region = region_ensure(code="37", name="山东省", level="province")
    fund = fund_ensure(code="F-37", name="山东省大病保险资金", region=region)
    insurer = insurer_ensure(code="PICC-37", name="人保财险山东分公司")
    contract = contract_create(code="SD-2015", name="山东省大病保险合同", fund=fund, insurer=insurer,
                               first_year=2015, last_year=2016)
    cy = contract_year_create(contract=contract, year=2015, per_capita="32", insured_count=3,
                              fixed_total=None, tranches=[{"due": "2015-04-30", "cumulative_pct": "80"},
                                                          {"due": "2015-12-31", "cumulative_pct": "100"}])
    obs = obligations_generate(contract_year=cy)
    # 96.00: 80% = 76.80, 20% = 19.20; no deposit line when nothing is held back.
    assert [o.amount for o in obs] == [cny("76.80"), cny("19.20")]
    odd = contract_year_create(contract=contract, year=2016, basis="fixed_total", fixed_total="100.01",
                               tranches=[{"due": "2016-04-30", "cumulative_pct": "80"},
                                         {"due": "2016-12-31", "cumulative_pct": "100"}])
    assert [o.amount for o in obligations_generate(contract_year=odd)] == [cny("80.01"), cny("20.00")]


@pytest.mark.parametrize("tranches, deposit, field", [
    ([{"due": "2019-06-30", "cumulative_pct": "60"}, {"due": "2019-04-30", "cumulative_pct": "90"}], "10",
     "tranche 2 due"),
    ([{"due": "2019-04-30", "cumulative_pct": "60"}, {"due": "2019-06-30", "cumulative_pct": "30"}], "70",
     "tranche 2 cumulative_pct"),
    ([{"due": "2019-04-30", "cumulative_pct": "30"}, {"due": "2019-06-30", "cumulative_pct": "80"}], "10",
     "tranches"),
    ([{"due": "2019-04-31", "cumulative_pct": "90"}], "10", "tranche 1 due"),
])
def test_terms_that_contradict_themselves_are_refused(jincheng, tranches, deposit, field):
    with pytest.raises(Refused) as info:
        contract_year_create(contract=jincheng.contract, year=2020, per_capita="85", insured_count=10,
                             tranches=tranches, deposit_pct=deposit)
    assert field in [p["field"] for p in info.value.problems]
    assert not ContractYear.objects.filter(year=2020).exists()


def _sum(book, code):
    tb = trial_balance(book=book, year=2019)
    row = next(r for r in tb.rows if r.account.code == code)
    return row.period_debit, row.period_credit


@pytest.fixture
def sides(jincheng):
    """Jincheng fund: 李敏 prepares, 张伟 reviews; China Life Jincheng: 刘洋 prepares, 周婷 reviews. The fund's
    book opened (建账) on 2019-01-01 with 300,000,000.00 in its 支出户, which it pays from; the insurer's
    only receives here, and is left without opening balances."""
    people = {"fund": demo_pair("fund", "1405"), "insurer": demo_pair("insurer", "CLIC-1405")}
    opening_demo(jincheng.contract.fund.books.get(), date(2019, 1, 1),
                 [("1004", "300000000.00", None), ("3001", None, "300000000.00")], "fund", "1405")
    return people


def _record(sides, side, **kwargs):
    return transfer_record(user=sides[side][0], **kwargs)


def test_each_side_books_a_transfer_in_its_own_book_and_it_is_in_transit_until_both_have(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    fund_book = jincheng.contract.fund.books.get()
    insurer_book = jincheng.contract.insurer.books.get()
    (limin, zhangwei), (liuyang, zhouting) = sides["fund"], sides["insurer"]
    t = _record(sides, "fund", reference="JC-2019-001", contract_year=jincheng, insurer=jincheng.contract.insurer,
                amount="44200093.50", paid_on=date(2019, 4, 25))
    # Drafted by 李敏 in the fund's book only; nothing counts until a reviewer posts it.
    assert (t.entered_by_side, t.fund_entry.status, t.fund_entry.made_by, t.insurer_entry) == (
        "fund", "draft", limin, None)
    assert premium_status(contract_year=jincheng, as_of=date(2019, 4, 30))[0].received == cny(0)
    with pytest.raises(Refused):
        transfer_approve(transfer=t, user=zhouting)  # the insurer's reviewer keeps no fund book
    transfer_approve(transfer=t, user=zhangwei)
    t.refresh_from_db()
    assert t.in_transit and t.fund_confirmed and not t.insurer_confirmed
    assert (t.fund_entry.made_by, t.fund_entry.reviewed_by) == (limin, zhangwei)
    assert _sum(fund_book, "5101") == (cny("44200093.50"), cny(0))
    assert _sum(fund_book, "1004") == (cny(0), cny("44200093.50"))
    assert _sum(insurer_book, "6031") == (cny(0), cny(0))  # the fund never writes into the insurer's book
    # Paid by the fund, not yet confirmed by the insurer: in transit (在途), not received (已到账).
    row = premium_status(contract_year=jincheng, as_of=date(2019, 4, 30))[0]
    assert (row.received, row.in_transit, row.shortfall) == (cny(0), cny("44200093.50"), cny(0))
    assert (row.state_label, row.days_late) == ("已拨付待确认", None)

    # 刘洋 confirms the money arrived on April 28 in the insurer's book; 周婷 posts it.
    t = transfer_confirm(transfer=t, user=liuyang, received_on=date(2019, 4, 28))
    assert (t.insurer_entry.status, t.insurer_entry.made_by, t.received_on) == ("draft", liuyang, date(2019, 4, 28))
    assert transfer_confirm(transfer=t, user=liuyang).insurer_entry_id == t.insurer_entry_id  # again: the same
    transfer_approve(transfer=t, user=zhouting)
    t.refresh_from_db()
    assert not t.in_transit
    assert _sum(insurer_book, "1002") == (cny("44200093.50"), cny(0))
    assert _sum(insurer_book, "6031") == (cny(0), cny("44200093.50"))
    row = premium_status(contract_year=jincheng, as_of=date(2019, 4, 30))[0]
    assert (row.state, row.received, row.in_transit) == ("paid_on_time", cny("44200093.50"), cny(0))
    assert ledger_verify().ok


def test_the_side_follows_from_who_records_never_from_a_field(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    kwargs = dict(contract_year=jincheng, insurer=jincheng.contract.insurer, amount="1000.00",
                  paid_on=date(2019, 4, 25))
    t = _record(sides, "insurer", reference="JC-2019-002", received_on=date(2019, 4, 26), **kwargs)
    assert (t.entered_by_side, t.fund_entry, t.insurer_entry.book.code) == ("insurer", None, "CLIC-1405-DB")
    with pytest.raises(TypeError):  # there is no side to choose
        transfer_record(reference="JC-2019-003", side="insurer", user=sides["fund"][0], **kwargs)
    for who in (sides["fund"][1], sides["insurer"][1]):  # reviewers record nothing
        with pytest.raises(Refused) as info:
            transfer_record(reference="JC-2019-004", user=who, **kwargs)
        assert info.value.problems[0]["field"] == "user"
    outsider = person("sd-kuaiji", "孙会计", "fund_accountant", regions=[])
    with pytest.raises(Refused):
        transfer_record(reference="JC-2019-005", user=outsider, **kwargs)
    assert PremiumTransfer.objects.count() == 1


def test_a_payment_entered_by_the_insurer_goes_straight_to_its_bank(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    t = transfer_demo(people=sides, side="insurer", confirm_on=None, reference="JC-2019-002", contract_year=jincheng,
                      insurer=jincheng.contract.insurer, amount="1000.00", paid_on=date(2019, 4, 25))
    assert t.in_transit and t.insurer_confirmed and not t.fund_confirmed
    assert _sum(jincheng.contract.insurer.books.get(), "1002") == (cny("1000.00"), cny(0))
    t = transfer_confirm(transfer=t, user=sides["fund"][0])
    transfer_approve(transfer=t, user=sides["fund"][1])
    t.refresh_from_db()
    assert not t.in_transit


def test_a_late_and_short_shanxi_year(jincheng, sides):
    """First tranche on time; the 60% mark reached 12 days late; the 90% mark never reached."""
    obligations_generate(contract_year=jincheng)
    insurer = jincheng.contract.insurer
    for ref, amount, paid in [("A", "44200093.50", date(2019, 4, 29)), ("B", "30000000.00", date(2019, 6, 28)),
                              ("C", "14200093.50", date(2019, 7, 12)), ("D", "20000000.00", date(2019, 9, 20))]:
        transfer_demo(people=sides, side="insurer", confirm_on=None, reference=ref, contract_year=jincheng,
                      insurer=insurer, amount=amount, paid_on=paid)
    rows = premium_status(contract_year=jincheng, as_of=date(2019, 10, 31))
    assert [(r.state, r.days_late, r.received, r.shortfall) for r in rows] == [
        ("paid_on_time", None, cny("44200093.50"), cny(0)),
        ("paid_late", 12, cny("44200093.50"), cny(0)),
        ("overdue", 31, cny("20000000.00"), cny("24200093.50")),
        ("awaiting_assessment", None, cny(0), cny("14733364.50")),
    ]
    assert rows[2].state_label == "逾期未足额"


def test_overpaying_paying_the_wrong_insurer_or_a_closed_year_is_refused(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    other = insurer_ensure(code="PICC-1405", name="人保财险晋城分公司")
    book_create(code="PICC-1405-DB", name="人保晋城专账", insurer=other)
    before = PremiumTransfer.objects.count()
    with pytest.raises(Refused) as info:
        _record(sides, "fund", reference="X1", contract_year=jincheng, insurer=jincheng.contract.insurer,
                amount="147333645.01", paid_on=date(2019, 4, 25))
    assert info.value.problems == [{"entry": "transfer X1", "field": "amount",
                                    "expected": "at most what is still owed, 147,333,645.00",
                                    "found": "147,333,645.01"}]
    with pytest.raises(Refused) as info:
        _record(sides, "fund", reference="X2", contract_year=jincheng, insurer=other, amount="10.00",
                paid_on=date(2019, 4, 25))
    assert info.value.problems[0]["field"] == "insurer"
    jincheng.status = ContractYear.Status.CLOSED
    jincheng.save()
    with pytest.raises(Refused) as info:
        _record(sides, "fund", reference="X3", contract_year=jincheng, insurer=jincheng.contract.insurer,
                amount="10.00", paid_on=date(2019, 4, 25))
    assert info.value.problems[0]["found"] == "JC-2019 2019 is closed"
    assert PremiumTransfer.objects.count() == before
    assert ledger_verify().entries == 0 and not JournalEntry.objects.exists()  # nothing reached either book


def test_a_transfer_awaiting_review_already_counts_against_what_is_owed(jincheng, sides):
    # 147,333,645.00 owed: a first payment of all of it, drafted and not yet reviewed, leaves nothing to pay.
    obligations_generate(contract_year=jincheng)
    kwargs = dict(contract_year=jincheng, insurer=jincheng.contract.insurer, paid_on=date(2019, 4, 25))
    first = _record(sides, "fund", reference="ALL", amount="147333645.00", **kwargs)
    with pytest.raises(Refused) as info:
        _record(sides, "insurer", reference="AGAIN", amount="0.01", **kwargs)
    assert info.value.problems[0]["expected"] == "at most what is still owed, 0.00"
    # Withdrawn by its preparer (not by anyone else), the draft frees the amount again; the trail says who.
    with pytest.raises(Refused):
        transfer_withdraw(transfer=first, user=sides["fund"][1])
    assert transfer_withdraw(transfer=first, user=sides["fund"][0]) is True
    assert not PremiumTransfer.objects.exists() and not JournalEntry.objects.exists()
    event = AuditEvent.objects.get(action="deleted")
    assert (event.actor, event.detail["reference"], event.detail["sides"]) == ("jc-limin", "ALL", ["fund"])
    assert _record(sides, "insurer", reference="AGAIN", amount="0.01", **kwargs).amount == cny("0.01")


def test_a_payment_against_the_deposit_counts_against_the_year_too(jincheng, sides):
    obligations = obligations_generate(contract_year=jincheng)
    deposit = obligations[-1]
    kwargs = dict(insurer=jincheng.contract.insurer, paid_on=date(2019, 4, 25))
    _record(sides, "fund", reference="YEAR", contract_year=jincheng, amount="147333645.00", **kwargs)
    with pytest.raises(Refused) as info:  # the year is paid in full: its deposit cannot be paid again
        _record(sides, "fund", reference="DEP", obligation=deposit, amount="14733364.50", **kwargs)
    assert info.value.problems[0]["expected"] == "at most what is still owed, 0.00"


def test_the_same_reference_twice_records_one_payment(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    kwargs = dict(reference="JC-2019-009", contract_year=jincheng, insurer=jincheng.contract.insurer,
                  amount="500.00", paid_on=date(2019, 5, 5))
    assert _record(sides, "fund", **kwargs).pk == _record(sides, "fund", **kwargs).pk
    with pytest.raises(Refused):
        _record(sides, "fund", **{**kwargs, "amount": "500.01"})
    assert PremiumTransfer.objects.count() == 1


def test_marking_overdue_twice_changes_nothing_the_second_time(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    transfer_demo(people=sides, side="insurer", confirm_on=None, reference="A", contract_year=jincheng,
                  insurer=jincheng.contract.insurer, amount="44200093.50", paid_on=date(2019, 4, 29))
    assert premium_overdue_mark(as_of=date(2019, 5, 15)) == 0
    assert premium_overdue_mark(as_of=date(2019, 7, 1)) == 1
    assert premium_overdue_mark(as_of=date(2019, 7, 1)) == 0
    marked = PremiumObligation.objects.get(overdue_since__isnull=False)
    assert (marked.sequence, marked.overdue_since) == (2, date(2019, 7, 1))
    assert premium_overdue_mark(as_of=date(2019, 10, 1)) == 1  # the third tranche
    assert PremiumObligation.objects.filter(overdue_since__isnull=False).count() == 2


def test_premium_paid_before_the_policy_year_is_received_in_advance(jincheng, sides):
    obligations_generate(contract_year=jincheng)
    for book in (jincheng.contract.fund.books.get(), jincheng.contract.insurer.books.get()):
        fiscal_year_open(book=book, year=2018)
    transfer_demo(people=sides, side="insurer", confirm_on=None, reference="ADV", contract_year=jincheng,
                  insurer=jincheng.contract.insurer, amount="100.00", paid_on=date(2018, 12, 20))
    tb = trial_balance(book=jincheng.contract.insurer.books.get(), year=2018)
    advance = next(r for r in tb.rows if r.account.code == "2203")
    assert advance.closing_credit == cny("100.00")
    assert Decimal("100.00") == next(r for r in tb.rows if r.account.code == "1002").closing_debit.amount
