"""Several insurers in one province (Shandong, 鲁人社发〔2014〕48号: 全省统筹, bought by the province, each
统筹地区's agency paying the insurer assigned to it): regions assigned to one insurer a year, premiums
split by region, and province totals that agree with the books.

The worked case: one province fund (F-37, book FUND-37) and two insurers.
- A: 人保财险 (PICC-37), 32 yuan × 1,000 insured = 32,000.00; 济南市 700 and 青岛市 300.
  Tranche 1 (80%) = 25,600.00 → 济南 25,600 × 700/1,000 = 17,920.00, 青岛 the remainder 7,680.00;
  tranche 2 (20%) = 6,400.00 → 济南 4,480.00, 青岛 1,920.00. Paid in one sum per tranche, on time.
- B: 国寿 (CLIC-37), 32 yuan × 500 insured = 16,000.00; 淄博市 333 and 枣庄市 167.
  Tranche 1 = 12,800.00 → 淄博 12,800 × 333/500 = 8,524.80, 枣庄 12,800 − 8,524.80 = 4,275.20;
  tranche 2 = 3,200.00 → 淄博 2,131.20, 枣庄 1,068.80. Each city pays its own part; 枣庄's 80% late (05-15).
- Claims: A 30,000.00; B 16,200.00. Settlement under the Shandong terms (keep 2%, bear a loss up to 4%):
  A: margin 32,000 − 30,000 = 2,000.00; kept 2% × 32,000 = 640.00; returned 1,360.00.
  B: margin 16,000 − 16,200 = −200.00; band 4% × 16,000 = 640.00, so the insurer bears all 200.00.
- Province: insured 1,500; premium 48,000.00; paid 48,000.00; claims 46,200.00; kept 640.00;
  returned 1,360.00; loss 200.00, borne by the insurer.
"""

import json
from datetime import date
from decimal import Decimal as D

import pytest
from django.db.models import Sum

from access.demo import demo_people_of
from accounts.models import Book
from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from contracts.demo import transfer_demo
from contracts.models import ContractYearRegion, PremiumObligation
from contracts.reference import reference_contracts_load
from contracts.services import (
    contract_create,
    contract_year_create,
    contract_year_regions_set,
    obligations_generate,
    split_fen,
)
from core.errors import Refused
from ledger.models import Posting
from ledger.services import fiscal_year_open
from reconciliation.province import province_statement
from reconciliation.services import settlement_draft
from tests.conftest import books_opened
from tests.reconciliation.test_settle import _claims, _posted

TRANCHES = [{"due": "2015-04-30", "cumulative_pct": "80"}, {"due": "2015-12-31", "cumulative_pct": "100"}]
TERMS = json.loads(open("data/terms/shandong-2014.json", encoding="utf-8").read())
CITIES = {"3701": "济南市", "3702": "青岛市", "3703": "淄博市", "3704": "枣庄市"}


@pytest.fixture
def province(db):
    sd = region_ensure(code="37", name="山东省", level="province")
    cities = {code: region_ensure(code=code, name=name, level="city", parent=sd) for code, name in CITIES.items()}
    fund = fund_ensure(code="F-37", name="山东省城乡居民大病保险资金", region=sd)
    picc = insurer_ensure(code="PICC-37", name="中国人民财产保险股份有限公司山东省分公司")
    clic = insurer_ensure(code="CLIC-37", name="中国人寿保险股份有限公司山东省分公司")
    for code, owner in (("FUND-37", {"fund": fund}), ("PICC-37-DB", {"insurer": picc}),
                        ("CLIC-37-DB", {"insurer": clic})):
        fiscal_year_open(book=book_create(code=code, name=code, **owner), year=2015)
    books_opened()
    years = {}
    for key, insurer, count, split in (("A", picc, 1000, [("3701", 700), ("3702", 300)]),
                                       ("B", clic, 500, [("3703", 333), ("3704", 167)])):
        contract = contract_create(code=f"SD-T-{key}", name=f"山东省合同 {key}", fund=fund, insurer=insurer,
                                   first_year=2015, last_year=2016)
        cy = contract_year_create(contract=contract, year=2015, per_capita="32", insured_count=count,
                                  tranches=TRANCHES, settlement_terms=TERMS, benefit_policy="shandong-2015")
        contract_year_regions_set(contract_year=cy, regions=[(cities[c], n) for c, n in split])
        obligations_generate(contract_year=cy)
        years[key] = cy
    return {"years": years, "cities": cities, "fund": fund, "picc": picc, "clic": clic, "sd": sd}


def _parts(cy):
    return [(o.sequence, o.region.code, o.amount.amount) for o in PremiumObligation.objects.filter(contract_year=cy)
            .order_by("sequence", "region__code")]


def test_each_region_owes_its_share_of_each_tranche(province):
    a, b = province["years"]["A"], province["years"]["B"]
    assert _parts(a) == [(1, "3701", D("17920.00")), (1, "3702", D("7680.00")),
                         (2, "3701", D("4480.00")), (2, "3702", D("1920.00"))]
    assert _parts(b) == [(1, "3703", D("8524.80")), (1, "3704", D("4275.20")),
                         (2, "3703", D("2131.20")), (2, "3704", D("1068.80"))]
    assert sum(p[2] for p in _parts(b)) == D("16000.00")
    assert obligations_generate(contract_year=b) and PremiumObligation.objects.count() == 8  # again: nothing new
    # The last part takes the remainder: 1.00 in three equal parts is 0.33 + 0.33 + 0.34.
    assert split_fen(100, [1, 1, 1]) == [33, 33, 34] and split_fen(76800, [333, 167]) == [51149, 25651]


def test_a_region_is_served_by_one_insurer_a_year(province):
    cities, fund = province["cities"], province["fund"]
    other = insurer_ensure(code="TPI-37", name="太平人寿山东分公司")
    contract = contract_create(code="SD-T-C", name="山东省合同 C", fund=fund, insurer=other, first_year=2015,
                               last_year=2016)
    cy = contract_year_create(contract=contract, year=2015, per_capita="32", insured_count=900, tranches=TRANCHES)
    county = region_ensure(code="370102", name="历下区", level="county", parent=cities["3701"])
    elsewhere = region_ensure(code="14", name="山西省", level="province")
    with pytest.raises(Refused) as info:
        contract_year_regions_set(contract_year=cy, regions=[(cities["3702"], 500), (county, 300), (elsewhere, 50)])
    assert [(p["entry"], p["field"], p["expected"], p["found"]) for p in info.value.problems] == [
        ("region 3702 青岛市", "region", "a region no other insurer serves in 2015",
         "served by 中国人民财产保险股份有限公司山东省分公司 under contract SD-T-A (青岛市)"),
        # A district of a city another insurer serves overlaps it too.
        ("region 370102 历下区", "region", "a region no other insurer serves in 2015",
         "served by 中国人民财产保险股份有限公司山东省分公司 under contract SD-T-A (济南市)"),
        ("region 14 山西省", "region", "a region within 山东省", "(none)"),
        ("contract SD-T-C year 2015", "insured_count", "the regions' counts adding up to 900", "850"),
    ]
    assert not ContractYearRegion.objects.filter(contract_year=cy).exists()
    # The next year is another year: 青岛 may change insurer then.
    cy16 = contract_year_create(contract=contract, year=2016, per_capita="32", insured_count=300, tranches=[
        {"due": "2016-04-30", "cumulative_pct": "80"}, {"due": "2016-12-31", "cumulative_pct": "100"}])
    assert [r.region.code for r in contract_year_regions_set(contract_year=cy16, regions=[(cities["3702"], 300)])] \
        == ["3702"]
    # Setting the same regions again returns them; another set for a year that has one is refused.
    a = province["years"]["A"]
    assert len(contract_year_regions_set(contract_year=a, regions=[(cities["3701"], 700), (cities["3702"], 300)])) == 2
    with pytest.raises(Refused):
        contract_year_regions_set(contract_year=a, regions=[(cities["3701"], 1000)])


def test_the_reference_file_refuses_a_region_two_insurers_serve(db, tmp_path):
    data = json.loads(open("data/contracts.json", encoding="utf-8").read())
    shandong = [c for c in data["contracts"] if c["code"].startswith("SD-2015")]
    assert len(shandong) == 2
    served = [r["code"] for c in shandong for r in c["years"][0]["assigned_regions"]]
    assert sorted(served) == [f"37{n:02d}" for n in range(1, 18)]  # 济南 … 菏泽, each by one insurer
    counts = [sum(r["insured_count"] for r in c["years"][0]["assigned_regions"]) for c in shandong]
    assert counts == [c["years"][0]["insured_count"] for c in shandong] == [10_000_000, 6_000_000]
    shandong[1]["years"][0]["assigned_regions"][0]["code"] = "3701"  # 济南 given to 国寿 as well
    shandong[1]["years"][0]["assigned_regions"][0]["name"] = "济南市"
    path = tmp_path / "contracts.json"
    path.write_text(json.dumps({"contracts": shandong}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(Refused) as info:
        reference_contracts_load(path)
    assert info.value.problems[0]["found"] == ("served by 中国人民财产保险股份有限公司山东省分公司 under contract "
                                               "SD-2015 (济南市)")
    assert not ContractYearRegion.objects.exists() and not Book.objects.exists()  # all or nothing


def _pay_a_region(cy, sequence, code, paid_on):
    ob = PremiumObligation.objects.get(contract_year=cy, sequence=sequence, region__code=code)
    transfer_demo(people=demo_people_of(cy.contract), side="fund", confirm_on=paid_on,
                  reference=f"{cy.contract.code}-{code}-T{sequence}", obligation=ob, insurer=cy.contract.insurer,
                  amount=ob.amount.amount, paid_on=paid_on)


def _pay_the_year(cy, reference, amount, paid_on):
    transfer_demo(people=demo_people_of(cy.contract), side="fund", confirm_on=paid_on, reference=reference,
                  contract_year=cy, insurer=cy.contract.insurer, amount=amount, paid_on=paid_on)


def _book_sum(code, account, side, **where):
    total = Posting.objects.filter(book__code=code, account__code__startswith=account, entry__status="posted",
                                   **where).exclude(entry__source="year-end close").aggregate(s=Sum(side))["s"]
    return total.amount if total is not None else D("0.00")


def test_province_totals_agree_with_the_books(province, tmp_path):
    a, b = province["years"]["A"], province["years"]["B"]
    _pay_the_year(a, "A-T1", "25600.00", date(2015, 4, 28))
    _pay_a_region(b, 1, "3703", date(2015, 4, 28))
    # On May 10, 枣庄's 80% (4,275.20) is 10 days overdue: the province sees which city has not paid.
    early = province_statement(fund=province["fund"], year=2015, as_of=date(2015, 5, 10))
    zaozhuang = next(r for r in early.insurers[1].regions if r.code == "3704")
    assert (zaozhuang.premium, zaozhuang.paid, zaozhuang.shortfall, zaozhuang.days_late) == (
        D("5344.00"), D("0.00"), D("5344.00"), 10)  # 4,275.20 + 1,068.80 owed; only the first part due
    _pay_a_region(b, 1, "3704", date(2015, 5, 15))
    _pay_the_year(a, "A-T2", "6400.00", date(2015, 12, 22))
    _pay_a_region(b, 2, "3703", date(2015, 12, 22))
    _pay_a_region(b, 2, "3704", date(2015, 12, 22))
    _claims(tmp_path, a.contract, [("A-1", "2015-06-20", "2015-06-30", "30000.00")])
    _claims(tmp_path, b.contract, [("B-1", "2015-07-01", "2015-07-10", "16200.00")])
    for cy in (a, b):
        people = demo_people_of(cy.contract)["fund"]
        _posted(settlement_draft(contract_year=cy, as_of=date(2016, 6, 20), user=people[0]), date(2016, 6, 20),
                people)

    st = province_statement(fund=province["fund"], year=2015)
    assert st.as_of == date(2016, 6, 30)
    by = {i.contract_year.contract.code: i.figures for i in st.insurers}
    assert {k: by["SD-T-A"][k] for k in ("premium", "paid", "received", "claims", "retained", "surplus_returned",
                                          "loss", "loss_insurer")} == {
        "premium": D("32000.00"), "paid": D("32000.00"), "received": D("32000.00"), "claims": D("30000.00"),
        "retained": D("640.00"), "surplus_returned": D("1360.00"), "loss": D("0.00"), "loss_insurer": D("0.00")}
    assert {k: by["SD-T-B"][k] for k in ("premium", "paid", "claims", "retained", "surplus_returned", "loss",
                                          "loss_insurer", "loss_fund")} == {
        "premium": D("16000.00"), "paid": D("16000.00"), "claims": D("16200.00"), "retained": D("0.00"),
        "surplus_returned": D("0.00"), "loss": D("200.00"), "loss_insurer": D("200.00"), "loss_fund": D("0.00")}
    assert [(r.code, r.insured, r.premium, r.paid, r.days_late) for r in st.insurers[1].regions] == [
        ("3703", 333, D("10656.00"), D("10656.00"), 0),  # 8,524.80 + 2,131.20
        ("3704", 167, D("5344.00"), D("5344.00"), 15)]  # paid 05-15, due 04-30
    assert {k: st.totals[k] for k in ("insured", "premium", "paid", "claims", "retained", "surplus_returned",
                                      "loss")} == {
        "insured": 1500, "premium": D("48000.00"), "paid": D("48000.00"), "claims": D("46200.00"),
        "retained": D("640.00"), "surplus_returned": D("1360.00"), "loss": D("200.00")}

    # The same figures read straight from the books, by counterparty in the province's fund book.
    picc, clic = province["picc"].name, province["clic"].name
    assert _book_sum("FUND-37", "5101", "debit", counterparty=picc) == D("32000.00")
    assert _book_sum("FUND-37", "5101", "credit", counterparty=picc) == D("1360.00")
    assert _book_sum("FUND-37", "5101", "debit", counterparty=clic) == D("16000.00")
    assert _book_sum("FUND-37", "5101", "credit", counterparty=clic) == D("0.00")
    for code, premium, claims in (("PICC-37-DB", "32000.00", "30000.00"), ("CLIC-37-DB", "16000.00", "16200.00")):
        assert _book_sum(code, "6031", "credit", entry__source="premium-transfer") == D(premium)
        assert _book_sum(code, "6511", "debit") == D(claims)
    fund_net = (_book_sum("FUND-37", "5101", "debit", counterparty__in=[picc, clic])
                - _book_sum("FUND-37", "5101", "credit", counterparty__in=[picc, clic]))
    assert fund_net == st.totals["paid"] - st.totals["surplus_returned"] == D("46640.00")  # 48,000 − 1,360
    claims_in_books = _book_sum("PICC-37-DB", "6511", "debit") + _book_sum("CLIC-37-DB", "6511", "debit")
    assert claims_in_books == st.totals["claims"]
    # … and the statement's own ties to the books, per insurer and for the province, all hold.
    assert st.reconciles and len(st.checks) == 2 and all(len(i.checks) == 4 for i in st.insurers)
