"""The Jilin 2019 top-up table: 15 yuan × 2019 insured persons, per county and district, by Nov 30.

The table as published (吉医保联〔2019〕26号 attachment) ties only when 长白山管委会 is
read as part of 延边州 and 延边州 as outside 县（市）小计: the importer names exactly those
three places and refuses until the user accepts them.
"""

import csv
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import Fund, Region
from accounts.services import regions_load
from contracts.models import PremiumObligation
from contracts.topup import REGIONS_FILE, topup_import

SHIPPED = Path(settings.BASE_DIR) / "data" / "jilin_2019_topup.csv"
NOTHING = (0, 81, 0)  # no obligation, no fund: only the 81 Jilin reference regions


@pytest.fixture(autouse=True)
def jilin_regions(db):
    # Rows are matched to these regions by name; the import itself never creates a region.
    regions_load(REGIONS_FILE)


def run(path, *args):
    out = StringIO()
    try:
        call_command("import_topup", str(path), "--json", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def rows_of(path=SHIPPED):
    return list(csv.reader(SHIPPED.open(encoding="utf-8")))


def write(tmp_path, rows, name="t.csv", encoding="utf-8"):
    path = tmp_path / name
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def written():
    return PremiumObligation.objects.count(), Region.objects.count(), Fund.objects.count()


@pytest.mark.django_db
def test_the_shipped_table_names_its_three_discrepancies_and_writes_nothing():
    code, out = run(SHIPPED)
    assert code == 1 and out["obligations"] == 0 and written() == NOTHING
    assert (out["rows"], out["total_amount"], out["total_insured"]) == (83, "182541735.00", 12169449)
    assert out["by_insurer"] == {"人保财险": "111445320.00", "人寿保险": "71096415.00"}
    assert [(p["row"], p["region"], p["field"], p["expected"], p["found"]) for p in out["problems"]] == [
        (2, "合计", "amount", "174,150,675.00 (the sum of the subtotals)", "182,541,735.00"),
        (2, "合计", "count", "11,610,045 (the sum of the subtotals)", "12,169,449"),
        (43, "县（市）小计", "amount", "149,311,665.00 (the sum of its numbered rows)", "140,663,385.00"),
        (43, "县（市）小计", "count", "9,954,111 (the sum of its numbered rows)", "9,377,559"),
        (75, "延边州", "amount", "8,133,840.00 (the sum of its districts)", "8,391,060.00"),
        (75, "延边州", "count", "542,256 (the sum of its districts)", "559,404"),
    ]
    assert out["problems"][4]["note"] == "the difference 257,220.00 equals row 84 长白山管委会"
    # Every row's amount is 15 × its count: no other discrepancy.


@pytest.mark.django_db
def test_accepted_it_creates_one_obligation_per_paying_region_adding_up_to_the_total():
    code, out = run(SHIPPED, "--accept-discrepancies")
    assert code == 0 and len(out["warnings"]) == 9  # the six above and three regions paying 0
    # 11 长春 districts (朝阳区 pays 0), 6 吉林, 2 四平 (two pay 0), 2+2+2+1+2 more city districts,
    # 31 counties, 8 延边 districts and 长白山管委会.
    assert out["obligations"] == 68 == PremiumObligation.objects.filter(kind="topup", year=2019).count()
    total = sum((o.amount.amount for o in PremiumObligation.objects.all()), Decimal(0))
    assert total == Decimal("182541735.00")
    shuangyang = PremiumObligation.objects.get(fund__region__name="双阳区")
    assert (shuangyang.amount.amount, shuangyang.insured_count, str(shuangyang.due_date), shuangyang.insurer.name) == (
        Decimal("3605190.00"), 240346, "2019-11-30", "人保财险")
    # A blank insurer cell continues the merged cell above: 德惠市 pays 人保财险 like 榆树市.
    assert PremiumObligation.objects.get(fund__region__name="德惠市").insurer.name == "人保财险"
    assert PremiumObligation.objects.get(fund__region__name="长白山管委会").insurer.name == "人寿保险"
    assert Region.objects.get(name="双阳区").parent.name == "长春市"
    assert Region.objects.get(name="净月开发区").level == "zone"
    before = written()
    code, again = run(SHIPPED, "--accept-discrepancies")
    assert (code, again["obligations"], written()) == (0, 0, before)


@pytest.mark.django_db
def test_gb18030_and_xlsx_copies_import_the_same(tmp_path):
    from openpyxl import Workbook

    gb = write(tmp_path, rows_of(), "gb.csv", encoding="gb18030")
    wb = Workbook()
    for r in rows_of():
        wb.active.append([int(c) if c.isascii() and c.isdigit() else c for c in r])
    xlsx = tmp_path / "t.xlsx"
    wb.save(xlsx)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + SHIPPED.read_bytes())
    for path in (gb, xlsx, bom):
        code, out = run(path, "--dry-run", "--accept-discrepancies")
        assert (code, out["total_amount"], out["total_insured"], len(out["warnings"])) == (
            0, "182541735.00", 12169449, 9), path.name
        assert out["by_insurer"] == {"人保财险": "111445320.00", "人寿保险": "71096415.00"}
    assert written() == NOTHING


@pytest.mark.django_db
@pytest.mark.parametrize("row, column, value, field", [
    (4, 2, "3605191", "amount"),      # ⑴ 双阳区, a district
    (4, 3, "240347", "amount"),       # its count: 15 × count no longer holds
    (46, 2, "9325545", "amount"),     # 10 德惠市, a county
    (3, 2, "33487291", "amount"),     # 一 市区小计
    (2, 3, "12169450", "count"),      # the grand total's count
])
def test_altering_any_one_figure_names_that_row(tmp_path, row, column, value, field):
    rows = rows_of()
    rows[row - 1][column] = value
    code, out = run(write(tmp_path, rows), "--accept-discrepancies")
    assert code == 0  # accepted: every discrepancy is a warning, none hidden
    assert any(w["row"] == row and w["field"] == field for w in out["warnings"])
    PremiumObligation.objects.all().delete()
    code, out = run(write(tmp_path, rows))
    assert code == 1 and any(p["row"] == row for p in out["problems"])


@pytest.mark.django_db
@pytest.mark.parametrize("change, row, field, expected", [
    (lambda rows: rows[3].__setitem__(2, "3,6O5,190"), 4, "amount", "an amount ≥ 0 with at most 2 decimals"),
    (lambda rows: rows[3].__setitem__(3, "-240346"), 4, "count", "a whole number of persons ≥ 0"),
    (lambda rows: rows[3].__setitem__(3, "240346.5"), 4, "count", "a whole number of persons"),
    (lambda rows: rows[3].append("多余"), 4, "columns", "5"),
    (lambda rows: rows[4].__delitem__(4), None, None, None),  # 4 columns: an empty insurer cell is fine
    (lambda rows: rows[4].__setitem__(1, "九台区"), 6, "市县名称", "each region once"),
    (lambda rows: rows[16].__setitem__(4, "平安保险"), 17, "上缴保险公司", "one of"),
    (lambda rows: rows[3].__setitem__(0, "X"), 4, "序号", "合计, 一/二…, 1, 2… or ⑴, ⑵…"),
])
def test_bad_rows_are_refused_with_row_and_reason(tmp_path, change, row, field, expected):
    rows = rows_of()
    change(rows)
    code, out = run(write(tmp_path, rows), "--accept-discrepancies")
    if row is None:
        assert code == 0
        return
    assert code == 1 and written() == NOTHING
    assert any(p["row"] == row and p["field"] == field and p["expected"].startswith(expected)
               for p in out["problems"]), out["problems"]


@pytest.mark.django_db
def test_an_empty_file_or_another_encoding_is_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert run(empty)[1]["problems"][0]["expected"] == "a table with a header row and figures"
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(SHIPPED.read_text(encoding="utf-8").encode("utf-16"))
    assert run(utf16)[1]["problems"][0]["field"] == "encoding"
    assert written() == NOTHING


@pytest.mark.django_db
def test_a_first_city_without_an_insurer_is_refused(tmp_path):
    rows = rows_of()
    rows[3][4] = ""  # 1 长春市: nothing above to continue
    code, out = run(write(tmp_path, rows), "--accept-discrepancies")
    assert code == 1 and out["problems"][0]["row"] == 4 and out["problems"][0]["field"] == "上缴保险公司"


@pytest.mark.django_db
def test_the_service_returns_the_paying_regions():
    result = topup_import(path=SHIPPED, dry_run=True, accept_discrepancies=True)
    assert len(result.paying) == 71 and result.obligations == 0  # 68 pay something, 3 pay 0
