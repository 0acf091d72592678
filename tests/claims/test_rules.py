"""What each region's policy pays, worked through with the documents' own figures."""

import json
from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import call_command

from claims.policies import policy_get, shipped_policy_codes
from claims.rules import policy_from_dict
from core.errors import Refused


def pays(code, group, oop, prior="0", **params):
    yearly, episode = policy_get(code=code, overrides=params or None).payable(group, oop=D(oop), prior_oop=D(prior))
    return yearly, episode


@pytest.mark.django_db
class TestShandong2015:
    """Deductible 12,000; 50% to 100k, 60% to 200k, 65% above; 300,000 a year at most."""

    def test_the_domain_worked_examples(self):
        assert pays("shandong-2015", "general", "150000") == (D("74000.00"), D("74000.00"))
        assert pays("shandong-2015", "general", "600000") == (D("300000.00"), D("300000.00"))  # 364,000 capped
        assert pays("shandong-2015", "general", "12000") == (D("0.00"), D("0.00"))

    def test_each_band_edge(self):
        assert pays("shandong-2015", "general", "100000")[0] == D("44000.00")
        assert pays("shandong-2015", "general", "200000")[0] == D("104000.00")
        assert pays("shandong-2015", "general", "12000.01")[0] == D("0.01")  # 0.005 rounds half up

    def test_two_stays_in_one_year_are_one_cumulative_figure(self):
        # 8,000 then 20,000: the first pays nothing, the second pays on 28,000 cumulative.
        assert pays("shandong-2015", "general", "8000") == (D("0.00"), D("0.00"))
        assert pays("shandong-2015", "general", "20000", prior="8000") == (D("8000.00"), D("8000.00"))

    def test_the_episode_that_crosses_the_cap_pays_only_up_to_it(self):
        # 450,000 alone pays 44,000 + 60,000 + 162,500 = 266,500; the cap leaves 33,500 for this stay.
        assert pays("shandong-2015", "general", "200000", prior="450000") == (D("300000.00"), D("33500.00"))
        assert pays("shandong-2015", "general", "10000", prior="600000") == (D("300000.00"), D("0.00"))

    def test_every_group_is_paid_as_general_because_the_document_says_so(self):
        # One rule for all residents: 低保 at 150,000 gets the general 74,000.00, by an explicit map with its reason.
        assert pays("shandong-2015", "dibao", "150000") == (D("74000.00"), D("74000.00"))
        policy = policy_get(code="shandong-2015")
        assert policy.paid_as("extreme_poverty_rural") == "general"
        assert "未对困难群体另设标准" in policy.maps["dibao"][1]


@pytest.mark.django_db
@pytest.mark.parametrize("group, oop, yearly", [
    ("general", "110000", "75000.00"),               # (110,000 − 10,000) × 75%
    ("general", "600000", "400000.00"),              # 442,500 capped at 400,000
    ("registered_poor", "1005000", "800000.00"),     # 80%, no cap
    ("extreme_poverty_rural", "700000", "500000.00"),  # 556,000 capped at 500,000
    ("extreme_poverty", "105000", "78000.00"),       # 78% above 5,000
    ("dibao", "600000", "400000.00"),                # 464,100 capped
    ("disabled", "5000", "0.00"),
    ("low_income_elderly", "5001", "0.78"),
    ("low_income_minor", "20000", "11700.00"),
])
def test_shanxi_2019(group, oop, yearly):
    assert pays("shanxi-2019", group, oop)[0] == D(yearly)


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["orphan", "relapsed_poor"])
def test_shanxi_2019_refuses_the_groups_its_document_does_not_name(group):
    # Section 二 names 建档立卡, 特困, 低保, the disabled, low-income elderly and minors; not orphans, not 返贫致贫.
    with pytest.raises(Refused) as info:
        pays("shanxi-2019", group, "20000")
    assert [(p["field"], p["found"]) for p in info.value.problems] == [("group", group)]
    assert info.value.problems[0]["expected"] == (
        "one of the groups the policy lists: general, extreme_poverty, extreme_poverty_rural, dibao, "
        "registered_poor, disabled, low_income_elderly, low_income_minor")


JX_INCOME = "jiangxi_urban_rural_per_capita_disposable_income_2024"
# Figures entered for the test (the official income figure is the user's to enter; 36,007 as reported).
JX = {JX_INCOME: "36007", "general_ratio": "0.60", "special_ratio": "0.65", "general_cap": "250000"}


@pytest.mark.django_db
def test_jiangxi_2025_deductible_is_half_the_prior_years_income():
    # 50% × 36,007 = 18,003.50; the special groups half that, 9,001.75, at 65% with no cap.
    assert pays("jiangxi-2025", "general", "118003.50", **JX)[0] == D("60000.00")   # 100,000 × 60%
    assert pays("jiangxi-2025", "general", "1000000", **JX)[0] == D("250000.00")    # 589,197.90 capped
    assert pays("jiangxi-2025", "orphan", "1009001.75", **JX)[0] == D("650000.00")  # 1,000,000 × 65%, no cap
    assert pays("jiangxi-2025", "relapsed_poor", "9001.75", **JX)[0] == D("0.00")
    # Entered at, say, 36,008, every figure follows: 18,004 deductible, (118,004 − 18,004) × 60%.
    assert pays("jiangxi-2025", "general", "118004", **{**JX, JX_INCOME: "36008"})[0] == D("60000.00")
    assert policy_get(code="jiangxi-2025", overrides=JX).unconfirmed == ()


@pytest.mark.django_db
def test_jiangxi_2025_rural_extreme_poverty_is_paid_as_extreme_poverty():
    # 特困人员 covers 农村特困: (100,000 − 9,001.75) × 65% = 59,148.8625 → 59,148.86, no cap
    # (not the general 49,197.90 = (100,000 − 18,003.50) × 60% it was silently paid before).
    assert pays("jiangxi-2025", "extreme_poverty_rural", "100000", **JX) == (D("59148.86"), D("59148.86"))
    assert pays("jiangxi-2025", "general", "100000", **JX)[0] == D("49197.90")


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["registered_poor", "disabled", "low_income_elderly", "low_income_minor"])
def test_jiangxi_2025_refuses_the_groups_its_document_does_not_name(group):
    with pytest.raises(Refused) as info:
        pays("jiangxi-2025", group, "100000", **JX)
    assert info.value.problems[0]["expected"] == (
        "one of the groups the policy lists: general, extreme_poverty, orphan, dibao, relapsed_poor, "
        "extreme_poverty_rural")


@pytest.mark.django_db
def test_jiangxi_2025_waits_for_the_income_and_the_contracts_figures():
    with pytest.raises(Refused) as info:
        pays("jiangxi-2025", "general", "100000")
    assert [(p["field"], p["found"]) for p in info.value.problems] == [
        ("parameter general_cap", "not set"), ("parameter general_ratio", "not set"),
        (f"parameter {JX_INCOME}", "not set")]
    assert "全省上年度公布的城乡居民人均可支配收入的50%" in info.value.problems[2]["expected"]
    # A special group waits only for what its own rule uses: the income and its ratio.
    with pytest.raises(Refused) as info:
        pays("jiangxi-2025", "dibao", "100000", **{JX_INCOME: "36007"})
    assert [p["field"] for p in info.value.problems] == ["parameter special_ratio"]


@pytest.mark.django_db
@pytest.mark.parametrize("name, value, floor", [
    ("general_ratio", "0.59", "0.60"), ("special_ratio", "0.60", "0.65"), ("general_cap", "200000", "250000")])
def test_jiangxi_2025_refuses_a_figure_below_the_documents_floor(name, value, floor):
    with pytest.raises(Refused) as info:
        pays("jiangxi-2025", "general", "100000", **{**JX, name: value})
    assert [(p["field"], p["expected"], p["found"]) for p in info.value.problems] == [
        (f"parameter {name}", f"at least {floor} (the document's floor)", value)]


BANDS_2019 = "10000:0.5,50000:0.6,100000:0.7"  # a table entered for the test, not the 2019 document's


@pytest.mark.django_db
def test_jilin_2020_waits_for_the_2019_bands_then_pays_by_them():
    with pytest.raises(Refused) as info:
        pays("jilin-2020", "general", "150000")
    assert [(p["field"], p["found"]) for p in info.value.problems] == [("parameter bands_2019", "not set")]
    assert "参照2019年大病保险分段标准" in info.value.problems[0]["expected"]
    # (50,000 − 10,000) × 50% + (100,000 − 50,000) × 60% + (150,000 − 100,000) × 70% = 20,000 + 30,000 + 35,000
    assert pays("jilin-2020", "general", "150000", bands_2019=BANDS_2019) == (D("85000.00"), D("85000.00"))
    # 20,000 + 30,000 + 900,000 × 70% = 680,000, capped at 300,000
    assert pays("jilin-2020", "general", "1000000", bands_2019=BANDS_2019)[0] == D("300000.00")
    # The same table as JSON, as the admin's stored definition holds it.
    assert pays("jilin-2020", "general", "150000",
                bands_2019='[["10000", "0.5"], ["50000", "0.6"], ["100000", "0.7"]]')[0] == D("85000.00")


@pytest.mark.django_db
def test_jilin_2020_preferential_groups_and_the_rural_poor_without_a_cap():
    pref = "3000:0.6,100000:0.7"  # entered for the test
    assert pays("jilin-2020", "dibao", "13000", preferential_bands_2019=pref)[0] == D("6000.00")  # 10,000 × 60%
    # 97,000 × 60% + 900,000 × 70% = 58,200 + 630,000 = 688,200: no cap for the registered poor in the campaign,
    assert pays("jilin-2020", "registered_poor", "1000000", preferential_bands_2019=pref)[0] == D("688200.00")
    assert pays("jilin-2020", "dibao", "1000000", preferential_bands_2019=pref)[0] == D("300000.00")  # capped
    with pytest.raises(Refused) as info:
        pays("jilin-2020", "relapsed_poor", "13000", preferential_bands_2019=pref)
    assert info.value.problems[0]["field"] == "group"


@pytest.mark.django_db
@pytest.mark.parametrize("table, field, expected", [
    ("12000:0.5", "group general band 1 from", "the deductible 10000"),   # must start at the deductible
    ("10000:0.5,9000:0.6", "parameter bands_2019 band 2 from", "above 10000"),
    ("10000:1.5", "parameter bands_2019 band 1 ratio", "a ratio from 0 to 1"),
    ("10000", "parameter bands_2019 band 1", "[from, ratio]"),
    ("[1,", "parameter bands_2019", "a band table [[from, ratio], …] (or FROM:RATIO,FROM:RATIO…)"),
])
def test_jilin_2020_refuses_a_band_table_that_contradicts_itself(table, field, expected):
    with pytest.raises(Refused) as info:
        pays("jilin-2020", "general", "150000", bands_2019=table)
    assert (field, expected) in [(p["field"], p["expected"]) for p in info.value.problems]


@pytest.mark.django_db
def test_xuzhou_2013_ratio_is_the_contracts_at_least_50_percent_and_urban_needs_the_income_figure():
    with pytest.raises(Refused) as info:
        pays("xuzhou-2013-rural", "general", "2010000")
    assert [p["field"] for p in info.value.problems] == ["parameter ratio"]
    assert pays("xuzhou-2013-rural", "general", "2010000", ratio="0.50")[0] == D("1000000.00")  # 2,000,000 × 50%, no cap
    assert pays("xuzhou-2013-rural", "dibao", "20000", ratio="0.55")[0] == D("5500.00")  # mapped: one rule for all
    with pytest.raises(Refused) as info:
        pays("xuzhou-2013-rural", "general", "20000", ratio="0.45")
    assert info.value.problems[0]["expected"] == "at least 0.50 (the document's floor)"
    with pytest.raises(Refused) as info:
        pays("xuzhou-2013-urban", "general", "50000")
    assert [p["field"] for p in info.value.problems] == ["parameter ratio", "parameter urban_disposable_income_2012"]
    # 50% × 24,000 = 12,000 deductible; (50,000 − 12,000) × 50%
    assert pays("xuzhou-2013-urban", "general", "50000", urban_disposable_income_2012="24000",
                ratio="0.5")[0] == D("19000.00")


@pytest.mark.django_db
def test_every_shipped_policy_is_well_formed():
    assert shipped_policy_codes() == ["jiangxi-2025", "jilin-2020", "shandong-2015", "shanxi-2019",
                                      "xuzhou-2013-rural", "xuzhou-2013-urban"]


BASE = {"code": "test", "year": 2020, "groups": {"general": {"deductible": "1000", "bands": [["1000", "0.5"]],
                                                             "cap": None}}}


@pytest.mark.parametrize("group, field, expected", [
    ({"deductible": "1000", "bands": [["2000", "0.5"]], "cap": None}, "group general band 1 from",
     "the deductible 1000"),
    ({"deductible": "1000", "bands": [["1000", "0.5"], ["900", "0.6"]], "cap": None}, "group general band 2 from",
     "above 1000"),
    ({"deductible": "1000", "bands": [["1000", "1.5"]], "cap": None}, "group general band 1 ratio",
     "a ratio from 0 to 1"),
    ({"deductible": "1000", "bands": [["1000", "0.5"]], "cap": "-1"}, "group general cap",
     "≥ 0 or null (no cap)"),
    ({"deductible": "1000", "bands": [], "cap": None}, "group general bands", "at least one band"),
    ({"deductible": "abc", "bands": [["1000", "0.5"]], "cap": None}, "group general deductible", "a number"),
])
def test_a_policy_that_contradicts_itself_is_refused(group, field, expected):
    with pytest.raises(Refused) as info:
        policy_from_dict({**BASE, "groups": {"general": group}})
    assert (field, expected) in [(p["field"], p["expected"]) for p in info.value.problems]


def test_an_unknown_group_in_a_policy_is_refused():
    with pytest.raises(Refused) as info:
        policy_from_dict({**BASE, "groups": {**BASE["groups"], "vip": BASE["groups"]["general"]}})
    assert info.value.problems[0]["found"] == "vip"


@pytest.mark.django_db
def test_the_benefit_command(tmp_path):
    out = StringIO()
    call_command("benefit", "--policy", "shandong-2015", "--oop", "20000", "--prior-oop", "8000", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"policy": "shandong-2015", "group": "general", "cumulative_oop": "28000.00",
                                          "yearly_payable": "8000.00", "episode_payable": "8000.00",
                                          "unconfirmed": [], "paid_as": "general"}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(BASE), encoding="utf-8")
    out = StringIO()
    call_command("benefit", "--policy-file", str(path), "--oop", "3000", "--json", stdout=out)
    assert json.loads(out.getvalue())["yearly_payable"] == "1000.00"
    with pytest.raises(SystemExit) as exc:
        call_command("benefit", "--policy", "shandong-2015", "--oop", "-5", stdout=StringIO())
    assert exc.value.code == 1
