"""The demo year quickstart posts: Shandong 2015, one fund and its insurer.

Figures follow the Shandong documents: 32 yuan per insured person; with a demo
10,000,000 insured the premium is 320,000,000.00, 80% paid by April 30 and 20% after
the evaluation before year end. Each transfer shows in both books; the insurer pays
hospitals monthly in advance. Idempotency keys make running it twice change nothing.
"""

from datetime import date

from django.db import transaction

from accounts.models import Book
from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from ledger.services import EntrySpec, Line, entries_post_many, fiscal_year_open

YEAR = 2015
FUND_BOOK = "FUND-37"
INSURER_BOOK = "PICC-37-DB"

FUND_ENTRIES = [
    (date(2015, 4, 28), "拨付2015年大病保险资金首期（80%）", "256000000.00", "premium-2015-t1"),
    (date(2015, 12, 22), "拨付2015年大病保险资金尾款（20%，考核后）", "64000000.00", "premium-2015-t2"),
]

# (date, memo, hospital claims accrued, key) — paid to hospitals the month after.
CLAIMS = [
    (date(2015, 5, 31), "5月定点医疗机构大病保险赔款", "18250340.27", "claims-2015-05"),
    (date(2015, 6, 30), "6月定点医疗机构大病保险赔款", "21604512.90", "claims-2015-06"),
    (date(2015, 7, 31), "7月定点医疗机构大病保险赔款", "23117009.55", "claims-2015-07"),
]


def _books():
    region = region_ensure(code="37", name="山东省", level="province")
    fund = fund_ensure(code="F-37", name="山东省城乡居民大病保险资金", region=region)
    insurer = insurer_ensure(code="PICC-37", name="中国人民财产保险股份有限公司山东省分公司")
    fund_book = Book.objects.filter(code=FUND_BOOK).first() or book_create(
        code=FUND_BOOK, name="山东省城乡居民大病保险资金账", fund=fund)
    insurer_book = Book.objects.filter(code=INSURER_BOOK).first() or book_create(
        code=INSURER_BOOK, name="人保财险山东分公司大病保险专账", insurer=insurer)
    for book in (fund_book, insurer_book):
        fiscal_year_open(book=book, year=YEAR)
    return fund_book, insurer_book


@transaction.atomic
def demo_year_post() -> dict:
    """Create the demo books and post the demo year; returns {book code: entries posted or found}."""
    fund_book, insurer_book = _books()
    fund_specs = [EntrySpec(d, [Line("5101", debit=amt, counterparty=insurer_book.insurer.name),
                                Line("1004", credit=amt)], memo, key)
                  for d, memo, amt, key in FUND_ENTRIES]
    insurer_specs = [EntrySpec(d.replace(day=d.day + 1), [Line("1002", debit=amt),
                                                          Line("6031", credit=amt, counterparty=fund_book.fund.name)],
                               memo.replace("拨付", "收到"), key)
                     for d, memo, amt, key in FUND_ENTRIES]
    for d, memo, amt, key in CLAIMS:
        insurer_specs.append(EntrySpec(d, [Line("6511", debit=amt), Line("224102", credit=amt)], memo, key))
        paid = date(d.year, d.month + 1, 10)
        insurer_specs.append(EntrySpec(paid, [Line("224102", debit=amt), Line("1002", credit=amt)],
                                       f"支付{memo}", f"{key}-paid"))
    insurer_specs.sort(key=lambda s: s.date)
    return {
        fund_book.code: len(entries_post_many(book=fund_book, entries=fund_specs, source="quickstart")),
        insurer_book.code: len(entries_post_many(book=insurer_book, entries=insurer_specs, source="quickstart")),
    }
