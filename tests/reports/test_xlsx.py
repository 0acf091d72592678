"""XLSX statements: every kind written from the data dict its PDF is made from, every amount a numeric cell
equal to the data to the fen, headings, frozen header rows, number formats, the verification code; issued and
verified like a PDF (a figure edited in the file, or the books changed, fails)."""

import io
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from openpyxl import load_workbook

from accounts.models import Book
from audit.models import AuditEvent
from core.xlsx import MONEY, safe_text
from reports.demo import DEMO
from reports.models import ReportRecord
from reports.registry import KINDS
from reports.services import MARK, english, report_data, report_issue, report_verify
from reports.xlsx import CODE_PROPERTY, WRITERS, xlsx_of

AMOUNT_KEYS = {"od", "oc", "pd", "pc", "cd", "cc", "debit", "credit", "balance", "amount", "withheld", "received",
               "in_transit", "shortfall", "book_balance", "bank_balance", "adjusted_book", "adjusted_bank",
               "cumulative", "base", "required", "released", "expected", "found", "difference", "premium", "claims",
               "ledger_6511", "unexplained", "receipts", "payments", "closing", "unbooked_by_fund"}
SKIP = {"cum_debit", "cum_credit", "chain", "upper"}  # running year-to-date figures the PDF prints only on 过次页


@pytest.fixture
def demo(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)


def _amounts(data, found=None) -> list[Decimal]:
    """Every amount the data dict holds (a two-decimal figure under an amount key), wherever it is."""
    found = [] if found is None else found
    if isinstance(data, dict):
        if "money" in data and "value" in data:  # operations' summary: a figure only where it is money
            if data["money"]:
                found.append(Decimal(data["value"]))
            return found
        for k, v in data.items():
            if k in SKIP:
                continue
            if k in AMOUNT_KEYS and isinstance(v, str) and _figure(v):
                found.append(Decimal(v))
            else:
                _amounts(v, found)
    elif isinstance(data, list):
        for v in data:
            _amounts(v, found)
    return found


def _figure(text: str) -> bool:
    try:
        return Decimal(text) == Decimal(text).quantize(Decimal("0.01")) and "." in text
    except Exception:  # noqa: BLE001
        return False


def _cells(wb):
    """Every numeric cell formatted as money, as Decimal to the fen."""
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "n" and c.value is not None and c.number_format == MONEY:
                    out.append(Decimal(str(c.value)).quantize(Decimal("0.01")))
    return out


def _multiset(values):
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def test_every_kind_as_xlsx_has_the_pdfs_figures_and_verifies(demo, tmp_path):
    """For every kind quickstart writes (all of KINDS): the amounts in the workbook are exactly the amounts of the
    data dict the PDF is made from (as a multiset: every figure, no other), the totals to the fen, number formats,
    frozen heading rows, the code in a cell, in the footer and in the properties; verify_report passes."""
    assert {k for k, *_ in DEMO} == set(KINDS) == set(WRITERS)
    done = set()
    for kind, code, year, month in DEMO:
        if kind in done:
            continue
        done.add(kind)
        book = Book.objects.get(code=code)
        out = tmp_path / f"{kind}.xlsx"
        record = report_issue(kind=kind, book=book, year=year, month=month, out=out, by="测试")
        assert record.format == "xlsx"
        data = report_data(kind=kind, book=book, year=year, month=month, upto=record.chain_length)
        raw = out.read_bytes()
        wb = load_workbook(io.BytesIO(raw))
        cells = _cells(wb)
        shown = json.loads(json.dumps(data))
        if kind == "premium-status":  # the PDF prints no column 应留 (required) in its totals: neither does the XLSX
            for totals in [shown["totals"]] + [b["totals"] for b in shown["blocks"]]:
                totals.pop("required", None)
        if kind == "operations":  # nor a block's own premium/6511/unexplained totals (its summary and 核对 show them)
            for b in shown["blocks"]:
                for key in ("premium", "ledger_6511", "unexplained"):
                    b["totals"].pop(key)
                b.pop("unexplained")
        expected = _amounts({k: v for k, v in shown.items() if k != "totals"}) + _amounts(shown["totals"])
        # Every figure of the data is in the workbook, as a number; the workbook has no figure the data lacks
        # (the 明细账 leaves an empty side blank, as the PDF does: zeros the data holds may be absent).
        # A figure printed twice by the PDF (a voucher's 合计 under 借方 and 贷方) is there twice too.
        want, have = _multiset(expected), _multiset(cells)
        stray = set(have) - set(want)
        assert not stray, f"{kind}: figures in the workbook that are no figure of the data: {stray}"
        short = {v: (n, have.get(v, 0)) for v, n in want.items() if v != 0 and have.get(v, 0) < n}
        assert not short, f"{kind}: figures of the data missing from the workbook (wanted, found): {short}"
        # Totals: each is a numeric cell with exactly the data's figure.
        for key, value in shown["totals"].items():
            if _figure(value):
                assert Decimal(value) in cells, (kind, key, value)
        for ws in wb.worksheets:
            assert ws.freeze_panes, (kind, ws.title)
            assert ws.print_title_rows, (kind, ws.title)
            assert ws.page_setup.fitToWidth == 1
            assert f"{MARK}{record.code}" in ws["A3"].value
            assert f"{MARK}{record.code}" in ws.oddFooter.left.text
            assert ws["A1"].value == data["title"]
        if KINDS[kind].from_chain:
            assert f"前 {record.chain_length} 张凭证" in wb.worksheets[0]["A3"].value
        assert [p.value for p in wb.custom_doc_props.props if p.name == CODE_PROPERTY] == [f"{MARK}{record.code}"]
        assert wb.properties.keywords == f"{MARK}{record.code}"
        v = report_verify(path=out, by="审计")
        assert v.ok, (kind, [str(d) for d in v.differences])
        assert v.record == record
    assert done == set(KINDS)


def test_trial_balance_xlsx_rows_are_the_pdfs_rows(demo, tmp_path):
    book = Book.objects.get(code="FUND-1405")
    report_issue(kind="trial-balance", book=book, year=2019, out=tmp_path / "tb.xlsx")
    data = report_data(kind="trial-balance", book=book, year=2019)
    ws = load_workbook(tmp_path / "tb.xlsx")["科目余额表"]
    assert [ws.cell(4, c).value for c in range(1, 9)] == ["科目编码", "科目名称", "期初余额", None, "本期发生额", None,
                                                          "期末余额", None]
    assert [ws.cell(5, c).value for c in range(3, 9)] == ["借方", "贷方"] * 3
    assert ws.freeze_panes == "A6"
    for i, r in enumerate(data["rows"]):
        row = [ws.cell(6 + i, c) for c in range(1, 9)]
        assert row[0].value == r["code"]
        for cell, key in zip(row[2:], ("od", "oc", "pd", "pc", "cd", "cc"), strict=True):
            assert cell.data_type == "n" and cell.number_format == MONEY
            assert Decimal(str(cell.value)).quantize(Decimal("0.01")) == Decimal(r[key])
    total = [ws.cell(6 + len(data["rows"]), c) for c in range(1, 9)]
    assert total[0].value == "合计（明细科目）"
    assert [f"{Decimal(str(c.value)):.2f}" for c in total[2:]] == [data["totals"][k] for k in
                                                                    ("od", "oc", "pd", "pc", "cd", "cc")]


def test_verify_xlsx_fails_after_a_figure_is_edited_or_the_books_change(demo, tmp_path):
    book = Book.objects.get(code="FUND-1405")
    out = tmp_path / "tb.xlsx"
    record = report_issue(kind="trial-balance", book=book, year=2019, out=out)
    assert report_verify(path=out).ok
    # One figure changed in the file with openpyxl (the code stays in the properties).
    wb = load_workbook(out)
    ws = wb["科目余额表"]
    cell = next(c for row in ws.iter_rows(min_row=6) for c in row if c.data_type == "n" and c.value)
    cell.value = Decimal(str(cell.value)) + Decimal("0.01")
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    v = report_verify(path=edited)
    assert not v.ok and v.code == record.code
    assert any("XLSX file is not the one issued" in str(d) for d in english(v.differences))
    # Via the command: exit 1, saying what differs.
    out_json = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_report", str(edited), "--json", stdout=out_json)
    assert exit_.value.code == 1
    assert "XLSX file is not the one issued" in " ".join(json.loads(out_json.getvalue())["differences"])
    # The books changed behind the application's back: a posting's amount rewritten (the ledger's guards are
    # bypassed as an adversary with the database would) — the figures rebuilt from the chain differ.
    with connection.cursor() as cursor:
        cursor.execute("SELECT p.id, p.debit_fen FROM ledger_posting p JOIN ledger_journalentry e ON e.id = p.entry_id "
                       "WHERE e.book_id = %s AND p.debit_fen > 0 ORDER BY e.seq LIMIT 1", [book.pk])
        pid, fen = cursor.fetchone()
    _raw_update(pid, fen + 100)
    v = report_verify(path=out)
    assert not v.ok
    assert any("no longer say" in str(d) or "expected" in str(d) for d in english(v.differences))
    assert AuditEvent.objects.filter(action="report_verified", object_id=str(record.pk), outcome="refused").exists()


def _raw_update(posting_id: int, fen: int) -> None:
    """Rewrite a posting behind the application's back (the guard triggers set aside, as a DBA could)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("UPDATE ledger_posting SET debit_fen = %s WHERE id = %s", [fen, posting_id])
            cursor.execute("SET session_replication_role = DEFAULT")
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_posting'")
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
            cursor.execute("UPDATE ledger_posting SET debit_fen = %s WHERE id = %s", [fen, posting_id])
            for _name, sql in triggers:
                cursor.execute(sql)


def test_report_command_format_xlsx_and_suffix(demo, tmp_path):
    out = StringIO()
    call_command("report", "trial-balance", "--book", "FUND-37", "--year", "2015", "--out", str(tmp_path / "a.out"),
                 "--format", "xlsx", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["format"] == "xlsx" and (tmp_path / "a.out").read_bytes().startswith(b"PK")
    out = StringIO()
    call_command("report", "trial-balance", "--book", "FUND-37", "--year", "2015", "--out", str(tmp_path / "b.xlsx"),
                 "--json", stdout=out)
    record = ReportRecord.objects.get(code=json.loads(out.getvalue())["code"])
    assert record.format == "xlsx"
    out = StringIO()
    call_command("verify_report", str(tmp_path / "b.xlsx"), "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True
    # A PDF's code pasted into a workbook does not pass for the PDF.
    pdf = report_issue(kind="trial-balance", book=Book.objects.get(code="FUND-37"), year=2015, out=tmp_path / "c.pdf")
    wb = load_workbook(tmp_path / "b.xlsx")
    for p in wb.custom_doc_props.props:
        p.value = f"{MARK}{pdf.code}"
    wb.save(tmp_path / "forged.xlsx")
    v = report_verify(path=tmp_path / "forged.xlsx")
    assert not v.ok and v.code == pdf.code


def test_formula_text_in_a_statement_stays_text(db):
    """A memo or account name that reads as a formula is written as text, never as a formula."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for i, text in enumerate(["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "普通"], 1):
        safe_text(ws.cell(i, 1), text)
    buf = io.BytesIO()
    wb.save(buf)
    back = load_workbook(io.BytesIO(buf.getvalue())).active
    assert back.cell(1, 1).value == "=cmd|' /C calc'!A0"
    for i in range(1, 8):
        c = back.cell(i, 1)
        assert c.data_type == "s", (i, c.value)
        assert not str(c.value).startswith("=") or c.quotePrefix
    assert all(back.cell(i, 1).quotePrefix for i in range(1, 7))

    class _Book:
        code, name = "B", "=HYPERLINK(\"http://x\")"

    data = {"title": "科目余额表", "rows": [{"code": "1001", "name": "=cmd|' /C calc'!A0", "depth": 0, "leaf": True,
                                            "od": "1.00", "oc": "0.00", "pd": "0.00", "pc": "0.00", "cd": "1.00",
                                            "cc": "0.00"}],
            "totals": {k: "0.00" for k in ("od", "oc", "pd", "pc", "cd", "cc")}, "balanced": True,
            "upper": {"pd": "零", "cd": "零"}}
    raw = xlsx_of(kind="trial-balance", book=_Book(), year=2019, month=None, data=data, code="0" * 16, mark=MARK,
                  by="测试", at=timezone.localtime())
    ws = load_workbook(io.BytesIO(raw)).active
    name = ws.cell(6, 2)
    assert name.value == "=cmd|' /C calc'!A0" and name.data_type == "s"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
