"""The bank reconciliation workspace in a real Chromium: an accountant accepts a suggested match, matches one
bank line to two postings by hand (after a refusal that names both sums), undoes and redoes it, and the
余额调节表 on the page ends with both adjusted balances equal — the figures of `bank_reconciliation`, to the fen —
without reloading the page. An auditor sees the same page without a single button.

PostgreSQL only, like every browser test (tests/integration/test_browser.py says why).
"""

import csv
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection
from django.urls import reverse

from access.services import user_create
from accounts.models import Book
from contracts.reference import reference_contracts_load
from core.money import fmt
from ledger.selectors import account_balance
from ledger.services import Line, entry_post
from reconciliation.bank import bank_reconciliation, bank_statement_import
from reconciliation.models import BankFormat, BankLine
from tests.conftest import books_opened

from .browser import shot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="live server and browser share PostgreSQL"),
]
PASSWORD = "Ledger-对账-2026!x"
ICBC = {"date": "交易日期", "description": "摘要", "reference": "流水号", "counterparty": "对方户名", "debit": "支出",
        "credit": "收入"}
ROWS = [  # the JC-T1 transfer (suggested by its reference), one 500,000.00 payroll line the book has as two
    # postings four and eight days earlier (matched by hand), and 88.88 of interest the book does not have yet.
    ["2019-04-06", "划拨大病保险费", "JC-T1", "中国人寿保险股份有限公司晋城分公司", "132600280.50", ""],
    ["2019-04-16", "代发住院补偿", "X0416", "晋城市医疗保障局", "500000.00", ""],
    ["2019-04-20", "结息", "INT0420", "工商银行", "", "88.88"],
]


@pytest.fixture
def april(db, tmp_path):
    reference_contracts_load()
    books_opened()
    book = Book.objects.get(fund__code="F-1405")
    wang = user_create(username="wang", password=PASSWORD, role="fund_accountant", regions=["14"], full_name="王会计")
    li = user_create(username="li", password=PASSWORD, role="reviewer", regions=["14"], full_name="李审核")
    user_create(username="sun", password=PASSWORD, role="auditor", regions=["14"], insurers=["CLIC-1405"],
                full_name="孙审计")
    account = book.accounts.get(code="1004")
    opening = account_balance(account=account, as_of=date(2019, 3, 31)).amount
    postings = {}
    for day, memo, amount in ((5, "拨付大病保险费（JC-T1）", "132600280.50"), (8, "代发住院补偿第一批", "300000.00"),
                              (12, "代发住院补偿第二批", "200000.00"), (25, "退付多缴保费", "50000.00")):
        entry = entry_post(book=book, date=date(2019, 4, day), memo=memo, made_by=wang, reviewed_by=li,
                           lines=[Line("5101", debit=amount), Line("1004", credit=amount)])
        postings[memo] = entry.postings.get(account__code="1004")
    BankFormat.objects.create(name="工商银行", columns=ICBC)
    path = tmp_path / "icbc-2019-04.csv"
    with open(path, "w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(ICBC.values())[:4] + ["支出", "收入"])
        w.writerows(ROWS)
    moved = sum((D(r[5] or 0) - D(r[4] or 0) for r in ROWS), D(0))
    statement = bank_statement_import(path=path, account=account, bank="工商银行", year=2019, month=4,
                                      opening=str(opening), closing=str(opening + moved), by=wang)
    return {"statement": statement, "postings": postings, "opening": opening}


def _wait_groups(page, n):
    page.wait_for_function(f"document.querySelectorAll('#ws-matched tr.ws-group').length === {n} "
                           "&& !document.getElementById('ws-body').hasAttribute('aria-busy')")


def _tick_manual(page, postings):
    page.check(f"#ws-lines input[value='{BankLine.objects.get(reference='X0416').pk}']")
    for p in postings:
        page.check(f"#ws-postings input[value='{p.pk}']")


def test_an_accountant_reconciles_april_and_an_auditor_only_looks(april, new_page):
    st, postings = april["statement"], april["postings"]
    first, second = postings["代发住院补偿第一批"], postings["代发住院补偿第二批"]
    page = new_page()
    sign_in(page, "wang", PASSWORD)
    page.goto(page.base + reverse("admin:reconciliation_bankstatement_changelist"))
    with page.expect_navigation():
        page.click(f"a[href='{reverse('admin:reconciliation_bankstatement_workspace', args=[st.pk])}']")
    assert page.locator("tr.ws-suggestion").count() == 1  # only JC-T1: the payroll postings are too far apart
    # Nothing matched yet, every line and posting stands in the 调节表 as an open item.
    assert page.inner_text("#ws-r-book-out") == "133,150,280.50" and page.inner_text("#ws-r-bank-out") == "133,100,280.50"
    shot(page, "ws-01-workspace-before")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    page.click("button.ws-accept")
    _wait_groups(page, 1)
    t1 = BankLine.objects.get(reference="JC-T1")
    assert list(t1.matched.all()) == [postings["拨付大病保险费（JC-T1）"]] and t1.matched_by == "wang"

    # By hand, first with one posting too few: refused, both sums named, nothing matched.
    _tick_manual(page, [first])
    assert page.inner_text("#ws-sel-lines").startswith("-500,000.00") and "≠" in page.inner_text("#ws-sel-state")
    page.click("#ws-match")
    page.wait_for_selector(".messagelist li.error")
    assert "-500,000.00" in page.inner_text(".messagelist") and "-300,000.00" in page.inner_text(".messagelist")
    shot(page, "ws-02-refused-sums")
    assert not BankLine.objects.get(reference="X0416").matched.exists()
    # The boxes stay ticked after the refusal: tick the missing posting and match.
    assert page.is_checked(f"#ws-postings input[value='{first.pk}']")
    page.check(f"#ws-postings input[value='{second.pk}']")
    assert page.inner_text("#ws-sel-state") == "="
    page.click("#ws-match")
    _wait_groups(page, 2)
    assert set(BankLine.objects.get(reference="X0416").matched.all()) == {first, second}

    # Undo the payroll match, then redo it.
    page.locator("#ws-matched tr.ws-group", has_text="X0416").locator("button.ws-unmatch").click()
    _wait_groups(page, 1)
    assert not BankLine.objects.get(reference="X0416").matched.exists()
    _tick_manual(page, [first, second])
    page.click("#ws-match")
    _wait_groups(page, 2)
    assert page.evaluate("window.__sameDocument") is True

    # The 余额调节表 on the page, to the fen, and the service's own figures.
    r = bank_reconciliation(statement=st)
    expected = april["opening"] - D("132600280.50") - D("500000.00") - D("50000.00") + D("88.88")
    assert r.adjusted_book.amount == r.adjusted_bank.amount == expected and r.balanced
    assert page.inner_text("#ws-adjusted-book") == page.inner_text("#ws-adjusted-bank") == fmt(expected)
    assert page.inner_text("#ws-r-book") == fmt(r.book_balance) and page.inner_text("#ws-r-bank") == fmt(st.closing)
    assert page.inner_text("#ws-r-bank-in") == "88.88" and page.inner_text("#ws-r-book-out") == "50,000.00"
    assert page.inner_text("#ws-balanced").startswith("✓")
    assert "format=pdf" in page.get_attribute("#ws-pdf", "href") and "format=xlsx" in page.get_attribute(
        "#ws-xlsx", "href")
    shot(page, "ws-03-reconciled")

    auditor = new_page()
    sign_in(auditor, "sun", PASSWORD)
    auditor.goto(auditor.base + reverse("admin:reconciliation_bankstatement_workspace", args=[st.pk]))
    assert auditor.locator("#ws-body button").count() == 0
    assert auditor.locator("#ws-body input[type=checkbox]").count() == 0
    assert auditor.inner_text("#ws-adjusted-book") == fmt(expected)
    shot(auditor, "ws-04-auditor")
