"""Posting into the books, as the accountants of a Shandong fund and its insurer do it.

Shandong 2015: 32 yuan per insured person; 80% of the premium by April 30, the last
20% after the evaluation before year end. Every refusal names the entry and what is
wrong, and leaves the books exactly as they were.
"""

from datetime import date

import pytest
from djmoney.money import Money

from core.errors import Refused
from ledger.models import AccountBalance, JournalEntry, Period, Posting
from ledger.services import (
    EntrySpec,
    Line,
    entries_post_many,
    entry_draft_post,
    entry_draft_save,
    entry_post,
    entry_reverse,
    fiscal_year_open,
    period_close,
    period_reopen,
    year_close,
)
from tests.conftest import premium_lines


def _counts():
    return JournalEntry.objects.count(), Posting.objects.count(), AccountBalance.objects.count()


def _refused(call, **kwargs) -> list[dict]:
    before = _counts()
    with pytest.raises(Refused) as info:
        call(**kwargs)
    assert _counts() == before, "a refused input must write nothing"
    return info.value.problems


def test_premium_transfer_posts_with_voucher_number_hash_and_balances(fund_book, posted_premium):
    e = posted_premium
    assert e.status == "posted"
    assert e.voucher == "记-2015-04-0001"  # 凭证号: the first voucher of April 2015
    assert len(e.hash) == 64 and e.prev_hash == ""
    amounts = {(p.account.code, p.debit, p.credit) for p in e.postings.select_related("account")}
    assert amounts == {
        ("5101", Money("256000000.00", "CNY"), Money("0", "CNY")),
        ("1004", Money("0", "CNY"), Money("256000000.00", "CNY")),
    }
    april = Period.objects.get(book=fund_book, year=2015, month=4)
    bal = {b.account.code: (b.debit, b.credit) for b in AccountBalance.objects.filter(period=april)}
    assert bal["5101"] == (Money("256000000.00", "CNY"), Money(0, "CNY"))
    assert bal["1004"] == (Money(0, "CNY"), Money("256000000.00", "CNY"))
    fund_book.refresh_from_db()
    assert fund_book.chain_length == 1 and fund_book.chain_head == e.hash


def test_voucher_numbers_are_gapless_per_book_and_month_and_the_chain_links(fund_book, insurer_book, signed,
                                                                          insurer_signed):
    fiscal_year_open(book=fund_book, year=2016)
    e1 = entry_post(book=fund_book, date=date(2015, 4, 28), memo="首期", lines=premium_lines("100.00"), **signed)
    e2 = entry_post(book=fund_book, date=date(2016, 4, 28), memo="2016首期", lines=premium_lines("100.00"), **signed)
    e3 = entry_post(book=fund_book, date=date(2015, 12, 20), memo="尾款20%", lines=premium_lines("25.00"), **signed)
    other = entry_post(book=insurer_book, date=date(2015, 4, 29), memo="收到保费",
                       lines=[Line("1002", debit="100.00"), Line("6031", credit="100.00")], **insurer_signed)
    assert [e1.voucher, e2.voucher, e3.voucher] == ["记-2015-04-0001", "记-2016-04-0001", "记-2015-12-0001"]
    assert [e1.number, e2.number, e3.number] == [1, 1, 2]  # the order of posting within each year
    assert other.voucher == "记-2015-04-0001"  # each book numbers its own vouchers
    assert e2.prev_hash == e1.hash and e3.prev_hash == e2.hash
    assert other.prev_hash == ""


def test_same_idempotency_key_and_content_returns_the_existing_entry(fund_book, posted_premium, signed):
    again = entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%",
                       lines=premium_lines("256000000.00"), idempotency_key="premium-2015-1", **signed)
    assert again.pk == posted_premium.pk
    assert JournalEntry.objects.count() == 1 and Posting.objects.count() == 2


def test_idempotency_key_reused_with_other_content_is_refused(fund_book, posted_premium, signed):
    problems = _refused(entry_post, book=fund_book, date=date(2015, 4, 28), memo="拨付2015年大病保险费首期80%",
                        lines=premium_lines("256000000.01"), idempotency_key="premium-2015-1", **signed)
    assert problems == [{
        "entry": "key premium-2015-1", "field": "idempotency_key",
        "expected": "the same content as 记-2015-04-0001", "found": "different content under the same key",
    }]


@pytest.mark.parametrize(
    "lines, field, expected, found",
    [
        ([Line("5101", debit="100.00"), Line("1004", credit="99.99")],
         "balance", "Σdebit = Σcredit > 0", "Σdebit 100.00, Σcredit 99.99"),
        ([Line("5101", debit="100.00")], "lines", "at least 2 postings", "1"),
        ([Line("5101", debit="-100.00"), Line("1004", credit="-100.00")],
         "line 1 debit", "an amount ≥ 0 (put it on the other side)", "-100.00"),
        ([Line("5101", debit="100.00", credit="100.00"), Line("1004", credit="100.00")],
         "line 1", "a debit or a credit, not both", "debit 100.00 and credit 100.00"),
        ([Line("5101", debit="100.005"), Line("1004", credit="100.005")],
         "line 1 debit", "a CNY amount with at most 2 decimals",
         "100.005 (at most 2 decimal places (fen), found 100.005)"),
        ([Line("5101", debit=Money("100", "USD")), Line("1004", credit=Money("100", "USD"))],
         "line 1 debit", "a CNY amount with at most 2 decimals",
         "100 USD (currency must be CNY, found USD)"),
        ([Line("5101", debit="100.00"), Line("6031", credit="100.00")],
         "line 2 account", "an account of book FUND-37", "6031"),
        ([Line("5101"), Line("1004")], "line 1", "a debit or a credit above zero", "neither"),
    ],
    ids=["unbalanced", "one-posting", "negative", "both-sides", "three-decimals", "usd",
         "other-books-account", "zero"],
)
def test_bad_entries_are_refused_naming_the_entry_and_the_fault(fund_book, lines, field, expected, found, signed):
    problems = _refused(entry_post, book=fund_book, date=date(2015, 5, 6), memo="错误凭证", lines=lines, **signed)
    assert {"entry": "entry «错误凭证» of 2015-05-06", "field": field, "expected": expected, "found": found} in problems


def test_posting_to_a_parent_account_is_refused(insurer_book, insurer_signed):
    # 2241 其他应付款 has sub-accounts (224101 应返还医保基金 …): post to those.
    problems = _refused(entry_post, book=insurer_book, date=date(2015, 6, 30), memo="应返还结余",
                        lines=[Line("6031", debit="50.00"), Line("2241", credit="50.00")], **insurer_signed)
    assert problems[0]["field"] == "line 2 account"
    assert problems[0]["expected"] == "a leaf account (it has sub-accounts)"
    entry_post(book=insurer_book, date=date(2015, 6, 30), memo="应返还结余",
               lines=[Line("6031", debit="50.00"), Line("224101", credit="50.00")], **insurer_signed)


def test_a_date_in_a_closed_period_or_an_unopened_year_is_refused(fund_book, signed):
    april = Period.objects.get(book=fund_book, year=2015, month=4)
    period_close(period=april)
    problems = _refused(entry_post, book=fund_book, date=date(2015, 4, 30), memo="迟到凭证", lines=premium_lines("1.00"),
                        **signed)
    assert problems == [{"entry": "entry «迟到凭证» of 2015-04-30", "field": "date",
                         "expected": "a date in an open period", "found": "2015-04-30 in period 2015-04 (closed)"}]
    problems = _refused(entry_post, book=fund_book, date=date(2017, 1, 3), memo="未开账年度", lines=premium_lines("1.00"),
                        **signed)
    assert problems[0]["found"] == "2017-01-03 (year 2017 not opened)"
    period_reopen(period=april)
    assert entry_post(book=fund_book, date=date(2015, 4, 30), memo="重开后", lines=premium_lines("1.00"),
                      **signed).is_posted


def test_a_batch_with_one_bad_entry_writes_nothing_and_lists_every_problem(fund_book, signed):
    specs = [
        EntrySpec(date(2015, 4, 28), premium_lines("100.00"), "一", "k1"),
        EntrySpec(date(2015, 4, 28), [Line("5101", debit="100.00"), Line("1004", credit="10.00")], "二", "k2"),
        EntrySpec(date(2015, 4, 28), [Line("9999", debit="1.00"), Line("1004", credit="1.00")], "三", "k3"),
    ]
    problems = _refused(entries_post_many, book=fund_book, entries=specs, **signed)
    assert [(p["entry"], p["field"]) for p in problems] == [("entry 2 key k2", "balance"),
                                                            ("entry 3 key k3", "line 1 account")]


def test_a_batch_posts_in_order_and_posting_it_again_creates_nothing(fund_book, signed):
    specs = [EntrySpec(date(2015, m, 10), premium_lines(f"{m}000.00"), f"第{m}月", f"m{m}") for m in range(1, 13)]
    first = entries_post_many(book=fund_book, entries=specs, **signed)
    assert [e.voucher for e in first] == [f"记-2015-{m:02d}-0001" for m in range(1, 13)]
    again = entries_post_many(book=fund_book, entries=specs, **signed)
    assert [e.pk for e in again] == [e.pk for e in first]
    assert JournalEntry.objects.count() == 12 and Posting.objects.count() == 24


def test_reversal_swaps_sides_links_the_original_and_nets_to_zero(fund_book, posted_premium, maker, reviewer):
    # 红字冲销: 张三 prepares the reversal, 李四 (not 张三) posts it.
    draft = entry_reverse(entry=posted_premium, made_by=maker)
    assert (draft.status, draft.reverses_id, draft.made_by) == ("draft", posted_premium.pk, maker)
    assert entry_reverse(entry=posted_premium, made_by=maker).pk == draft.pk  # preparing twice: the same draft
    assert _refused(entry_draft_post, entry=draft, reviewed_by=maker)[0]["found"] == "the same person"
    rev = entry_draft_post(entry=draft, reviewed_by=reviewer)
    assert rev.reverses_id == posted_premium.pk and rev.voucher == "记-2015-04-0002"
    assert rev.memo.startswith("冲销 记-2015-04-0001")
    lines = {(p.account.code, p.debit.amount, p.credit.amount) for p in rev.postings.select_related("account")}
    assert lines == {("5101", 0, 256000000), ("1004", 256000000, 0)}
    april = Period.objects.get(book=fund_book, year=2015, month=4)
    for b in AccountBalance.objects.filter(period=april):
        assert b.debit == b.credit == Money("256000000.00", "CNY")
    assert entry_reverse(entry=posted_premium, made_by=maker).pk == rev.pk  # reversing twice: the first reversal
    problems = _refused(entry_reverse, entry=rev, made_by=maker)
    assert problems[0]["found"] == "a reversal: post a new entry instead"


def test_reversal_of_an_entry_in_a_closed_period_needs_an_open_date(fund_book, posted_premium, maker):
    period_close(period=posted_premium.period)
    problems = _refused(entry_reverse, entry=posted_premium, made_by=maker)
    assert problems[0]["field"] == "date"
    rev = entry_reverse(entry=posted_premium, date=date(2015, 5, 4), made_by=maker)
    assert rev.date == date(2015, 5, 4) and rev.period.month == 5


def test_nobody_posts_alone_or_namelessly(fund_book, maker, reviewer, django_user_model):
    # The ledger itself refuses an entry without two different named people who keep this book.
    lines, day = premium_lines("100.00"), date(2015, 5, 6)
    problems = _refused(entry_post, book=fund_book, date=day, memo="一人记账", lines=lines, made_by=maker,
                        reviewed_by=maker)
    assert ("reviewed_by", "the same person") in {(p["field"], p["found"]) for p in problems}
    problems = _refused(entry_post, book=fund_book, date=day, memo="无人审核", lines=lines, made_by=maker)
    assert ("reviewed_by", "nobody") in {(p["field"], p["found"]) for p in problems}
    nameless = django_user_model.objects.create_user("nameless")
    problems = _refused(entry_post, book=fund_book, date=day, memo="无名", lines=lines, made_by=maker,
                        reviewed_by=nameless)
    assert {"field": "reviewed_by", "expected": "a reviewer (审核): a user with a name on record",
            "found": "nameless (no name)"}.items() <= problems[0].items()
    from tests.conftest import person

    outsider = person("jx-reviewer", "钱七", "reviewer", regions=[])
    problems = _refused(entry_post, book=fund_book, date=day, memo="外地审核", lines=lines, made_by=maker,
                        reviewed_by=outsider)
    assert problems[-1]["expected"] == "someone who keeps book FUND-37 (in their scope)"


def test_a_draft_is_changed_and_withdrawn_only_by_its_maker(fund_book, maker, reviewer):
    from audit.models import AuditEvent
    from ledger.services import entry_draft_delete

    draft = entry_draft_save(book=fund_book, date=date(2015, 12, 18), memo="尾款", lines=premium_lines("10.00"),
                             made_by=maker)
    problems = _refused(entry_draft_save, book=fund_book, date=date(2015, 12, 18), memo="尾款（审核人改）",
                        lines=premium_lines("99.00"), made_by=reviewer, entry=draft)
    assert problems[0]["expected"] == "the draft's own maker (制单)"
    assert _refused(entry_draft_delete, entry=draft, by=reviewer)[0]["expected"] == \
        "the draft's maker (制单) or an administrator"
    entry_draft_delete(entry=draft, by=maker)
    assert not JournalEntry.objects.filter(pk=draft.pk).exists()
    event = AuditEvent.objects.get(action="deleted")
    assert (event.actor, event.object_id, event.detail["lines"]) == (
        "zhangsan", str(draft.pk), [["5101", "10.00", "0.00"], ["1004", "0.00", "10.00"]])


def test_draft_is_posted_by_a_reviewer_who_is_not_its_maker(fund_book, maker, reviewer):
    draft = entry_draft_save(book=fund_book, date=date(2015, 12, 18), memo="拨付尾款20%",
                             lines=premium_lines("64000000.00"), made_by=maker)
    assert draft.status == "draft" and draft.number is None
    problems = _refused(entry_draft_post, entry=draft, reviewed_by=maker)
    assert problems[0]["expected"] == "a reviewer other than the maker (制单)"
    posted = entry_draft_post(entry=draft, reviewed_by=reviewer)
    assert posted.pk == draft.pk and posted.voucher == "记-2015-12-0001"
    assert (posted.made_by, posted.reviewed_by) == (maker, reviewer)
    problems = _refused(entry_draft_post, entry=posted, reviewed_by=reviewer)
    assert problems[0]["found"] == "already posted"


def test_an_unbalanced_draft_stays_a_draft(fund_book, maker, reviewer):
    draft = entry_draft_save(book=fund_book, date=date(2015, 12, 18), memo="尾款（录错）",
                             lines=[Line("5101", debit="64000000.00"), Line("1004", credit="6400000.00")],
                             made_by=maker)
    problems = _refused(entry_draft_post, entry=draft, reviewed_by=reviewer)
    assert problems == [{"entry": f"draft #{draft.pk}", "field": "balance", "expected": "Σdebit = Σcredit > 0",
                         "found": "Σdebit 64000000.00, Σcredit 6400000.00"}]
    draft.refresh_from_db()
    assert draft.status == "draft"
    fixed = entry_draft_save(book=fund_book, date=date(2015, 12, 18), memo="尾款", lines=premium_lines("64000000.00"),
                             made_by=maker, entry=draft)
    assert entry_draft_post(entry=fixed, reviewed_by=reviewer).is_posted


def test_closing_a_period_with_drafts_in_it_is_refused(fund_book, maker):
    draft = entry_draft_save(book=fund_book, date=date(2015, 3, 3), memo="未审核", lines=premium_lines("1.00"),
                             made_by=maker)
    march = Period.objects.get(book=fund_book, year=2015, month=3)
    with pytest.raises(Refused) as info:
        period_close(period=march)
    assert f"draft #{draft.pk}" in info.value.problems[0]["found"]
    march.refresh_from_db()
    assert march.status == "open"


def test_a_closed_year_is_final(fund_book, posted_premium, signed):
    periods = year_close(book=fund_book, year=2015)
    assert {p.status for p in periods} == {"final"}
    with pytest.raises(Refused):
        period_reopen(period=periods[0])
    _refused(entry_post, book=fund_book, date=date(2015, 12, 31), memo="年后补记", lines=premium_lines("1.00"), **signed)
    assert year_close(book=fund_book, year=2015) == periods  # closing again changes nothing


def test_opening_a_year_twice_changes_nothing(fund_book):
    assert len(fiscal_year_open(book=fund_book, year=2015)) == 12
    assert Period.objects.filter(book=fund_book).count() == 12
