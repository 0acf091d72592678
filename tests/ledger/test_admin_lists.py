"""The voucher list as a province's accountant uses it: newest first, counted only as far as the page asked
for, searched by kind of term, and each search run once per page.

Seven 2015 premium vouchers of the Shandong fund, three lines to a page (the list shows 100 in use).
"""

import re
from datetime import date

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ledger.models import JournalEntry
from ledger.services import Line, entry_post

LIST = "/admin/ledger/journalentry/"


@pytest.fixture
def seven_vouchers(fund_book, signed):
    """Premium tranches paid on seven days of April–May 2015; the odd ones to 人保财险, the even ones to 人寿."""
    entries = []
    for i in range(7):
        insurer = "人保财险山东分公司" if i % 2 == 0 else "中国人寿山东分公司"
        entries.append(entry_post(
            book=fund_book, date=date(2015, 4, 20 + i), memo=f"拨付大病保险费第{i + 1}期",
            lines=[Line("5101", debit=f"{1000 + i}.00"), Line("1004", credit=f"{1000 + i}.00", counterparty=insurer)],
            idempotency_key=f"premium-2015-{i + 1}", **signed))
    return entries


@pytest.fixture
def lisi(reviewer):
    """李四, the Shandong fund's reviewer, logged in."""
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.fixture
def three_a_page(monkeypatch):
    monkeypatch.setattr(admin.site._registry[JournalEntry], "list_per_page", 3)


def _vouchers(page: str) -> list[str]:
    return re.findall(r"记-2015-0\d-\d{4}", page)


def test_the_newest_vouchers_come_first_and_the_count_stops_after_the_page(lisi, seven_vouchers, three_a_page):
    newest_first = [e.voucher for e in reversed(seven_vouchers)]
    page = lisi.get(LIST).content.decode()
    assert list(dict.fromkeys(_vouchers(page))) == newest_first[:3]
    assert "3+" in page  # counted to the page and one more, not to the end of the book

    second = lisi.get(LIST + "?p=2").content.decode()
    assert list(dict.fromkeys(_vouchers(second))) == newest_first[3:6]
    assert "6+" in second
    third = lisi.get(LIST + "?p=3").content.decode()
    assert list(dict.fromkeys(_vouchers(third))) == newest_first[6:]


def test_a_search_runs_once_for_the_count_and_the_page(lisi, seven_vouchers, three_a_page):
    with CaptureQueriesContext(connection) as queries:
        page = lisi.get(LIST + "?q=人寿").content.decode()
    # 人寿 is the counterparty of the 2nd, 4th and 6th tranches: the three on one page, newest first.
    assert list(dict.fromkeys(_vouchers(page))) == [seven_vouchers[i].voucher for i in (5, 3, 1)]
    # The term looked up once among the counterparty names, and the vouchers read once with the names found.
    names = [q["sql"] for q in queries.captured_queries if 'FROM "ledger_counterparty"' in q["sql"]]
    searched = [q["sql"] for q in queries.captured_queries if '"counterparty" IN (' in q["sql"]]
    assert len(names) == 1 and len(searched) == 1, (names, searched)
    assert "中国人寿山东分公司" in searched[0]


def test_each_kind_of_term_finds_its_vouchers(lisi, seven_vouchers):
    fourth = seven_vouchers[3]
    by_label = lisi.get(LIST + f"?q={fourth.voucher}").content.decode()
    assert list(dict.fromkeys(_vouchers(by_label))) == [fourth.voucher]
    by_memo = lisi.get(LIST + "?q=第5期").content.decode()
    assert list(dict.fromkeys(_vouchers(by_memo))) == [seven_vouchers[4].voucher]
    # Two terms must both match: the memo's tranche and the counterparty.
    both = lisi.get(LIST + "?q=第5期 人寿").content.decode()
    assert _vouchers(both) == []
    by_account = lisi.get(LIST + "?q=5101").content.decode()
    assert len(set(_vouchers(by_account))) == 7


def test_a_page_number_typed_into_the_url_reads_one_page_of_keys_not_every_one_before_it(lisi, seven_vouchers,
                                                                                        three_a_page):
    # ?p=2 reads the keys of page 2 and one more (rows 4–7), not rows 1–7; ?p=50 is past the end and refused
    # as Django refuses any page that does not exist, after a count that stops at the page asked for.
    with CaptureQueriesContext(connection) as queries:
        second = lisi.get(LIST + "?p=2").content.decode()
    assert list(dict.fromkeys(_vouchers(second))) == [e.voucher for e in reversed(seven_vouchers)][3:6]
    keys = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "ledger_journalentry"."id"')
            and "LIMIT" in q["sql"]]
    assert keys and all("LIMIT 4 OFFSET 3" in q for q in keys), keys
    response = lisi.get(LIST + "?p=50")
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_rows_read_by_key_keep_a_filter_that_joined_many_lines(seven_vouchers):
    # A filter across a voucher's lines joins one row per line: dropping its condition while keeping the join
    # would show each voucher once per line, so such a list is read with its filters.
    from ledger.admin import _rows_by_keys

    by_lines = JournalEntry.objects.filter(postings__counterparty__contains="人寿").order_by("-date", "-id")
    keys = list(by_lines.values_list("pk", flat=True))
    assert list(_rows_by_keys(by_lines, keys)) == list(by_lines) == [seven_vouchers[i] for i in (5, 3, 1)]
    plain = JournalEntry.objects.filter(memo__contains="第2期").order_by("-date", "-id")
    assert list(_rows_by_keys(plain, [seven_vouchers[1].pk])) == [seven_vouchers[1]]
