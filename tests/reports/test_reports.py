"""PDF statements: every kind renders in Chinese with the shipped font, totals match the selectors,
and verify_report tells whether the books still say what a statement says."""

import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from fontTools.ttLib import TTFont

from accounts.models import Book
from audit.models import AuditEvent
from ledger.selectors import trial_balance
from ledger.services import entry_post
from reports.registry import KINDS
from reports.services import FONTS, english, html_of, report_data, report_issue, report_verify
from tests.conftest import premium_lines


@pytest.fixture(scope="module")
def glyphs():
    return set(TTFont(FONTS / "NotoSansSC-Regular-GB2312.woff2").getBestCmap())


@pytest.fixture
def demo(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)  # the demo books without quickstart's printing and report writing


CASES = [("trial-balance", "FUND-1405", 2019, None), ("ledger", "CLIC-1405-DB", 2019, 6),
         ("vouchers", "FUND-37", 2015, None), ("premium-status", "FUND-1405", 2019, None),
         ("settlement", "FUND-37", 2015, None), ("operations", "CLIC-1405-DB", 2019, None)]


@pytest.mark.parametrize("kind, code, year, month", CASES)
def test_every_kind_renders_with_no_missing_glyph(demo, tmp_path, glyphs, kind, code, year, month):
    book = Book.objects.get(code=code)
    data = report_data(kind=kind, book=book, year=year, month=month)
    if KINDS[kind].draw:  # drawn on the canvas: what it prints comes from the data (and it refuses a missing glyph)
        text = json.dumps(data, ensure_ascii=False)
    else:
        html = html_of(kind=kind, book=book, year=year, month=month, data=data, code="0" * 16, by="测试",
                       at=timezone.localtime())
        text = html.split("<body>", 1)[1]
    missing = {ch for ch in text if ord(ch) > 0x7F and ord(ch) not in glyphs}
    assert not missing, f"the shipped font lacks {''.join(sorted(missing))}"
    record = report_issue(kind=kind, book=book, year=year, month=month, out=tmp_path / "r.pdf", by="测试")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF") and record.code
    verified = report_verify(path=tmp_path / "r.pdf")
    assert verified.ok
    # The file leads back to this record, which says what was issued: this kind, book and period, by whom.
    assert verified.record == record
    assert (record.kind, record.book, record.params, record.generated_by) == (
        kind, book, {"year": year, "month": month}, "测试")
    issued = AuditEvent.objects.get(action="report_issued", object_id=str(record.pk))
    assert (issued.actor, issued.book_code, issued.digest, issued.detail["kind"]) == (
        "测试", code, record.pdf_sha256, kind)


def test_trial_balance_totals_match_the_selector(demo):
    book = Book.objects.get(code="CLIC-1405-DB")
    data = report_data(kind="trial-balance", book=book, year=2019)
    tb = trial_balance(book=book, year=2019)
    assert data["totals"]["pd"] == f"{tb.totals.period_debit.amount:.2f}"
    assert data["totals"]["cd"] == f"{tb.totals.closing_debit.amount:.2f}"
    assert data["upper"]["pd"].startswith("人民币")


def test_verify_fails_after_the_books_change_behind_the_applications_back(demo, tmp_path):
    book = Book.objects.get(code="FUND-1405")
    report_issue(kind="trial-balance", book=book, year=2019, out=tmp_path / "tb.pdf")
    assert report_verify(path=tmp_path / "tb.pdf").ok
    # Only the balance table raised behind the application's back: the statement stands on the postings
    # of the chain, which still say what it says (verify_ledger names the balance row).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_accountbalance SET debit_fen = debit_fen + 100 WHERE book_id = %s AND "
                       "account_id = (SELECT id FROM accounts_account WHERE book_id = %s AND code = '5101')",
                       [book.pk, book.pk])
    assert report_verify(path=tmp_path / "tb.pdf").ok
    # A posting changed behind the triggers: the statement no longer verifies, and says which voucher.
    _drop_posting_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET debit_fen = debit_fen + 100 WHERE id = (SELECT min(p.id) FROM "
                       "ledger_posting p JOIN ledger_journalentry e ON e.id = p.entry_id WHERE p.book_id = %s "
                       "AND p.debit_fen > 0 AND e.fiscal_year = 2019)", [book.pk])
    v = report_verify(path=tmp_path / "tb.pdf")
    differences = english(v.differences)  # as --json and the audit trail keep them
    assert not v.ok and differences[0].startswith("记-2019-04-0001: seal (content or chain changed after posting)")
    assert any("the books no longer say what the statement says" in d for d in differences)


def _drop_posting_guards():
    from importlib import import_module

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # Newest first: 0013's insert triggers run 0002's function, which cannot go while they use it (and
        # 0020's TRUNCATE guard 0006's).
        for name in ("0020_counterparty_names", "0013_entries_posted_on_insert", "0002_database_guards",
                     "0006_raw_sql_guards"):
            module = import_module(f"ledger.migrations.{name}")
            for sql in (module.POSTGRES_DROP if connection.vendor == "postgresql" else module.SQLITE_DROP):
                if "CREATE" not in sql:  # restoring an earlier guard, not dropping one
                    cursor.execute(sql)


def test_verify_fails_for_an_altered_file_or_one_not_ours(demo, tmp_path):
    book = Book.objects.get(code="FUND-37")
    report_issue(kind="settlement", book=book, year=2015, out=tmp_path / "s.pdf")
    raw = (tmp_path / "s.pdf").read_bytes()
    i = raw.find(b"/MediaBox")
    (tmp_path / "altered.pdf").write_bytes(raw[:i] + b"/MediaBox " + raw[i + 10:].replace(b"0", b"1", 1))
    v = report_verify(path=tmp_path / "altered.pdf")
    assert not v.ok and "altered" in english(v.differences)[0] and "已被改动" in str(v.differences[0])
    (tmp_path / "other.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    assert english(report_verify(path=tmp_path / "other.pdf").differences) == [
        "not a statement issued by this ledger (no verification code)"]


def test_a_later_posting_the_statement_does_not_show_keeps_it_valid(demo, tmp_path):
    book = Book.objects.get(code="FUND-37")
    report_issue(kind="trial-balance", book=book, year=2015, out=tmp_path / "tb.pdf")
    from access.demo import demo_pair

    accountant, reviewer = demo_pair("fund", "37")
    entry_post(book=book, date=date(2016, 7, 1), memo="2016年新凭证", lines=premium_lines("1.00"),
               made_by=accountant, reviewed_by=reviewer)
    assert report_verify(path=tmp_path / "tb.pdf").ok


def test_report_and_verify_commands(demo, tmp_path):
    out = StringIO()
    call_command("report", "premium-status", "--book", "FUND-37", "--year", "2015", "--out",
                 str(tmp_path / "p.pdf"), "--json", stdout=out)
    code = json.loads(out.getvalue())["code"]
    out = StringIO()
    call_command("verify_report", str(tmp_path / "p.pdf"), "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"ok": True, "code": code, "differences": [], "kind": "premium-status",
                                          "book": "FUND-37"}


def test_the_canvas_ledger_refuses_a_character_the_font_lacks(fund_book, tmp_path, signed):
    # 䶮 (U+4DAE) is outside GB2312: drawn, it would print as an empty box; the statement is refused instead.
    entry_post(book=fund_book, date=date(2015, 4, 28), memo="龑䶮医院赔款", lines=premium_lines("1.00"), **signed)
    from core.errors import Refused

    with pytest.raises(Refused) as refused:
        report_issue(kind="ledger", book=fund_book, year=2015, out=tmp_path / "l.pdf")
    assert "䶮" in refused.value.problems[0]["found"]
    assert not (tmp_path / "l.pdf").exists()


def test_one_posting_changed_behind_the_application_fails_every_statement_that_covers_it(db, tmp_path, settings):
    # Every statement quickstart writes, issued; then one posting of FUND-1405's April 2019 (the first premium
    # tranche, 44,200,093.50) raised by 0.01 behind the triggers. Each statement of that book whose period
    # covers April 2019 fails and names the voucher; those of other books or periods still verify.
    from reports.demo import DEMO, demo_reports_write

    call_command("quickstart", stdout=StringIO())
    written = demo_reports_write(tmp_path / "out")
    book = Book.objects.get(code="FUND-1405")
    _drop_posting_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET debit_fen = debit_fen + 1 WHERE id = (SELECT p.id FROM "
                       "ledger_posting p JOIN ledger_journalentry e ON e.id = p.entry_id WHERE p.book_id = %s "
                       "AND e.date = '2019-04-26' AND p.debit_fen = 4420009350)", [book.pk])
        assert cursor.rowcount == 1
    covering = {(kind, code, year, month) for kind, code, year, month in DEMO
                if code == "FUND-1405" and year == 2019 and month in (None, 4)}
    assert covering == {("trial-balance", "FUND-1405", 2019, None), ("vouchers", "FUND-1405", 2019, None),
                        ("premium-status", "FUND-1405", 2019, None), ("settlement", "FUND-1405", 2019, None),
                        ("bank-reconciliation", "FUND-1405", 2019, 4), ("cash-journal", "FUND-1405", 2019, None)}
    # Each statement is written as a PDF and, beside it, as an XLSX of the same figures: both say the same.
    assert [p[-4:] for p in written] == [".pdf", "xlsx"] * len(DEMO)
    for (kind, code, year, month), pair in zip(DEMO, zip(written[::2], written[1::2], strict=True), strict=True):
        for path in pair:
            v = report_verify(path=tmp_path / path)
            if (kind, code, year, month) in covering:
                assert not v.ok and any(d.startswith("记-2019-04-0001: seal") for d in v.differences), (
                    kind, path, v.differences)
            else:
                assert v.ok, (kind, code, path, v.differences)
