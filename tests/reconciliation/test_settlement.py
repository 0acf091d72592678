"""Worked settlements for each document's terms, with the documents' own rules and round figures.

Shandong 2014: the insurer keeps profit + cost up to 2% of P, the rest goes back to the basic
fund; it bears a loss up to 4% of P, beyond that the loss is resolved by next year's policy.
Shanxi 2019: surplus beyond the agreed margin returned in full; the 10% deposit released by
score band or forfeited; policy loss shared at the contract ratio, management loss the insurer's.
Jiangxi 2024: profit after cost held to 4% (+1% for a good assessment), the excess carried into
next year's fund; policy loss shared, management loss the insurer's.
"""

import json
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from core.errors import Refused
from reconciliation.settlement import settlement_compute, terms_from_dict

TERMS = Path(settings.BASE_DIR) / "data" / "terms"


def terms(name):
    return terms_from_dict(json.loads((TERMS / f"{name}.json").read_text(encoding="utf-8")))


def figures(outcome):
    return {k: v for k, v in outcome.as_json().items() if v != "0.00"}


def test_shandong_surplus_returned_beyond_two_percent():
    # P 320,000,000; C 300,000,000: margin 20,000,000; the insurer keeps 2% = 6,400,000.
    out = settlement_compute(terms=terms("shandong-2014"), premium="320000000.00", claims="300000000.00")
    assert figures(out) == {"premium": "320000000.00", "claims": "300000000.00", "margin": "20000000.00",
                            "retained": "6400000.00", "surplus_returned": "13600000.00"}


def test_shandong_small_surplus_is_all_kept():
    out = settlement_compute(terms=terms("shandong-2014"), premium="320000000.00", claims="315000000.00")
    assert (out.retained, out.surplus_returned) == (D("5000000.00"), D("0.00"))


def test_shandong_loss_within_the_four_percent_band_is_the_insurers():
    out = settlement_compute(terms=terms("shandong-2014"), premium="320000000.00", claims="330000000.00")
    assert (out.loss, out.loss_insurer, out.loss_deferred, out.loss_fund) == (
        D("10000000.00"), D("10000000.00"), D("0.00"), D("0.00"))


def test_shandong_loss_beyond_the_band_is_deferred_to_next_years_policy():
    # 4% of 320,000,000 = 12,800,000 borne; the other 7,200,000 recorded, not paid.
    out = settlement_compute(terms=terms("shandong-2014"), premium="320000000.00", claims="340000000.00")
    assert (out.loss, out.loss_insurer, out.loss_deferred, out.loss_fund) == (
        D("20000000.00"), D("12800000.00"), D("7200000.00"), D("0.00"))


@pytest.mark.parametrize("score, released, forfeited", [
    ("95", "14733364.50", "0.00"),          # ≥ 90: in full
    ("85", "11786691.60", "2946672.90"),    # ≥ 80: 80%
    ("65", "7366682.25", "7366682.25"),     # ≥ 60: 50%
    ("59.5", "0.00", "14733364.50"),        # failed: forfeited
])
def test_shanxi_deposit_by_score_band(score, released, forfeited):
    out = settlement_compute(terms=terms("shanxi-2019"), premium="147333645.00", claims="120000000.00",
                             cost="3000000.00", deposit="14733364.50", score=score)
    assert (out.deposit_released, out.deposit_forfeited) == (D(released), D(forfeited))
    assert out.premium == D("147333645.00") - D(forfeited)  # the cap is a share of what was earned
    assert out.retained + out.surplus_returned == out.margin
    assert out.surplus_returned > 0 and out.surplus_carried == 0


def test_shanxi_surplus_beyond_the_agreed_margin_returned_in_full():
    # Earned 147,333,645.00; margin after cost = 147,333,645 − 120,000,000 − 3,000,000 = 24,333,645;
    # the agreed 3% = 4,420,009.35 stays, 19,913,635.65 goes back.
    out = settlement_compute(terms=terms("shanxi-2019"), premium="147333645.00", claims="120000000.00",
                             cost="3000000.00", deposit="14733364.50", score="92")
    assert (out.margin, out.retained, out.surplus_returned) == (
        D("24333645.00"), D("4420009.35"), D("19913635.65"))


def test_shanxi_policy_loss_shared_and_management_loss_the_insurers():
    # Loss 10,000,000, of which the accountants find 6,000,000 policy-caused: the fund bears 50% of that.
    out = settlement_compute(terms=terms("shanxi-2019"), premium="147333645.00", claims="154333645.00",
                             cost="3000000.00", deposit="14733364.50", score="95", policy_loss="6000000.00")
    assert (out.loss, out.loss_fund, out.loss_insurer) == (D("10000000.00"), D("3000000.00"), D("7000000.00"))


def test_a_loss_under_split_terms_needs_the_policy_loss():
    with pytest.raises(Refused) as info:
        settlement_compute(terms=terms("shanxi-2019"), premium="100.00", claims="150.00", deposit="10.00", score="95")
    assert info.value.problems[0]["field"] == "policy_loss"
    for bad in ("-1", "50.01", "abc"):
        with pytest.raises(Refused):
            settlement_compute(terms=terms("shanxi-2019"), premium="100.00", claims="150.00", deposit="10.00",
                               score="95", policy_loss=bad)


def test_jiangxi_excess_carried_into_next_years_fund_with_the_incentive():
    # P 312,000,000, C 280,000,000, E 6,000,000: margin 26,000,000; 4% + 1% for a score of 92 = 15,600,000 kept.
    out = settlement_compute(terms=terms("jiangxi-2024"), premium="312000000.00", claims="280000000.00",
                             cost="6000000.00", score="92")
    assert (out.retained, out.surplus_carried, out.surplus_returned) == (
        D("15600000.00"), D("10400000.00"), D("0.00"))
    plain = settlement_compute(terms=terms("jiangxi-2024"), premium="312000000.00", claims="280000000.00",
                               cost="6000000.00", score="80")
    assert (plain.retained, plain.surplus_carried) == (D("12480000.00"), D("13520000.00"))


def test_parts_always_add_up_with_awkward_figures():
    out = settlement_compute(terms=terms("shanxi-2019"), premium="100.03", claims="100.04", deposit="10.01",
                             score="85", policy_loss="2.01")
    assert out.loss_fund + out.loss_insurer == out.loss
    assert out.deposit_released + out.deposit_forfeited == D("10.01")


@pytest.mark.parametrize("change, field", [
    ({"incentive": [{"min_score": "80", "extra_pct": "1"}, {"min_score": "90", "extra_pct": "2"}]}, "incentive 2 min_score"),
    ({"retained_cap_pct": "120"}, "retained_cap_pct"),
    ({"surplus_to": "insurer"}, "surplus_to"),
    ({"policy_loss_fund_share_pct": "-5"}, "policy_loss_fund_share_pct"),
])
def test_terms_that_contradict_themselves_are_refused(change, field):
    data = {**json.loads((TERMS / "jiangxi-2024.json").read_text(encoding="utf-8")), **change}
    with pytest.raises(Refused) as info:
        terms_from_dict(data)
    assert field in [p["field"] for p in info.value.problems]


def test_a_score_outside_0_100_is_refused():
    with pytest.raises(Refused) as info:
        settlement_compute(terms=terms("shanxi-2019"), premium="100", claims="50", deposit="10", score="101")
    assert info.value.problems[0]["field"] == "score"


def test_the_settlement_calc_command():
    out = StringIO()
    call_command("settlement_calc", "--terms", str(TERMS / "shandong-2014.json"), "--premium", "320000000",
                 "--claims", "340000000", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert (data["loss"], data["loss_insurer"], data["loss_deferred"]) == ("20000000.00", "12800000.00", "7200000.00")
    assert set(data) == {"premium", "claims", "cost", "margin", "retained", "surplus_returned", "surplus_carried",
                         "loss", "loss_insurer", "loss_fund", "loss_deferred", "deposit_released", "deposit_forfeited",
                         "cost_allowed", "cost_withheld"}
