"""An accountant prepares a voucher in the admin, a reviewer posts it, and posted vouchers only reverse.

Through Django's test client with real logins on the real database: the pages in
Chinese, the service's refusals shown as messages, nothing written when refused.
"""

import re
from datetime import date

import pytest

from core.errors import Refused
from ledger.models import JournalEntry, Period
from ledger.services import period_close


@pytest.fixture
def zhangsan(client, django_user_model):
    """制单: prepares vouchers."""
    user = django_user_model.objects.create_superuser("zhangsan", password="制单-test-pass-1")
    client.force_login(user)
    return client


@pytest.fixture
def lisi(django_user_model):
    """审核: reviews and posts."""
    from django.test import Client

    c = Client()
    c.force_login(django_user_model.objects.create_superuser("lisi", password="审核-test-pass-1"))
    return c


def _voucher_form(book, lines, memo="拨付2015年大病保险资金首期（80%）", day="2015-04-28", prefix="postings"):
    data = {"book": book.pk, "date": day, "memo": memo,
            f"{prefix}-TOTAL_FORMS": str(len(lines)), f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for i, (code, dr, cr) in enumerate(lines):
        data.update({f"{prefix}-{i}-account": book.accounts.get(code=code).pk, f"{prefix}-{i}-debit": dr,
                     f"{prefix}-{i}-credit": cr, f"{prefix}-{i}-memo": "", f"{prefix}-{i}-counterparty": ""})
    return data


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_admin_speaks_chinese(zhangsan, fund_book):
    page = zhangsan.get("/admin/").content.decode()
    assert "记账凭证" in page and "账套" in page and "会计期间" in page
    page = zhangsan.get(f"/admin/ledger/journalentry/add/?book={fund_book.pk}").content.decode()
    assert "借方" in page and "贷方" in page and "借方合计" in page and "差额" in page


def test_a_voucher_is_prepared_then_posted_by_a_reviewer(zhangsan, lisi, fund_book):
    response = zhangsan.post(f"/admin/ledger/journalentry/add/?book={fund_book.pk}",
                             _voucher_form(fund_book, [("5101", "256000000.00", ""), ("1004", "", "256000000.00")]))
    assert response.status_code == 302, response.content.decode()[:3000]
    draft = JournalEntry.objects.get()
    assert (draft.status, draft.made_by.username, draft.number) == ("draft", "zhangsan", None)
    assert [(p.account.code, p.debit.amount, p.credit.amount) for p in draft.postings.order_by("line")] == [
        ("5101", 256000000, 0), ("1004", 0, 256000000)]

    # The maker cannot review their own voucher.
    response = zhangsan.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("a reviewer other than the maker" in m for m in _messages(response))
    draft.refresh_from_db()
    assert draft.status == "draft"

    response = lisi.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("记-2015-000001" in m for m in _messages(response))
    draft.refresh_from_db()
    assert (draft.status, draft.reviewed_by.username, draft.voucher) == ("posted", "lisi", "记-2015-000001")


def test_an_unbalanced_voucher_is_saved_as_a_draft_but_never_posted(zhangsan, lisi, fund_book):
    zhangsan.post(f"/admin/ledger/journalentry/add/?book={fund_book.pk}",
                  _voucher_form(fund_book, [("5101", "100.00", ""), ("1004", "", "99.00")], memo="录错的凭证"))
    draft = JournalEntry.objects.get()
    response = lisi.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("Σdebit = Σcredit > 0" in m and "Σdebit 100.00, Σcredit 99.00" in m for m in _messages(response))
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.number is None


def test_a_line_with_both_sides_is_refused_and_nothing_is_written(zhangsan, fund_book):
    response = zhangsan.post(f"/admin/ledger/journalentry/add/?book={fund_book.pk}",
                             _voucher_form(fund_book, [("5101", "100.00", "100.00"), ("1004", "", "100.00")]))
    assert response.status_code == 200
    assert "not both" in response.content.decode()
    assert not JournalEntry.objects.exists()


def test_posting_into_a_closed_period_is_refused(zhangsan, lisi, fund_book):
    zhangsan.post(f"/admin/ledger/journalentry/add/?book={fund_book.pk}",
                  _voucher_form(fund_book, [("5101", "10.00", ""), ("1004", "", "10.00")]))
    draft = JournalEntry.objects.get()
    april = Period.objects.get(book=fund_book, year=2015, month=4)
    with pytest.raises(Refused):
        period_close(period=april)  # the draft inside keeps the period open
    Period.objects.filter(pk=april.pk).update(status="closed")
    response = lisi.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("a date in an open period" in m for m in _messages(response))
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_posted_voucher_is_read_only_and_can_be_reversed(zhangsan, fund_book, posted_premium):
    url = f"/admin/ledger/journalentry/{posted_premium.pk}/change/"
    page = zhangsan.get(url).content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page
    assert "冲销" in page and "记-2015-000001" in page
    before = JournalEntry.objects.get(pk=posted_premium.pk).hash
    response = zhangsan.post(url, {"memo": "改摘要", "date": "2015-04-29"})
    assert response.status_code == 403
    assert zhangsan.post(f"/admin/ledger/journalentry/{posted_premium.pk}/delete/", {"post": "yes"}).status_code == 403
    assert JournalEntry.objects.get(pk=posted_premium.pk).hash == before

    response = zhangsan.post(f"/admin/ledger/journalentry/{posted_premium.pk}/reverse/", follow=True)
    reversal = JournalEntry.objects.get(reverses=posted_premium)
    assert reversal.voucher == "记-2015-000002"
    assert any("记-2015-000002" in m for m in _messages(response))


def test_the_trial_balance_page(zhangsan, fund_book, posted_premium):
    page = zhangsan.get(f"/admin/accounts/book/{fund_book.pk}/trial-balance/?year=2015&from=1&to=12").content.decode()
    assert "科目余额表" in page and "期初余额" in page and "本期发生额" in page
    assert "256,000,000.00" in page
    cells = re.findall(r'<td class="num">([^<]*)</td>', page)
    assert cells.count("256,000,000.00") >= 4  # 5101 debit, 1004 credit, and the totals
    assert 'class="tb-balanced"' in page and 'class="tb-unbalanced"' not in page


def test_a_sub_account_is_added_through_the_service(zhangsan, fund_book, posted_premium):
    parent = fund_book.accounts.get(code="1003")
    response = zhangsan.post("/admin/accounts/account/add/", {"book": fund_book.pk, "parent": parent.pk,
                                                              "code": "100301", "name": "财政专户—工商银行"})
    assert response.status_code == 302
    sub = fund_book.accounts.get(code="100301")
    assert (sub.type, sub.normal_side) == ("asset", "debit")
    used = fund_book.accounts.get(code="5101")  # it has postings: no sub-accounts
    response = zhangsan.post("/admin/accounts/account/add/", {"book": fund_book.pk, "parent": used.pk,
                                                              "code": "510101", "name": "人保"})
    assert response.status_code == 200 and "already has postings" in response.content.decode()


def test_closing_a_period_from_the_admin(zhangsan, fund_book):
    march = Period.objects.get(book=fund_book, year=2015, month=3)
    zhangsan.post("/admin/ledger/period/", {"action": "close_periods", "_selected_action": [march.pk]})
    march.refresh_from_db()
    assert march.status == "closed" and march.closed_by.username == "zhangsan"
    assert date(2015, 3, 1) == march.start_date
