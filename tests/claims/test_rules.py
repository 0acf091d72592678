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

    def test_a_special_group_is_paid_as_general(self):
        assert pays("shandong-2015", "dibao", "150000") == (D("74000.00"), D("74000.00"))


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
    ("orphan", "20000", "7500.00"),                  # not named by the document: general
])
def test_shanxi_2019(group, oop, yearly):
    assert pays("shanxi-2019", group, oop)[0] == D(yearly)


@pytest.mark.django_db
def test_jiangxi_2025_deductible_is_half_the_prior_years_income():
    # 50% × 36,007 = 18,003.50; special groups half that, 9,001.75, at 65% with no cap.
    assert pays("jiangxi-2025", "general", "118003.50")[0] == D("60000.00")
    assert pays("jiangxi-2025", "general", "1000000")[0] == D("250000.00")
    assert pays("jiangxi-2025", "orphan", "1009001.75")[0] == D("650000.00")
    assert pays("jiangxi-2025", "relapsed_poor", "9001.75")[0] == D("0.00")
    # When the official income figure is confirmed at, say, 36,008, every figure follows.
    assert pays("jiangxi-2025", "general", "118004", prior_year_disposable_income="36008")[0] == D("60000.00")
    assert policy_get(code="jiangxi-2025").unconfirmed  # the placeholder figures are flagged


@pytest.mark.django_db
def test_jilin_2020_caps_and_the_rural_poor_without_one():
    assert pays("jilin-2020", "general", "1000000")[0] == D("300000.00")
    assert pays("jilin-2020", "dibao", "13000")[0] == D("6500.00")         # 3,000 deductible
    assert pays("jilin-2020", "registered_poor", "1003000")[0] == D("650000.00")  # no cap in the campaign
    assert pays("jilin-2020", "general", "20000", band_2019_ratio="0.55")[0] == D("5500.00")


@pytest.mark.django_db
def test_xuzhou_2013_rural_has_no_cap_and_urban_needs_the_income_figure():
    assert pays("xuzhou-2013-rural", "general", "2010000")[0] == D("1000000.00")
    with pytest.raises(Refused) as info:
        pays("xuzhou-2013-urban", "general", "50000")
    assert info.value.problems[0]["expected"] == "parameter deductible to be set (see its note)"
    assert pays("xuzhou-2013-urban", "general", "50000", urban_disposable_income_2012="24000")[0] == D("19000.00")


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
                                          "unconfirmed": []}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(BASE), encoding="utf-8")
    out = StringIO()
    call_command("benefit", "--policy-file", str(path), "--oop", "3000", "--json", stdout=out)
    assert json.loads(out.getvalue())["yearly_payable"] == "1000.00"
    with pytest.raises(SystemExit) as exc:
        call_command("benefit", "--policy", "shandong-2015", "--oop", "-5", stdout=StringIO())
    assert exc.value.code == 1
