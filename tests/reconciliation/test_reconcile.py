"""Reconciling a demo year with planted differences, and finding exactly those.

Jincheng 2019: the fund pays 132,600,280.50 through the ledger (both books), then hand-enters
two payments: one the insurer never booked, one the insurer keyed as 200,000.00 instead of
2,000,000.00; the bank charges a 20.00 fee nobody booked.
"""

import csv
from datetime import date
from decimal import Decimal as D

import pytest

from contracts.demo import transfer_demo
from contracts.models import ContractYear
from core.errors import Refused
from ledger.services import Line, entry_post
from reconciliation.bank import bank_match_auto, bank_reconciliation, bank_statement_import, bank_unmatch
from reconciliation.models import BankFormat, BankLine, BankStatement
from reconciliation.transfers import transfers_reconcile

ICBC = {"date": "交易日期", "description": "摘要", "reference": "流水号", "counterparty": "对方户名", "debit": "支出",
        "credit": "收入"}


@pytest.fixture
def year(jincheng_people):
    people = jincheng_people
    fund_signed = dict(zip(("made_by", "reviewed_by"), people["fund"], strict=True))
    insurer_signed = dict(zip(("made_by", "reviewed_by"), people["insurer"], strict=True))
    cy = ContractYear.objects.get(contract__code="JC-2019")
    fund, insurer = cy.contract.fund, cy.contract.insurer
    fund_book, insurer_book = fund.books.get(), insurer.books.get()
    # The fund's book opened (建账) with 300,000,000.00 in 1004 支出户存款, as quickstart opens it.
    # Recorded by the fund, confirmed by the insurer the same day, each in its own book.
    transfer_demo(people=people, side="fund", confirm_on=date(2019, 4, 26), reference="JC-T1", contract_year=cy,
                  insurer=insurer, amount="132600280.50", paid_on=date(2019, 4, 26))
    # Planted: a premium the fund recorded and the insurer did not.
    entry_post(book=fund_book, date=date(2019, 4, 28), memo="拨付大病保险费（JC-HAND-1）", **fund_signed,
               lines=[Line("5101", debit="1000000.00", counterparty=insurer.name), Line("1004", credit="1000000.00")])
    # Planted: one the insurer keyed as 200,000.00.
    entry_post(book=fund_book, date=date(2019, 4, 29), memo="拨付大病保险费（JC-HAND-2）", **fund_signed,
               lines=[Line("5101", debit="2000000.00", counterparty=insurer.name), Line("1004", credit="2000000.00")])
    entry_post(book=insurer_book, date=date(2019, 4, 30), memo="收到大病保险费（JC-HAND-2）", **insurer_signed,
               lines=[Line("1002", debit="200000.00"), Line("6031", credit="200000.00", counterparty=fund.name)])
    BankFormat.objects.create(name="工商银行", columns=ICBC)
    return cy


def test_fund_and_insurer_books_reconcile_to_exactly_the_planted_items(year):
    r = transfers_reconcile(fund=year.contract.fund, insurer=year.contract.insurer, year=2019)
    assert [(f.reference, f.amount) for f, _ in r.matched] == [("JC-T1", D("132600280.50"))]
    assert [(i.reference, i.amount) for i in r.fund_only] == [("JC-HAND-1", D("1000000.00"))]
    assert [(f.amount, i.amount) for f, i in r.mismatched] == [(D("2000000.00"), D("200000.00"))]
    assert r.insurer_only == []
    assert r.difference == D("2800000.00") == r.explained  # every fen of the difference is explained


def _statement(tmp_path, rows, name="icbc.csv"):
    path = tmp_path / name
    with open(path, "w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(["交易日期", "摘要", "流水号", "对方户名", "支出", "收入"])
        w.writerows(rows)
    return path


BANK_ROWS = [
    ["2019-04-26", "划拨大病保险费", "JC-T1", "中国人寿保险股份有限公司晋城分公司", "132600280.50", ""],
    ["2019-04-28", "划拨大病保险费", "B0428", "中国人寿保险股份有限公司晋城分公司", "600000.00", ""],
    ["2019-04-28", "划拨大病保险费", "B0428-2", "中国人寿保险股份有限公司晋城分公司", "400000.00", ""],
    ["2019-04-29", "划拨大病保险费", "JC-HAND-2", "中国人寿保险股份有限公司晋城分公司", "2000000.00", ""],
    ["2019-04-30", "手续费", "FEE0430", "工商银行", "20.00", ""],
]


def test_the_bank_statement_reconciles_with_the_fee_the_books_lack(year, tmp_path):
    account = year.contract.fund.books.get().accounts.get(code="1004")
    statement = bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=account, bank="工商银行",
                                      year=2019, month=4, opening="300000000.00", closing="164399699.50")
    # JC-T1 and JC-HAND-2 by reference; the 1,000,000.00 paid in two bank lines matched to one posting.
    assert bank_match_auto(statement=statement) == 3
    fee = BankLine.objects.get(reference="FEE0430")
    assert not fee.matched.exists()
    r = bank_reconciliation(statement=statement)
    assert [ln.reference for ln in r.bank_out_not_booked] == ["FEE0430"]
    assert r.bank_in_not_booked == r.booked_in_not_in_bank == r.booked_out_not_in_bank == []
    assert r.adjusted_book.amount == r.adjusted_bank.amount == D("164399699.50") and r.balanced
    # Unmatching puts the line back on both sides of the statement, still in balance.
    bank_unmatch(line=BankLine.objects.get(reference="JC-T1"), by="审核员")
    again = bank_reconciliation(statement=statement)
    assert len(again.booked_out_not_in_bank) == 1 and again.balanced


def test_importing_the_same_statement_again_creates_nothing(year, tmp_path):
    account = year.contract.fund.books.get().accounts.get(code="1004")
    path = _statement(tmp_path, BANK_ROWS)
    kwargs = dict(account=account, bank="工商银行", year=2019, month=4, opening="300000000.00", closing="164399699.50")
    first = bank_statement_import(path=path, **kwargs)
    assert bank_statement_import(path=path, **kwargs).pk == first.pk
    assert BankStatement.objects.count() == 1 and BankLine.objects.count() == 5


@pytest.mark.parametrize("rows, closing, bank, field", [
    (BANK_ROWS, "64399699.51", "工商银行", "closing balance"),
    (BANK_ROWS + [BANK_ROWS[-1]], "64399679.50", "工商银行", "line"),
    (BANK_ROWS[:-1] + [["2019-05-02", "手续费", "FEE", "工商银行", "20.00", ""]], "164399699.50", "工商银行", "date"),
    (BANK_ROWS, "164399699.50", "建设银行", "bank"),
])
def test_a_statement_that_does_not_hold_together_is_refused(year, tmp_path, rows, closing, bank, field):
    account = year.contract.fund.books.get().accounts.get(code="1004")
    with pytest.raises(Refused) as info:
        bank_statement_import(path=_statement(tmp_path, rows), account=account, bank=bank, year=2019, month=4,
                              opening="300000000.00", closing=closing)
    assert field in [p["field"] for p in info.value.problems]
    assert not BankStatement.objects.exists() and not BankLine.objects.exists()


MT940 = """:20:STARTUMSE
:25:ICBC/1004
:28C:00001/001
:60F:C190401CNY300000000,00
:61:1904260426D132600280,50NTRFJC-T1//B1
:86:PREMIUM TRANSFER
:61:1904280428D1000000,00NTRFB0428//B2
:86:PREMIUM TRANSFER
:61:1904290429D2000000,00NTRFJC-HAND-2//B3
:86:PREMIUM TRANSFER
:61:1904300430D20,00NCHGFEE0430//B5
:86:BANK FEE
:62F:C190430CNY{closing}
"""


def test_an_mt940_statement_imports_and_reconciles(year, tmp_path):
    from reconciliation.bank import bank_statement_import_mt940

    account = year.contract.fund.books.get().accounts.get(code="1004")
    path = tmp_path / "icbc.sta"
    path.write_text(MT940.format(closing="164399699,50"))
    statement = bank_statement_import_mt940(path=path, account=account)
    assert (statement.year, statement.month, statement.lines.count()) == (2019, 4, 4)
    bank_match_auto(statement=statement)
    r = bank_reconciliation(statement=statement)
    assert [ln.reference for ln in r.bank_out_not_booked] == ["FEE0430"] and r.balanced
    bad = tmp_path / "bad.sta"
    bad.write_text(MT940.format(closing="164399699,49"))
    BankStatement.objects.all().delete()
    with pytest.raises(Refused) as info:
        bank_statement_import_mt940(path=bad, account=account)
    assert info.value.problems[0]["field"] == "closing balance"


def test_the_bank_reconciliation_statement_pdf(year, tmp_path):
    from reports.services import report_issue, report_verify

    account = year.contract.fund.books.get().accounts.get(code="1004")
    statement = bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=account, bank="工商银行",
                                      year=2019, month=4, opening="300000000.00", closing="164399699.50")
    bank_match_auto(statement=statement)
    record = report_issue(kind="bank-reconciliation", book=account.book, year=2019, month=4, out=tmp_path / "b.pdf")
    assert record.totals == {"adjusted": "164399699.50"} and report_verify(path=tmp_path / "b.pdf").ok


def test_the_reconciliation_command_and_admin_page_list_the_planted_items(year, admin_client):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("reconcile_transfers", "--contract", "JC-2019", "--year", "2019", "--json", stdout=out)
    assert stopped.value.code == 1  # the books disagree
    r = json.loads(out.getvalue())
    assert (r["difference"], r["explained"]) == ("2800000.00", "2800000.00")
    assert [i["reference"] for i in r["fund_only"]] == ["JC-HAND-1"]
    assert [(m["fund"]["amount"], m["insurer"]["amount"]) for m in r["mismatched"]] == [("2000000.00", "200000.00")]
    page = admin_client.get(f"/admin/contracts/contractyear/{year.pk}/reconcile/").content.decode()
    assert "JC-HAND-1" in page and "1,800,000.00" in page and "2,800,000.00" in page
