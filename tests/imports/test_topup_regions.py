"""Top-up rows find their regions by name, never by position or 序号.

The shipped regions (data/regions/22_jilin.csv) keep the codes earlier imports gave: cities
22-NN by their 序号 in the published table, districts 22-NN-MM by position under their city.
Another table may number its rows differently; each row still lands on the region it names.
"""

import csv
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import Region
from accounts.services import regions_load
from contracts.models import PremiumObligation
from contracts.topup import REGIONS_FILE, topup_import
from core.errors import Refused

from .counts import assert_nothing_written, table_counts

TOPUP = Path(settings.BASE_DIR) / "data" / "jilin_2019_topup.csv"


def _rows() -> list[list[str]]:
    return list(csv.reader(TOPUP.open(encoding="utf-8")))


def _write(tmp_path, rows) -> Path:
    path = tmp_path / "topup.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_the_regions_load_once_with_the_codes_of_earlier_imports(db):
    assert regions_load(REGIONS_FILE) == 81
    assert regions_load(REGIONS_FILE) == 0  # loading again creates nothing
    assert Region.objects.get(code="22-01").name == "长春市"
    assert Region.objects.get(code="22-02-01").path() == "吉林省 / 吉林市 / 丰满区"
    assert Region.objects.get(code="22-41").level == "zone"  # 长白山管委会


def test_a_region_loaded_before_under_another_name_is_not_rewritten(db, tmp_path):
    regions_load(REGIONS_FILE)
    path = tmp_path / "regions.csv"
    path.write_text("code,name,level,parent_code\n22-02,松花江市,city,22\n", encoding="utf-8")
    before = table_counts()
    with pytest.raises(Refused) as info:
        regions_load(path)
    assert_nothing_written(before)
    assert [(p["entry"], p["field"], p["found"]) for p in info.value.problems] == [
        ("regions.csv row 2", "code", "松花江市, city, under 吉林省")]


def test_a_table_numbering_its_cities_differently_lands_on_the_named_regions(jilin, tmp_path):
    rows = _rows()
    # 长春市 and its 12 districts are rows 4–16, 吉林市 and its 6 districts rows 17–23: swap them and
    # renumber, so that row "1" is 吉林市.
    changchun, jilin_city = rows[3:16], rows[16:23]
    jilin_city[0][0], changchun[0][0] = "1", "2"
    jilin_city[0][4], changchun[0][4] = "人寿保险", "人保财险"
    rows[3:23] = jilin_city + changchun
    result = topup_import(path=_write(tmp_path, rows), accept_discrepancies=True)
    assert result.obligations == 68 and not result.problems
    fengman = PremiumObligation.objects.get(fund__region__name="丰满区")
    assert (fengman.fund.region.code, fengman.fund.code, fengman.insurer.name) == ("22-02-01", "F-22-02-01", "人寿保险")
    shuangyang = PremiumObligation.objects.get(fund__region__name="双阳区")
    assert (shuangyang.fund.region.code, shuangyang.insurer.name) == ("22-01-01", "人保财险")
    assert Region.objects.count() == 81  # the import never makes a region


def test_a_district_is_looked_for_only_under_its_own_city(jilin, tmp_path):
    rows = _rows()
    rows[4][1] = "丰满区"  # 长春市's ⑴ named as a district of 吉林市
    result = topup_import(path=_write(tmp_path, rows), accept_discrepancies=True)
    assert [(p["row"], p["field"], p["expected"], p["found"]) for p in result.problems] == [
        (5, "市县名称", "a district of 长春市, named as in data/regions/22_jilin.csv", "丰满区")]


def test_a_code_column_must_agree_with_the_name(jilin, tmp_path):
    rows = _rows()
    codes = {(r.parent.name, r.name): r.code for r in Region.objects.exclude(parent=None).select_related("parent")}
    parent = {}
    for row in rows[1:]:  # each city or county under 吉林省, each district under the city above it
        if row[0].isdigit():
            parent = {"city": "吉林省", "district": row[1]}
        level = "city" if row[0].isdigit() else "district"
        row += [""] * (5 - len(row)) + [codes.get((parent.get(level), row[1]), "")]
    rows[0].append("代码")
    assert not topup_import(path=_write(tmp_path, rows), dry_run=True, accept_discrepancies=True).problems
    rows[4][5] = "22-02-01"  # 双阳区 given 丰满区's code
    result = topup_import(path=_write(tmp_path, rows), dry_run=True, accept_discrepancies=True)
    assert [(p["row"], p["field"], p["expected"], p["found"]) for p in result.problems] == [
        (5, "代码", "22-01-01 (吉林省 / 长春市 / 双阳区)", "22-02-01")]


def test_without_the_regions_the_table_is_refused_in_one_line(db):
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("import_topup", str(TOPUP), "--accept-discrepancies", "--json", stdout=out)
    assert [(p["row"], p["field"], p["found"]) for p in json.loads(out.getvalue())["problems"]] == [
        (1, "市县名称", "no region 22")]
