"""The policy format's maps and parameters, and where a policy is refused: unlisted groups, figures to enter,
an unmigrated database."""

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command

from claims.models import BenefitPolicy
from claims.policies import policies_load, policy_get
from claims.rules import policy_from_dict
from claims.services import claims_import
from contracts.models import ContractYear
from core.errors import Refused
from tests.claims.test_claims import _row, _write

RULE = {"deductible": "1000", "bands": [["1000", "0.5"]], "cap": None}
BASE = {"code": "test", "year": 2020, "groups": {"general": RULE, "dibao": {**RULE, "bands": [["1000", "0.8"]]}}}


def test_a_mapped_group_is_paid_by_the_rule_it_maps_to():
    policy = policy_from_dict({**BASE, "maps": {"orphan": {"to": "dibao", "reason": "孤儿按低保对象"}}})
    assert policy.payable("orphan", oop=D("3000")) == (D("1600.00"), D("1600.00"))  # 2,000 × 80%
    assert policy.accepted() == ["general", "dibao", "orphan"]
    with pytest.raises(Refused) as info:
        policy.payable("disabled", oop=D("3000"))
    assert [(p["field"], p["expected"], p["found"]) for p in info.value.problems] == [
        ("group", "one of the groups the policy lists: general, dibao, orphan", "disabled")]


@pytest.mark.parametrize("maps, field, expected", [
    ({"orphan": {"to": "disabled", "reason": "x"}}, "maps orphan to", "a group the policy lists: general, dibao"),
    # a chain (orphan → registered_poor → general) or a cycle is refused: a map's target must be listed
    ({"orphan": {"to": "registered_poor", "reason": "x"}, "registered_poor": {"to": "general", "reason": "x"}},
     "maps orphan to", "a group the policy lists: general, dibao"),
    ({"orphan": {"to": "extreme_poverty", "reason": "x"}, "extreme_poverty": {"to": "orphan", "reason": "x"}},
     "maps extreme_poverty to", "a group the policy lists: general, dibao"),
    ({"dibao": {"to": "general", "reason": "x"}}, "maps dibao", "a group the policy does not list with a rule of its own"),
    ({"orphan": {"to": "general", "reason": " "}}, "maps orphan reason", "the document's words that put the group there"),
    ({"orphan": "general"}, "maps orphan reason", "the document's words that put the group there"),
    ({"vip": {"to": "general", "reason": "x"}}, "maps vip", "one of general, extreme_poverty, extreme_poverty_rural, "
     "orphan, dibao, registered_poor, relapsed_poor, disabled, low_income_elderly, low_income_minor"),
])
def test_a_map_is_checked_when_the_policy_is_read(maps, field, expected):
    with pytest.raises(Refused) as info:
        policy_from_dict({**BASE, "maps": maps})
    assert (field, expected) in [(p["field"], p["expected"]) for p in info.value.problems]


def test_a_band_table_parameter_and_a_floor():
    data = {**BASE, "parameters": {"table": {"kind": "bands", "value": None, "note": "请录入"},
                                   "ratio": {"value": None, "min": "0.5", "note": "不低于50%"}},
            "groups": {"general": {"deductible": "1000", "bands": "$table", "cap": None},
                       "dibao": {"deductible": "1000", "bands": [["1000", "$ratio"]], "cap": None}}}
    policy = policy_from_dict(data)  # well formed; each group waits for its own figure
    with pytest.raises(Refused) as info:
        policy.rule("general")
    assert [(p["field"], p["expected"], p["found"]) for p in info.value.problems] == [
        ("parameter table", "a value to be entered: 请录入", "not set")]
    # 1,000 × 50% + 1,000 × 60% = 1,100
    policy = policy_from_dict(data, overrides={"table": "1000:0.5,2000:0.6", "ratio": "0.5"})
    assert policy.payable("general", oop=D("3000"))[0] == D("1100.00")
    assert policy.payable("dibao", oop=D("3000"))[0] == D("1000.00")  # 2,000 × 50%
    with pytest.raises(Refused) as info:
        policy_from_dict(data, overrides={"ratio": "0.4"})
    assert info.value.problems[0]["expected"] == "at least 0.5 (the document's floor)"
    with pytest.raises(Refused) as info:  # a number where a table is wanted, and a table where a number is
        policy_from_dict({**data, "groups": {"general": {"deductible": "$table", "bands": "$ratio", "cap": None}}})
    assert [p["expected"] for p in info.value.problems] == ["a number parameter", "a band table parameter"]


@pytest.mark.django_db
def test_the_band_table_is_entered_in_the_admins_stored_definition():
    policies_load()
    stored = BenefitPolicy.objects.get(code="jilin-2020")
    definition = json.loads(json.dumps(stored.definition))
    definition["parameters"]["bands_2019"]["value"] = [["10000", "0.5"], ["50000", "0.6"], ["100000", "0.7"]]
    stored.definition = definition
    stored.full_clean()
    stored.save()
    # 20,000 + 30,000 + 35,000, as worked in test_rules
    assert policy_get(code="jilin-2020").payable("general", oop=D("150000"))[0] == D("85000.00")
    definition["parameters"]["bands_2019"]["value"] = [["10000", "1.5"]]
    stored.definition = definition
    with pytest.raises(ValidationError, match="比例"):
        stored.full_clean()


@pytest.mark.django_db
def test_the_benefit_command_refuses_an_unlisted_group_and_names_the_listed_ones():
    out = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("benefit", "--policy", "jiangxi-2025", "--group", "low_income_minor", "--oop", "100000",
                     "--json", stdout=out)
    assert exc.value.code == 1
    assert [(p["field"], p["found"], p["code"]) for p in json.loads(out.getvalue())["problems"]] == [
        ("group", "low_income_minor", "one of the groups the policy lists: %(names)s")]


@pytest.mark.django_db
def test_the_benefit_command_says_why_a_mapped_group_is_paid_by_another_rule():
    out = StringIO()
    call_command("benefit", "--policy", "jiangxi-2025", "--group", "extreme_poverty_rural", "--oop", "100000",
                 "--param", "jiangxi_urban_rural_per_capita_disposable_income_2024=36007",
                 "--param", "special_ratio=0.65", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    # (100,000 − 36,007 × 50% × 50%) × 65% = 90,998.25 × 65% = 59,148.8625
    assert (payload["yearly_payable"], payload["paid_as"]) == ("59148.86", "extreme_poverty")
    assert "特困人员" in payload["paid_as_because"]
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("benefit", "--policy", "jilin-2020", "--oop", "150000", "--json", stdout=out)
    assert [p["field"] for p in json.loads(out.getvalue())["problems"]] == ["parameter bands_2019"]
    out = StringIO()
    call_command("benefit", "--policy", "jilin-2020", "--oop", "150000", "--param",
                 "bands_2019=10000:0.5,50000:0.6,100000:0.7", "--json", stdout=out)
    assert json.loads(out.getvalue())["yearly_payable"] == "85000.00"


def test_import_refuses_a_row_whose_group_the_years_policy_does_not_pay(jincheng_people, tmp_path):
    # Shanxi 2019 does not name orphans: the row is refused, naming the groups it pays; nothing is written.
    jincheng = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    preparer = jincheng_people["insurer"][0]
    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00", group="dibao"),
                                       _row("JC-2", "2019-06-20", "20000.00", "7500.00", group="orphan")])
    with pytest.raises(Refused) as info:
        claims_import(path=path, contract=jincheng.contract, by=preparer)
    assert [(p["row"], p["field"], p["found"]) for p in info.value.problems] == [(3, "group", "orphan")]
    assert info.value.problems[0]["expected"] == (
        "a group policy shanxi-2019 pays: general, extreme_poverty, extreme_poverty_rural, dibao, registered_poor, "
        "disabled, low_income_elderly, low_income_minor")
    assert not jincheng.claims.exists()


def test_benefit_on_an_unmigrated_database_says_to_migrate(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "t", "PSEUDONYM_KEY": "t"}
    run = subprocess.run([sys.executable, "manage.py", "benefit", "--policy", "shandong-2015", "--oop", "150000",
                          "--json"], cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stderr) == (1, "")
    assert [(p["field"], p["expected"]) for p in json.loads(run.stdout)["problems"]] == [
        ("benefit policies table", "a migrated database (run: manage.py migrate)")]
    # A policy file needs no database: (100,000 − 12,000) × 50% + 50,000 × 60% = 74,000
    run = subprocess.run([sys.executable, "manage.py", "benefit", "--policy-file", "data/policies/shandong-2015.json",
                          "--oop", "150000", "--json"], cwd=Path(settings.BASE_DIR), env=env, capture_output=True,
                         text=True, timeout=120)
    assert (run.returncode, json.loads(run.stdout)["yearly_payable"]) == (0, "74000.00")


# The previous release's data/policies/jilin-2020.json, as it was stored.
OLD_JILIN_2020 = {'code': 'jilin-2020', 'year': 2020, 'name': '吉林省城乡居民大病保险 2020', 'source': '吉医保联〔2019〕26号 二：起付标准10000元（特困供养人员、孤儿、低保对象、建档立卡贫困人口3000元）；分段支付比例参照2019年标准；封顶线30万元；脱贫攻坚期间农村贫困人口取消封顶线', 'parameters': {'band_2019_ratio': {'value': '0.60', 'confirmed': False, 'note': '2019年分段支付标准不在我们的资料中：此为占位比例，请按2019年分段标准录入各段起点与比例'}, 'preferential_2019_ratio': {'value': '0.65', 'confirmed': False, 'note': '2019年倾斜支付标准不在我们的资料中：此为占位比例，请录入'}}, 'groups': {'general': {'deductible': '10000', 'bands': [['10000', '$band_2019_ratio']], 'cap': '300000'}, 'extreme_poverty': {'deductible': '3000', 'bands': [['3000', '$preferential_2019_ratio']], 'cap': '300000'}, 'orphan': {'deductible': '3000', 'bands': [['3000', '$preferential_2019_ratio']], 'cap': '300000'}, 'dibao': {'deductible': '3000', 'bands': [['3000', '$preferential_2019_ratio']], 'cap': '300000'}, 'registered_poor': {'deductible': '3000', 'bands': [['3000', '$preferential_2019_ratio']], 'cap': None}, 'extreme_poverty_rural': {'deductible': '3000', 'bands': [['3000', '$preferential_2019_ratio']], 'cap': None}}, 'notes': '建档立卡贫困人口、农村特困供养人员等农村贫困人口在脱贫攻坚期间不设封顶线。'}


def test_a_stored_policy_as_the_old_release_shipped_it_is_updated_an_edited_one_is_not(db):
    """The previous release shipped Jilin 2020 with flat 0.60 / 0.65 ratios it had guessed; a database loaded
    then holds them. The migration replaces a definition still exactly as shipped, and leaves an edited one."""
    import importlib

    from django.apps import apps

    from claims.models import BenefitPolicy

    step = importlib.import_module("claims.migrations.0008_shipped_policies_updated")
    assert step.digest(OLD_JILIN_2020) == step.PREVIOUS["jilin-2020"]
    edited = {**OLD_JILIN_2020, "notes": "长春市医保局 2020-03 录入"}
    BenefitPolicy.objects.create(code="jilin-2020", year=2020, name="old", source="old", definition=OLD_JILIN_2020)
    BenefitPolicy.objects.create(code="xuzhou-2013-rural", year=2013, name="edited", source="", definition=edited)
    step.update(apps, None)
    jilin = BenefitPolicy.objects.get(code="jilin-2020")
    assert jilin.definition["parameters"]["bands_2019"]["value"] is None  # now waits for the user's bands
    assert jilin.name != "old"
    assert BenefitPolicy.objects.get(code="xuzhou-2013-rural").definition == edited
