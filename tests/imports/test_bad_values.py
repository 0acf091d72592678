"""Worked examples: what every import refuses, and how it says so.

Each example is a file a user might send — a Jincheng claims file, an 工商银行 statement,
the Jilin top-up table — with one bad value among good rows. Python would read most of
these values happily (Decimal("1e30"), Decimal("sNaN"), a date cut from "2020-03-01garbage");
the imports refuse them, naming the row as a spreadsheet numbers it (header = row 1), the
field, what was expected and what was found, and no table gains or loses a row.
"""

import csv
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from bench.claims_data import HEADER
from claims.identity import check_digit
from claims.services import claims_import
from core.errors import Refused
from reconciliation.bank import bank_statement_import, bank_statement_import_mt940

from .counts import assert_nothing_written, table_counts

EXPONENT = "written out in digits (no exponent notation)"
NOT_FINITE = "a finite figure (not Infinity or NaN)"
UNSIGNED = "an amount ≥ 0 with at most 2 decimals"
LATIN1 = "Müller Straße café"


def _run(command: str, *args) -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command(command, *args, "--json", stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def _write(path: Path, header: list, rows: list, encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


# -- claims (Jincheng 2019: deductible 10,000, 75%) ----------------------------------

PERSON = "14052519800101001" + check_digit("14052519800101001")


def _claim(no: str, **change) -> list[str]:
    row = dict(claim_no=no, id_number=PERSON, group="general", admitted_on="2019-03-01", discharged_on="2019-03-10",
               settled_on="2019-03-10", hospital_code="H001", hospital_name="晋城市人民医院", oop="18000.00",
               paid="6000.00", channel="direct")
    row.update(change)
    return [row[h] for h in HEADER]


def _claims_refused(jincheng, preparer, path, **options) -> list[dict]:
    before = table_counts()
    with pytest.raises(Refused) as info:
        claims_import(path=path, contract=jincheng.contract, by=preparer, **options)
    assert_nothing_written(before)
    return info.value.problems


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("field, value, expected", [
    ("oop", "1e30", f"{UNSIGNED}, {EXPONENT}"),
    ("paid", "Infinity", f"{UNSIGNED}, {NOT_FINITE}"),
    ("oop", "sNaN", f"{UNSIGNED}, {NOT_FINITE}"),
    ("paid", "3e4", f"{UNSIGNED}, {EXPONENT}"),
    ("oop", "1.5E+11", f"{UNSIGNED}, {EXPONENT}"),
    ("oop", "5,000,000.01", "an amount of at most 5,000,000.00 (setting CLAIM_AMOUNT_LIMIT)"),
    ("paid", "-6000.00", UNSIGNED),
    ("settled_on", "2020-03-01garbage", "a date YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD)"),
    ("admitted_on", "2019-02-30", "a date that exists in the calendar"),
])
def test_a_claims_file_with_one_bad_value_is_refused_whole(jincheng, preparer, tmp_path, field, value, expected,
                                                           dry_run):
    # Rows 2 and 4 are good; row 3 carries the bad value. A dry run refuses the same way.
    path = _write(tmp_path / "jincheng_2019_03.csv", HEADER,
                  [_claim("JC-1"), _claim("JC-2", **{field: value}), _claim("JC-3")])
    problems = _claims_refused(jincheng, preparer, path, dry_run=dry_run)
    assert [(p["row"], p["field"], p["expected"], p["found"]) for p in problems] == [(3, field, expected, value)]


def test_the_same_values_written_plainly_import(jincheng, preparer, tmp_path):
    # The edges of what is accepted: the limit itself, thousands commas, each date spelling.
    path = _write(tmp_path / "jincheng_ok.csv", HEADER, [
        _claim("JC-1", oop="5,000,000.00", paid="3,742,500.00"),
        _claim("JC-2", settled_on="2020-03-01", admitted_on="2019/3/1", discharged_on="20190310"),
        _claim("JC-3", admitted_on="2019-03-01 00:00:00"),  # an XLSX date cell as the reader gives it
    ])
    result = claims_import(path=path, contract=jincheng.contract, by=preparer)
    assert result.rows == 3 and result.oop_total == Decimal("5036000.00")


def test_the_per_claim_limit_is_a_setting(jincheng, preparer, tmp_path, settings):
    settings.CLAIM_AMOUNT_LIMIT = Decimal("100000")
    path = _write(tmp_path / "c.csv", HEADER, [_claim("JC-1"), _claim("JC-2", oop="150000.00")])
    problems = _claims_refused(jincheng, preparer, path)
    assert [(p["row"], p["field"], p["expected"]) for p in problems] == [
        (3, "oop", "an amount of at most 100,000.00 (setting CLAIM_AMOUNT_LIMIT)")]


@pytest.mark.parametrize("name, found", [
    # "é" before the line end is neither UTF-8 nor GB18030: the file is unreadable from row 3.
    (LATIN1, "neither (byte 0xFC on line 3 is not UTF-8, and the file does not read as GB18030 either)"),
    # These bytes do read as GB18030, into ideographs no hospital name uses (M黮ler Stra遝 …).
    ("Müller Straße Zürich", "only 0% of its non-ASCII characters are common Chinese"),
])
def test_a_latin1_claims_file_is_refused(jincheng, preparer, tmp_path, name, found):
    path = _write(tmp_path / "latin1.csv", HEADER, [_claim("JC-1", hospital_name="Hospital"),
                                                    _claim("JC-2", hospital_name=name)], encoding="latin-1")
    problems = _claims_refused(jincheng, preparer, path)
    assert [(p["row"], p["field"], p["expected"]) for p in problems] == [
        (3, "encoding", "UTF-8 or GB18030 text, or an XLSX workbook")]
    assert found in problems[0]["found"]


# -- bank statements (工商银行 CSV: 支出 money out, 收入 money in) ---------------------

BANK_HEADER = ["交易日期", "摘要", "流水号", "对方户名", "支出", "收入"]
INSURER = "中国人寿保险股份有限公司晋城分公司"


def _line(day="2020-03-05", ref="R1", out="", in_="20,000.00"):
    return [day, "退回多划款", ref, INSURER, out, in_]


def _statement(tmp_path, middle: list, encoding="gb18030") -> Path:
    # Opening 300,000,000.00; out 1,000,000.00 and 20.00, in 20,000.00: closing 299,019,980.00.
    return _write(tmp_path / "icbc_2020_03.csv", BANK_HEADER, [
        ["2020-03-02", "划拨大病保险费", "T1", INSURER, "1,000,000.00", ""],
        middle,
        ["2020-03-31", "手续费", "FEE", "工商银行", "20.00", ""],
    ], encoding=encoding)


def _bank_refused(account, path, opening="300000000.00", closing="299019980.00") -> list[dict]:
    before = table_counts()
    with pytest.raises(Refused) as info:
        bank_statement_import(path=path, account=account, bank="工商银行", year=2020, month=3, opening=opening,
                              closing=closing)
    assert_nothing_written(before)
    return info.value.problems


def test_the_good_statement_imports(icbc_account, tmp_path):
    statement = bank_statement_import(path=_statement(tmp_path, _line()), account=icbc_account, bank="工商银行",
                                      year=2020, month=3, opening="300,000,000.00", closing="299,019,980.00")
    assert [ln.amount.amount for ln in statement.lines.order_by("line")] == [
        Decimal("-1000000.00"), Decimal("20000.00"), Decimal("-20.00")]


@pytest.mark.parametrize("line, field, expected, found", [
    (_line(out="1e30", in_=""), "debit", f"{UNSIGNED}, {EXPONENT}", "1e30"),
    (_line(in_="Infinity"), "credit", f"{UNSIGNED}, {NOT_FINITE}", "Infinity"),
    (_line(in_="sNaN"), "credit", f"{UNSIGNED}, {NOT_FINITE}", "sNaN"),
    (_line(out="3e4", in_=""), "debit", f"{UNSIGNED}, {EXPONENT}", "3e4"),
    (_line(in_="1.5E+11"), "credit", f"{UNSIGNED}, {EXPONENT}", "1.5E+11"),
    (_line(out="10,000,000,000.01", in_=""), "debit",
     "an amount of at most 10,000,000,000.00 (setting BANK_AMOUNT_LIMIT)", "10,000,000,000.01"),
    (_line(day="2020-03-01garbage"), "date", "a date YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD)", "2020-03-01garbage"),
    # A refund written as a negative payment: the column already says the direction.
    (_line(out="-20,000.00", in_=""), "debit", "an amount ≥ 0 in 支出 (the column says in or out; no sign)",
     "-20,000.00"),
    (_line(out="20,000.00", in_="20,000.00"), "amount", "an amount in 支出 or in 收入, not in both",
     "20,000.00 / 20,000.00"),
])
def test_a_statement_with_one_bad_line_is_refused_whole(icbc_account, tmp_path, line, field, expected, found):
    problems = _bank_refused(icbc_account, _statement(tmp_path, line))
    # Only the line itself: with a line unread, the closing balance check would only mislead.
    assert [(p["entry"], p["field"], p["expected"], p["found"]) for p in problems] == [
        ("row 3", field, expected, found)]


@pytest.mark.parametrize("opening, closing, field, expected, found", [
    ("abc", "299019980.00", "opening balance", "an amount with at most 2 decimals (digits, thousands commas optional)",
     "abc"),
    ("300000000.00", "1e30", "closing balance", f"an amount with at most 2 decimals, {EXPONENT}", "1e30"),
])
def test_balances_given_to_the_service_are_read_as_strictly(icbc_account, tmp_path, opening, closing, field, expected,
                                                            found):
    problems = _bank_refused(icbc_account, _statement(tmp_path, _line()), opening=opening, closing=closing)
    assert [(p["entry"], p["field"], p["expected"], p["found"]) for p in problems] == [
        ("icbc_2020_03.csv", field, expected, found)]


def test_a_latin1_statement_is_refused(icbc_account, tmp_path):
    path = _write(tmp_path / "statement.csv", ["date", "memo", "ref", "counterparty", "out", "in"],
                  [["2020-03-02", "fee", "F1", "Bank", "20.00", ""], ["2020-03-05", "refund", "R1", LATIN1, "", "5.00"]],
                  encoding="latin-1")
    problems = _bank_refused(icbc_account, path)
    assert [(p["row"], p["field"], p["expected"]) for p in problems] == [
        (3, "encoding", "UTF-8 or GB18030 text, or an XLSX workbook")]


@pytest.mark.parametrize("option, value, expected", [
    ("--opening", "abc", "an amount with at most 2 decimals (digits, thousands commas optional)"),
    ("--closing", "1e30", f"an amount with at most 2 decimals, {EXPONENT}"),
    ("--closing", "NaN", f"an amount with at most 2 decimals, {NOT_FINITE}"),
])
def test_the_command_refuses_a_balance_that_is_not_an_amount(icbc_account, tmp_path, option, value, expected):
    path = _statement(tmp_path, _line())
    balances = {"--opening": "300000000.00", "--closing": "299019980.00", option: value}
    before = table_counts()
    code, out = _run("import_bank_statement", str(path), "--book", "FUND-1405", "--account", "1004", "--bank", "工商银行",
                     "--year", "2020", "--month", "3", *[x for kv in balances.items() for x in kv])
    assert code == 1 and [{k: p[k] for k in ("entry", "field", "expected", "found")} for p in out["problems"]] == [
        {"entry": "command line", "field": option, "expected": expected, "found": value}]
    # Nothing but the attempt itself, in the audit trail.
    from audit.models import AuditEvent

    refused = AuditEvent.objects.get(action="refused")
    assert (refused.detail["command"], refused.outcome) == ("import_bank_statement", "refused")
    assert_nothing_written({**before, "audit.AuditEvent": before["audit.AuditEvent"] + 1})


@pytest.mark.parametrize("amount, expected", [
    ("NaN", f"an amount with at most 2 decimals, {NOT_FINITE}"),
    ("-1.5E+11", f"an amount with at most 2 decimals, {EXPONENT}"),
    ("-10,000,000,000.01", "an amount of at most 10,000,000,000.00 (setting BANK_AMOUNT_LIMIT)"),
])
def test_a_signed_amount_column_is_read_as_strictly(icbc_account, tmp_path, amount, expected):
    from reconciliation.models import BankFormat

    # 建设银行 prints one signed 交易金额 column: there a sign is how money out is written.
    BankFormat.objects.create(name="建设银行", columns={"date": "交易日期", "amount": "交易金额", "reference": "流水号"})
    path = _write(tmp_path / "ccb.csv", ["交易日期", "交易金额", "流水号"],
                  [["2020-03-02", "-1,000,000.00", "T1"], ["2020-03-05", amount, "R1"], ["2020-03-31", "-20.00", "F"]],
                  encoding="gb18030")
    before = table_counts()
    with pytest.raises(Refused) as info:
        bank_statement_import(path=path, account=icbc_account, bank="建设银行", year=2020, month=3,
                              opening="300000000.00", closing="298999980.00")
    assert_nothing_written(before)
    assert [(p["entry"], p["field"], p["expected"], p["found"]) for p in info.value.problems] == [
        ("row 3", "amount", expected, amount)]


MT940 = """:20:STARTUMSE
:25:ICBC/1004
:28C:00001/001
:60F:C200301CNY300000000,00
:61:2003020302D1000000,00NTRFT1//B1
:86:PREMIUM TRANSFER
:61:2003050305C{amount}NTRFR1//B2
:86:REFUND
:62F:C200331CNY{closing}
"""


def test_an_mt940_line_beyond_the_limit_is_refused(icbc_account, tmp_path):
    path = tmp_path / "icbc.sta"
    path.write_text(MT940.format(amount="99999999999,00", closing="100299999999,00"))
    before = table_counts()
    with pytest.raises(Refused) as info:
        bank_statement_import_mt940(path=path, account=icbc_account)
    assert_nothing_written(before)
    assert [(p["entry"], p["field"], p["expected"]) for p in info.value.problems] == [
        ("icbc.sta", "closing balance", "an amount of at most 10,000,000,000.00 (setting BANK_AMOUNT_LIMIT)"),
        ("line 2", "amount", "an amount of at most 10,000,000,000.00 (setting BANK_AMOUNT_LIMIT)")]


# -- the Jilin 2019 top-up table -----------------------------------------------------

TOPUP = Path(settings.BASE_DIR) / "data" / "jilin_2019_topup.csv"


def _topup_rows() -> list[list[str]]:
    return list(csv.reader(TOPUP.open(encoding="utf-8")))


def _topup_refused(path: Path) -> list[dict]:
    before = table_counts()
    # Accepting the published table's discrepancies does not let a bad value through.
    code, out = _run("import_topup", str(path), "--accept-discrepancies")
    assert code == 1 and out["obligations"] == 0
    assert_nothing_written(before)
    return out["problems"]


@pytest.mark.parametrize("row, column, value, field, expected", [
    (5, 2, "1e30", "amount", f"{UNSIGNED}, {EXPONENT}"),  # ⑴ 双阳区
    (4, 2, "Infinity", "amount", f"{UNSIGNED}, {NOT_FINITE}"),  # 1 长春市
    (5, 2, "sNaN", "amount", f"{UNSIGNED}, {NOT_FINITE}"),
    (5, 3, "3e4", "count", f"a whole number of persons ≥ 0, {EXPONENT}"),
    (46, 2, "1.5E+11", "amount", f"{UNSIGNED}, {EXPONENT}"),  # 10 德惠市
    (2, 2, "1,000,000,000.01", "amount", "an amount of at most 1,000,000,000.00 (setting TOPUP_AMOUNT_LIMIT)"),
    (5, 2, "-3605190", "amount", UNSIGNED),
])
def test_a_topup_table_with_one_bad_figure_is_refused(jilin, tmp_path, row, column, value, field, expected):
    rows = _topup_rows()
    rows[row - 1][column] = value
    path = _write(tmp_path / "topup.csv", rows[0], rows[1:])
    problems = _topup_refused(path)
    assert [(p["row"], p["field"], p["expected"], p["found"]) for p in problems] == [(row, field, expected, value)]


@pytest.mark.parametrize("row, expected", [
    (5, "a district of 长春市, named as in data/regions/22_jilin.csv"),  # ⑴, where 双阳区 was
    (46, "a city or county of 吉林省, named as in data/regions/22_jilin.csv"),  # 10, where 德惠市 was
])
def test_a_row_naming_no_known_region_is_refused(jilin, tmp_path, row, expected):
    # A spreadsheet formula is no region; nor is any name the reference regions lack.
    rows = _topup_rows()
    rows[row - 1][1] = "=cmd|' /C calc'!A0"
    problems = _topup_refused(_write(tmp_path / "topup.csv", rows[0], rows[1:]))
    assert [(p["row"], p["field"], p["expected"], p["found"]) for p in problems] == [
        (row, "市县名称", expected, "=cmd|'/Ccalc'!A0")]  # names are compared with their spaces removed


def test_a_latin1_topup_table_is_refused(jilin, tmp_path):
    path = _write(tmp_path / "topup.csv", ["No", "Region", "Amount", "Insured", "Insurer"],
                  [["1", "Town", "15", "1", "PICC"], ["2", LATIN1, "15", "1", "PICC"]], encoding="latin-1")
    problems = _topup_refused(path)
    assert [(p["row"], p["field"], p["expected"]) for p in problems] == [
        (3, "encoding", "UTF-8 or GB18030 text, or an XLSX workbook")]


@pytest.mark.parametrize("option, value", [("--due", "2019-11-30garbage"), ("--per-capita", "1e30"),
                                           ("--per-capita", "NaN")])
def test_the_topup_command_refuses_bad_options_as_bad_usage(jilin, option, value):
    before = table_counts()
    with pytest.raises(CommandError) as info:
        call_command("import_topup", str(TOPUP), option, value, "--json", stdout=StringIO())
    assert info.value.returncode == 2 and "--due 须为 YYYY-MM-DD，--per-capita 须为金额" in str(info.value)
    assert_nothing_written(before)
