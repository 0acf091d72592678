"""记账凭证 as the standard form: four signers by name, 附件张数, 借 lines before 贷.

The Shandong fund's 会计主管 is 周主管; 张三 prepares the voucher for the first tranche, attaches the
bank's receipt, and 李四 reviews and posts it (审核 and 记账 in one act). The closing voucher of the
year is entered 贷-first by nobody: it is built 借-first.
"""

from datetime import date

from pypdf import PdfReader

from accounts.models import Book
from ledger.attachments import attachment_add
from ledger.closing import year_end_close, year_end_prepare
from ledger.services import Line, entry_draft_post, entry_draft_save
from reports.services import report_issue
from tests.conftest import person


def _text(path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_a_voucher_page_names_four_people_counts_its_attachments_and_lists_debits_first(
        fund_book, maker, reviewer, tmp_path):
    supervisor = person("zhou-zhuguan", "周主管", "reviewer", regions=["37"])
    Book.objects.filter(pk=fund_book.pk).update(supervisor=supervisor)
    fund_book.refresh_from_db()
    # Typed 贷 first, as a hurried accountant might: the printed voucher still reads 借 first.
    draft = entry_draft_save(book=fund_book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%", lines=[
        Line("1004", credit="256000000.00"), Line("5101", debit="256000000.00")], made_by=maker)
    attachment_add(entry=draft, name="银行回单.pdf", content=b"%PDF-1.4\n%%EOF\n", by=maker)
    posted = entry_draft_post(entry=draft, reviewed_by=reviewer)
    assert posted.supervisor == supervisor

    report_issue(kind="vouchers", book=fund_book, year=2015, out=tmp_path / "v.pdf", by="测试")
    text = _text(tmp_path / "v.pdf")
    assert "附件 1 张" in text
    for label, name in (("会计主管", "周主管"), ("记账", "李四"), ("审核", "李四"), ("制单", "张三")):
        assert f"{label}：{name}" in text
    assert text.index("5101 大病保险支出") < text.index("1004 支出户存款")
    assert "256,000,000.00" in text


def test_the_year_end_closing_voucher_is_built_debits_first(fund_book, signed, maker, reviewer, tmp_path):
    draft = entry_draft_save(book=fund_book, date=date(2015, 4, 28), memo="拨付保费", lines=[
        Line("5101", debit="256000000.00"), Line("1004", credit="256000000.00")], made_by=maker)
    entry_draft_post(entry=draft, reviewed_by=reviewer)
    closing = year_end_prepare(book=fund_book, year=2015, by=maker)
    sides = [("借" if p.debit.amount else "贷", p.account.code) for p in closing.postings.order_by("line")]
    assert sides == [("借", "3001"), ("贷", "5101")]
    year_end_close(book=fund_book, year=2015, by=reviewer)
