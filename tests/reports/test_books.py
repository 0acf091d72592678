"""The account books as a fund accountant keeps them: 明细账, 总分类账, 银行存款日记账 (docs/books.md).

A worked example. Shandong's fund book, 2015, opened (建账) with 400,000,000.00 in 1004 支出户存款
against 3001 一般基金结余 (tests/conftest.py); 张三 prepares and 李四 approves every voucher:

    03-10  Dr 5101 大病保险支出 1,200,000.00    Cr 1004 支出户存款        拨付保费首期
    03-25  Dr 5101 300,000.50                   Cr 1004                   拨付保费二期
    04-08  Dr 1003 财政专户存款 2,000,000.00    Cr 5101                   承办机构返还结余（冲减支出）
    04-20  Dr 5101 100,000.00                   Cr 1004                   支付赔款 定点医院00/02
    04-20  Dr 5401 1.00, 5301 2.00, 5302 3.00   Cr 1004 6.00              零星支出

5101 is debit-normal: 1,500,000.50 借 at the end of March; the refund of April 8 turns it to credit
(1,500,000.50 − 2,000,000.00 = 499,999.50 贷), and it ends April at 399,999.50 贷.
"""

import io
import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from accounts.models import Book
from ledger.books import cash_accounts
from ledger.selectors import account_balance, trial_balance
from ledger.services import Line, entry_post
from reports import canvas_ledger
from reports.canvas_ledger import LEDGER, _paginate, _wrap
from reports.fonts_ttf import fonts_register
from reports.services import report_data, report_issue, report_verify
from tests.conftest import FUND_OPENING, premium_lines

MEMO_0002 = "支付赔款 定点医院00/02"


@pytest.fixture
def book(fund_book, signed):
    def post(day, memo, lines):
        entry_post(book=fund_book, date=day, memo=memo, lines=lines, **signed)

    post(date(2015, 3, 10), "拨付保费首期", premium_lines("1200000.00"))
    post(date(2015, 3, 25), "拨付保费二期", premium_lines("300000.50"))
    post(date(2015, 4, 8), "承办机构返还结余（冲减支出）",
         [Line("1003", debit="2000000.00"), Line("5101", credit="2000000.00")])
    post(date(2015, 4, 20), MEMO_0002, premium_lines("100000.00"))
    post(date(2015, 4, 20), "零星支出", [Line("5401", debit="1.00"), Line("5301", debit="2.00"),
                                       Line("5302", debit="3.00"), Line("1004", credit="6.00")])
    fund_book.refresh_from_db()  # its chain has grown: statements stand on that position
    assert FUND_OPENING == "400000000.00"  # the figures below start from it
    return fund_book


def _account(data, code):
    return next(a for a in data["accounts"] if a["code"] == code)


def _shown(row):
    """A row as the book prints it: 摘要, 借方, 贷方, 借或贷, 余额."""
    return row["memo"], row["debit"], row["credit"], row["dc"], row["balance"]


def test_the_ledger_of_5101_closes_each_month_and_turns_to_credit_in_april(book):
    rows = _account(report_data(kind="ledger", book=book, year=2015), "5101")["rows"]
    assert [(r["kind"], r["date"], *_shown(r)) for r in rows] == [
        ("open", "2015-01-01", "上年结转", "0.00", "0.00", "平", "0.00"),
        ("line", "2015-03-10", "拨付保费首期", "1200000.00", "0.00", "借", "1200000.00"),
        ("line", "2015-03-25", "拨付保费二期", "300000.50", "0.00", "借", "1500000.50"),
        ("month", "2015-03-31", "本月合计", "1500000.50", "0.00", "借", "1500000.50"),
        ("year", "2015-03-31", "本年累计", "1500000.50", "0.00", "借", "1500000.50"),
        # The refund turns the debit-normal account to credit: 贷 and the positive amount.
        ("line", "2015-04-08", "承办机构返还结余（冲减支出）", "0.00", "2000000.00", "贷", "499999.50"),
        ("line", "2015-04-20", MEMO_0002, "100000.00", "0.00", "贷", "399999.50"),
        # April alone: 100,000.00 debit, 2,000,000.00 credit; since January: 1,600,000.50 and 2,000,000.00.
        ("month", "2015-04-30", "本月合计", "100000.00", "2000000.00", "贷", "399999.50"),
        ("year", "2015-04-30", "本年累计", "1600000.50", "2000000.00", "贷", "399999.50"),
    ]
    assert rows[1]["voucher"] == "记-2015-03-0001"  # the first voucher of March


def test_a_statement_of_april_counts_the_year_from_january(book):
    rows = _account(report_data(kind="ledger", book=book, year=2015, month=4), "5101")["rows"]
    assert _shown(rows[0]) == ("期初余额", "0.00", "0.00", "借", "1500000.50")
    assert [_shown(r) for r in rows[-2:]] == [("本月合计", "100000.00", "2000000.00", "贷", "399999.50"),
                                              ("本年累计", "1600000.50", "2000000.00", "贷", "399999.50")]


def _rows_of(page):
    return [item[1] for item in page if item[0] == "row"]


def test_a_page_break_carries_the_year_to_date_figures_over_and_forward(book):
    data = report_data(kind="ledger", book=book, year=2015)
    only = dict(data, accounts=[_account(data, "5101")])
    # Five table rows a page: the opening row and both March lines fill page 1 (本月合计 and 本年累计 stay
    # together and would leave no room for 过次页).
    pages = _paginate(only, LEDGER, page_rows=5)
    cells = [_rows_of(p) for p in pages]
    # 日期 凭证字号 摘要 借方 贷方 借或贷 余额
    over_1 = ["", "", "过次页", "1,500,000.50", "0.00", "借", "1,500,000.50"]
    over_2 = ["", "", "过次页", "1,500,000.50", "2,000,000.00", "贷", "499,999.50"]
    assert cells[0][-1] == over_1 and cells[1][0] == [*over_1[:2], "承前页", *over_1[3:]]
    # Page 2 ends after the refund: 过次页 carries the year's debits and credits to that line (not the page's
    # own sums) and the balance, now on the credit side; page 3 starts with the same figures.
    assert [c[2] for c in cells[1]] == ["承前页", "本月合计", "本年累计", "承办机构返还结余（冲减支出）", "过次页"]
    assert cells[1][-1] == over_2 and cells[2][0] == [*over_2[:2], "承前页", *over_2[3:]]
    assert [c[2] for c in cells[2]] == ["承前页", MEMO_0002, "本月合计", "本年累计"]
    assert len(pages) == 3 and all(len(c) <= 5 for c in cells)


def test_the_pdf_prints_separators_carries_and_whole_words(book, tmp_path, monkeypatch):
    monkeypatch.setattr(canvas_ledger, "PAGE_ROWS", 6)
    report_issue(kind="ledger", book=book, year=2015, out=tmp_path / "l.pdf", by="测试")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO((tmp_path / "l.pdf").read_bytes())).pages)
    assert text.count("过次页") == text.count("承前页") >= 3
    # Debits of the five vouchers: 1,200,000.00 + 300,000.50 + 2,000,000.00 + 100,000.00 + 6.00.
    assert "全部明细科目本期借方合计 3,600,006.50，贷方合计 3,600,006.50。" in text
    assert "400,000,000.00" in text and "398,399,993.50" in text  # 1004: brought forward, and at the end
    assert "1,600,000.50" in text and "399,999.50" in text
    assert re.search(r"定点医院\s*00/\s*02", text) and not re.search(r"定点医院0\s+0|00/0\s+2", text)


def test_a_memo_wraps_between_words_never_inside_a_number():
    fonts_register()
    memo = "支付2015年4月大病保险赔款 定点医院00/02 第2015号"
    # A width at which a line cut character by character would end between the two 0s of 00/02.
    width = stringWidth("支付2015年4月大病保险赔款 定点医院0", "LedgerSans", 8.5) + 1
    assert _wrap(memo, width) == ["支付2015年4月大病保险赔款 定点医院", "00/02 第2015号"]
    for w in range(40, 200, 3):  # at every width the runs of letters and digits stay whole
        joined = "|".join(_wrap(memo, w))
        assert not re.search(r"[0-9A-Za-z]\|[0-9A-Za-z]", joined), (w, joined)
        assert joined.replace("|", "").replace(" ", "") == memo.replace(" ", "")
    # Only a run wider than the whole column is cut.
    assert "".join(_wrap("0123456789" * 3, 30)) == "0123456789" * 3 and len(_wrap("0123456789" * 3, 30)) > 1


def test_the_general_ledger_reads_the_months_totals_and_agrees_with_the_trial_balance(book):
    data = report_data(kind="general-ledger", book=book, year=2015)
    rows = _account(data, "5101")["rows"]
    assert [_shown(r) for r in rows] == [
        ("上年结转", "0.00", "0.00", "平", "0.00"),
        ("本月合计", "1500000.50", "0.00", "借", "1500000.50"), ("本年累计", "1500000.50", "0.00", "借", "1500000.50"),
        ("本月合计", "100000.00", "2000000.00", "贷", "399999.50"),
        ("本年累计", "1600000.50", "2000000.00", "贷", "399999.50")]
    _agrees_with_the_trial_balance(data, book, 2015, None)


def _agrees_with_the_trial_balance(data, book, year, month):
    tb = {r.account.code: r for r in trial_balance(book=book, year=year, month_from=month or 1,
                                                   month_to=month or 12).rows if r.depth == 0}
    shown = {a["code"] for a in data["accounts"]}
    for code, r in tb.items():
        moved = r.period_debit.amount or r.period_credit.amount or r.closing_debit.amount or r.closing_credit.amount
        assert (code in shown) == bool(moved) or code in shown, code
        if code not in shown:
            continue
        rows = _account(data, code)["rows"]
        months = [x for x in rows if x["kind"] == "month"]
        assert f"{sum(float(x['debit']) for x in months):.2f}" == f"{r.period_debit.amount:.2f}", code
        assert f"{sum(float(x['credit']) for x in months):.2f}" == f"{r.period_credit.amount:.2f}", code
        net = r.closing_debit.amount - r.closing_credit.amount
        assert (rows[-1]["dc"], rows[-1]["balance"]) == ("借" if net > 0 else "贷" if net < 0 else "平",
                                                         f"{abs(net):.2f}"), code
    t = trial_balance(book=book, year=year, month_from=month or 1, month_to=month or 12).totals
    assert data["totals"] == {"debit": f"{t.period_debit.amount:.2f}", "credit": f"{t.period_credit.amount:.2f}"}


def test_the_general_ledger_rolls_sub_accounts_up_as_the_trial_balance_does(demo_books):
    for code in ("CLIC-1405-DB", "FUND-1405"):
        book = Book.objects.get(code=code)
        for month in (None, 6):
            _agrees_with_the_trial_balance(report_data(kind="general-ledger", book=book, year=2019, month=month),
                                           book, 2019, month)
    clic = report_data(kind="general-ledger", book=Book.objects.get(code="CLIC-1405-DB"), year=2019)
    assert "224102" not in {a["code"] for a in clic["accounts"]} and "2241" in {a["code"] for a in clic["accounts"]}


@pytest.fixture
def demo_books(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)


def test_the_cash_journal_names_the_other_side_and_closes_on_the_account_balance(book):
    assert [a.code for a in cash_accounts(book)] == ["1001", "1002", "1003", "1004", "1005"]
    data = report_data(kind="cash-journal", book=book, year=2015)
    assert [a["code"] for a in data["accounts"]] == ["1003", "1004"]  # the others never moved
    rows = _account(data, "1004")["rows"]
    assert [(r["memo"], r.get("counter", ""), r["debit"], r["credit"], r["balance"]) for r in rows] == [
        ("上年结转", "", "0.00", "0.00", "400000000.00"),
        ("拨付保费首期", "5101 大病保险支出", "0.00", "1200000.00", "398800000.00"),
        ("拨付保费二期", "5101 大病保险支出", "0.00", "300000.50", "398499999.50"),
        ("本月合计", "", "0.00", "1500000.50", "398499999.50"),
        ("本年累计", "", "0.00", "1500000.50", "398499999.50"),
        (MEMO_0002, "5101 大病保险支出", "0.00", "100000.00", "398399999.50"),
        ("零星支出", "5401 其他支出等3个科目", "0.00", "6.00", "398399993.50"),
        ("本日合计", "", "0.00", "100006.00", "398399993.50"),  # two lines on April 20
        ("本月合计", "", "0.00", "100006.00", "398399993.50"),
        ("本年累计", "", "0.00", "1600006.50", "398399993.50"),
    ]
    assert _account(data, "1003")["rows"][1]["counter"] == "5101 大病保险支出"
    for code in ("1003", "1004"):
        account = book.accounts.get(code=code)
        closing = _account(data, code)["rows"][-1]["balance"]
        assert closing == f"{account_balance(account=account, as_of=date(2015, 12, 31)).amount:.2f}"
    assert data["totals"] == {"receipts": "2000000.00", "payments": "1600006.50", "closing": "400399993.50"}


def test_the_new_books_verify_and_stand_on_the_chain_they_were_issued_from(book, tmp_path, signed):
    for kind in ("general-ledger", "cash-journal"):
        report_issue(kind=kind, book=book, year=2015, out=tmp_path / f"{kind}.pdf", by="测试")
        assert report_verify(path=tmp_path / f"{kind}.pdf").ok
    issued = report_data(kind="cash-journal", book=book, year=2015)
    # A later voucher in the period: the books now say more (a statement issued now differs), while the
    # statement issued before still verifies against the chain it stood on, and says the books moved on.
    entry_post(book=book, date=date(2015, 4, 30), memo="补记", lines=premium_lines("1.00"), **signed)
    book.refresh_from_db()
    assert report_data(kind="cash-journal", book=book, year=2015)["totals"]["payments"] == "1600007.50"
    assert report_data(kind="cash-journal", book=book, year=2015, upto=issued["chain"]["length"]) == issued
    for kind in ("general-ledger", "cash-journal"):
        later = report_verify(path=tmp_path / f"{kind}.pdf")
        assert later.ok and len(later.notes) == 1  # one voucher posted after issue, in this period
    # A posting of the period changed behind the application's back: neither verifies any more.
    assert _behind_the_application("UPDATE ledger_posting SET credit_fen = credit_fen + 1 WHERE book_id = %s AND "
                                    "credit_fen = 120000000", [book.pk]) == 1
    for kind in ("general-ledger", "cash-journal"):
        v = report_verify(path=tmp_path / f"{kind}.pdf")
        with translation.override("en"):
            said = [str(d) for d in v.differences]
        assert not v.ok and any("the books no longer say what the statement says" in d for d in said), said


def _behind_the_application(sql: str, params) -> int:
    """Change postings with raw SQL past the database's guards on ledger_posting (its owner can), as a
    tamperer would; how many rows changed."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE ledger_posting DISABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_posting'")
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER "{name}"')
        cursor.execute(sql, params)
        return cursor.rowcount


def test_the_report_command_writes_every_book(book, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    for kind in ("ledger", "general-ledger", "cash-journal"):
        call_command("report", kind, "--book", book.code, "--year", "2015", "--month", "4",
                     "--out", str(tmp_path / f"{kind}.pdf"), stdout=StringIO())
        pages = PdfReader(tmp_path / f"{kind}.pdf").pages
        assert "本年累计" in pages[0].extract_text() and "第 1 页 / 共" in pages[0].extract_text()


def test_an_accountant_reads_the_ledger_and_general_ledger_of_their_book_on_screen(book, maker, insurer_maker):
    c = Client()
    c.force_login(maker)
    change = c.get(reverse("admin:accounts_book_change", args=[book.pk])).content.decode()
    url = reverse("admin:accounts_book_ledger", args=[book.pk])
    assert url in change and reverse("admin:accounts_book_general_ledger", args=[book.pk]) in change
    page = c.get(url, {"account": "5101", "year": 2015}).content.decode()
    assert "明细账" in page and "本年累计" in page and "1,600,000.50" in page and "399,999.50" in page
    assert ">贷<" in page and "记-2015-03-0001" in page
    april = c.get(url, {"account": "5101", "year": 2015, "month": 4}).content.decode()
    assert "期初余额" in april and "上年结转" not in april and "1,500,000.50" in april
    general = c.get(reverse("admin:accounts_book_general_ledger", args=[book.pk]), {"year": 2015}).content.decode()
    assert "总分类账" in general and "3001 一般基金结余" in general and "400,000,000.00" in general
    assert f"{url}?account=5101&amp;year=2015" in general
    # Another side's accountant: refused (403) and recorded, like the trial balance.
    other = Client()
    other.force_login(insurer_maker)
    assert other.get(url, {"account": "5101"}).status_code == 403
    assert other.get(reverse("admin:accounts_book_general_ledger", args=[book.pk])).status_code == 403
