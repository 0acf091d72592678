"""An accountant prepares a voucher in the admin, a reviewer posts it, and posted vouchers only reverse.

Through Django's test client with real logins on the real database: the pages in
Chinese, the service's refusals shown as Chinese messages, nothing written when refused.
"""

import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.test import Client

from accounts.services import account_create
from audit.models import AuditEvent
from ledger.admin_views import describe
from ledger.models import Attachment, JournalEntry, Opening, Period
from ledger.services import Line, entry_draft_save
from tests.conftest import premium_lines

ADD = "/admin/ledger/journalentry/add/"


def _client(user, password: str) -> Client:
    user.set_password(password)
    user.save()
    client = Client()
    assert client.login(request=HttpRequest(), username=user.username, password=password)  # django-axes needs it
    return client


@pytest.fixture
def zhangsan(maker):
    """张三, the fund's accountant (制单): prepares vouchers."""
    return _client(maker, "制单-test-pass-1")


@pytest.fixture
def lisi(reviewer):
    """李四, the fund's reviewer (审核): reviews and posts, closes periods."""
    return _client(reviewer, "审核-test-pass-1")


@pytest.fixture
def administrator(django_user_model):
    return _client(django_user_model.objects.create_superuser("admin"), "管理员-test-pass-1")


def _voucher_form(book, lines, memo="拨付2015年大病保险资金首期（80%）", day="2015-04-28", prefix="postings",
                  existing=()):
    """The add/change form as the browser posts it; `existing` are the posting ids already shown."""
    data = {"book": book.pk, "date": day, "memo": memo,
            f"{prefix}-TOTAL_FORMS": str(len(lines)), f"{prefix}-INITIAL_FORMS": str(len(existing)),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for i, (code, dr, cr) in enumerate(lines):
        data.update({f"{prefix}-{i}-account": book.accounts.get(code=code).pk, f"{prefix}-{i}-debit": dr,
                     f"{prefix}-{i}-credit": cr, f"{prefix}-{i}-memo": "", f"{prefix}-{i}-counterparty": ""})
        if i < len(existing):
            data[f"{prefix}-{i}-id"] = existing[i]
    return data


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _lines(entry):
    return [(p.account.code, p.debit.amount, p.credit.amount) for p in entry.postings.order_by("line")]


def _draft(client, book, lines, **kwargs) -> JournalEntry:
    response = client.post(f"{ADD}?book={book.pk}", _voucher_form(book, lines, **kwargs))
    assert response.status_code == 302, response.content.decode()[:3000]
    return JournalEntry.objects.order_by("-pk").first()


def test_the_admin_speaks_chinese_by_default_and_english_on_request(zhangsan, fund_book):
    page = zhangsan.get("/admin/").content.decode()
    assert "记账凭证" in page and "账套" in page and "会计期间" in page and "统筹地区" in page
    page = zhangsan.get(f"{ADD}?book={fund_book.pk}").content.decode()
    assert "借方" in page and "贷方" in page and "借方合计" in page and "差额" in page and "借贷平衡" in page
    assert "FUND-37 山东省大病保险资金账" in page  # the book the voucher is for
    page = zhangsan.get(f"{ADD}?book={fund_book.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Σ debit" in page and "journal entry" in page.lower()


def test_a_new_voucher_starts_by_choosing_its_book(zhangsan, fund_book, insurer_book):
    # Only the books the accountant keeps are offered: the fund's, never its insurer's.
    page = zhangsan.get(ADD).content.decode()
    assert f'href="?book={fund_book.pk}"' in page and f'href="?book={insurer_book.pk}"' not in page


def test_the_lines_offer_only_the_books_leaf_accounts(zhangsan, fund_book, insurer_book):
    account_create(book=fund_book, parent_code="1003", code="100301", name="财政专户—工商银行")
    page = zhangsan.get(f"{ADD}?book={fund_book.pk}").content.decode()
    offered = set(map(int, re.findall(r'<option value="(\d+)"', page)))
    leaves = set(fund_book.accounts.filter(children__isnull=True).values_list("pk", flat=True))
    assert offered == leaves
    assert fund_book.accounts.get(code="1003").pk not in offered  # it has a sub-account now
    assert not offered & set(insurer_book.accounts.values_list("pk", flat=True))
    assert 'id="add_id_postings-0-account"' not in page  # no "add account" from inside a voucher

    # An account of another book, posted by hand, is refused and nothing is written.
    data = _voucher_form(fund_book, [("5101", "10.00", ""), ("1004", "", "10.00")])
    data["postings-0-account"] = insurer_book.accounts.filter(children__isnull=True).first().pk
    response = zhangsan.post(f"{ADD}?book={fund_book.pk}", data)
    assert response.status_code == 200 and not JournalEntry.objects.exists()


def test_a_voucher_is_prepared_then_posted_by_a_reviewer(zhangsan, lisi, fund_book):
    draft = _draft(zhangsan, fund_book, [("5101", "256,000,000.00", ""), ("1004", "", "256000000.00")])
    assert (draft.status, draft.made_by.username, draft.number) == ("draft", "zhangsan", None)
    assert _lines(draft) == [("5101", 256000000, 0), ("1004", 0, 256000000)]

    # The maker has no right to review (403, recorded); a reviewer's own draft is refused in Chinese.
    assert zhangsan.post(f"/admin/ledger/journalentry/{draft.pk}/post/").status_code == 403
    draft.refresh_from_db()
    assert (draft.status, draft.reviewed_by) == ("draft", None)

    response = lisi.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("记-2015-04-0001" in m for m in _messages(response))
    draft.refresh_from_db()
    assert (draft.status, draft.reviewed_by.username, draft.voucher) == ("posted", "lisi", "记-2015-04-0001")

    page = lisi.get("/admin/ledger/journalentry/").content.decode()
    assert "记-2015-04-0001" in page and "256,000,000.00" in page and "已记账" in page


def test_the_maker_edits_a_draft_through_the_service(zhangsan, fund_book):
    draft = _draft(zhangsan, fund_book, [("5101", "100.00", ""), ("1004", "", "99.00")], memo="录错的凭证")
    ids = list(draft.postings.order_by("line").values_list("pk", flat=True))
    url = f"/admin/ledger/journalentry/{draft.pk}/change/"
    response = zhangsan.post(url, _voucher_form(fund_book, [("5101", "100.00", ""), ("1004", "", "100.00")],
                                                memo="改正后的凭证", existing=ids))
    assert response.status_code == 302, response.content.decode()[:3000]
    draft.refresh_from_db()
    assert (draft.memo, draft.status, draft.made_by.username) == ("改正后的凭证", "draft", "zhangsan")
    assert _lines(draft) == [("5101", 100, 0), ("1004", 0, 100)]


def test_a_reviewer_reads_someone_elses_draft_but_does_not_change_it(zhangsan, lisi, fund_book):
    draft = _draft(zhangsan, fund_book, [("5101", "10.00", ""), ("1004", "", "10.00")])
    url = f"/admin/ledger/journalentry/{draft.pk}/change/"
    page = lisi.get(url).content.decode()
    assert 'name="_save"' not in page and "审核记账" in page and "只有制单人可以修改" in page
    response = lisi.post(url, _voucher_form(fund_book, [("5101", "99.00", ""), ("1004", "", "99.00")],
                                            existing=list(draft.postings.values_list("pk", flat=True))))
    assert response.status_code == 403
    assert _lines(JournalEntry.objects.get(pk=draft.pk)) == [("5101", 10, 0), ("1004", 0, 10)]


def test_an_unbalanced_voucher_is_saved_as_a_draft_but_never_posted(zhangsan, lisi, fund_book):
    draft = _draft(zhangsan, fund_book, [("5101", "100.00", ""), ("1004", "", "99.00")], memo="录错的凭证")
    assert draft.status == "draft"
    response = lisi.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("借方合计 = 贷方合计 > 0" in m and "借方合计 100.00，贷方合计 99.00" in m for m in _messages(response))
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.number is None


def test_drafts_are_posted_from_the_list(zhangsan, lisi, fund_book):
    good = _draft(zhangsan, fund_book, [("5101", "10.00", ""), ("1004", "", "10.00")], memo="平衡的凭证")
    bad = _draft(zhangsan, fund_book, [("5101", "10.00", ""), ("1004", "", "9.00")], memo="不平衡的凭证")
    response = lisi.post("/admin/ledger/journalentry/", {"action": "post_drafts",
                                                         "_selected_action": [good.pk, bad.pk]}, follow=True)
    shown = _messages(response)
    assert any("记-2015-04-0001" in m for m in shown) and any("借方合计 10.00，贷方合计 9.00" in m for m in shown)
    assert JournalEntry.objects.get(pk=good.pk).status == "posted"
    assert JournalEntry.objects.get(pk=bad.pk).status == "draft"


def test_a_line_with_both_sides_is_refused_and_nothing_is_written(zhangsan, fund_book):
    response = zhangsan.post(f"{ADD}?book={fund_book.pk}",
                             _voucher_form(fund_book, [("5101", "100.00", "100.00"), ("1004", "", "100.00")]))
    assert response.status_code == 200
    assert "每行分录只能填借方或贷方一方" in response.content.decode()
    assert not JournalEntry.objects.exists()


def test_posting_into_a_closed_period_is_refused(zhangsan, lisi, fund_book):
    draft = _draft(zhangsan, fund_book, [("5101", "10.00", ""), ("1004", "", "10.00")])
    april = Period.objects.get(book=fund_book, year=2015, month=4)
    response = lisi.post("/admin/ledger/period/", {"action": "close_periods", "_selected_action": [april.pk]},
                         follow=True)
    assert any("未能结账" in m for m in _messages(response))
    assert any("其中没有草稿凭证" in m and f"草稿 #{draft.pk}" in m for m in _messages(response))
    april.refresh_from_db()
    assert april.status == "open"  # the draft inside keeps the period open

    Period.objects.filter(pk=april.pk).update(status="closed")  # as if closed before the draft was dated in it
    response = lisi.post(f"/admin/ledger/journalentry/{draft.pk}/post/", follow=True)
    assert any("未结账会计期间内的日期" in m and "已结账" in m for m in _messages(response))
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_posted_voucher_is_read_only_and_can_be_reversed(zhangsan, lisi, fund_book, posted_premium):
    url = f"/admin/ledger/journalentry/{posted_premium.pk}/change/"
    page = zhangsan.get(url).content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page and 'name="postings-0-debit"' not in page
    assert "冲销" in page and "记-2015-04-0001" in page
    before = JournalEntry.objects.get(pk=posted_premium.pk)
    response = zhangsan.post(url, _voucher_form(fund_book, [("5101", "1.00", ""), ("1004", "", "1.00")],
                                                memo="改摘要", day="2015-04-29"))
    assert response.status_code == 403
    assert zhangsan.post(f"/admin/ledger/journalentry/{posted_premium.pk}/delete/", {"post": "yes"}).status_code == 403
    after = JournalEntry.objects.get(pk=posted_premium.pk)
    assert (after.memo, after.date, after.hash) == (before.memo, before.date, before.hash)
    assert _lines(after) == [("5101", 256000000, 0), ("1004", 0, 256000000)]

    # 张三 prepares the reversal (红字冲销) as a draft; it counts only once 李四 posts it.
    response = zhangsan.post(f"/admin/ledger/journalentry/{posted_premium.pk}/reverse/", follow=True)
    reversal = JournalEntry.objects.get(reverses=posted_premium)
    assert (reversal.status, reversal.made_by.username, reversal.number) == ("draft", "zhangsan", None)
    assert _lines(reversal) == [("5101", 0, 256000000), ("1004", 256000000, 0)]
    assert any("冲销凭证已作为草稿" in m for m in _messages(response))
    assert response.redirect_chain[-1][0].endswith(f"/{reversal.pk}/change/")
    # 张三 cannot post it (no 审核 right); nor edit it into something else: it is the voucher's reversal.
    assert zhangsan.post(f"/admin/ledger/journalentry/{reversal.pk}/post/").status_code == 403
    response = lisi.post(f"/admin/ledger/journalentry/{reversal.pk}/post/", follow=True)
    reversal.refresh_from_db()
    assert (reversal.voucher, reversal.status, reversal.reviewed_by.username) == ("记-2015-04-0002", "posted", "lisi")

    # A reversal is not reversed in turn: refused, in Chinese, and nothing is drafted.
    response = zhangsan.post(f"/admin/ledger/journalentry/{reversal.pk}/reverse/", follow=True)
    assert any("本身不是冲销凭证的凭证" in m for m in _messages(response))
    assert JournalEntry.objects.count() == 2


def test_the_trial_balance_page(zhangsan, fund_book, posted_premium):
    page = zhangsan.get(f"/admin/accounts/book/{fund_book.pk}/trial-balance/?year=2015&from=1&to=12").content.decode()
    assert "科目余额表" in page and "期初余额" in page and "本期发生额" in page and "期末余额" in page
    # A leaf account's period figures are links to its 明细账 (drill-down): read the figure inside.
    cells = re.findall(r'<td class="num">(?:<a [^>]*>)?([^<]*)(?:</a>)?</td>', page)
    # The book opened (建账) with 400,000,000.00 in 1004 against 3001: that is 期初, not a movement.
    # 5101 debit for the period and at its close, 1004 credit for the period, the period totals both sides.
    assert cells.count("256,000,000.00") == 5
    assert cells.count("144,000,000.00") == 1  # 1004 at the close: 400,000,000.00 − 256,000,000.00
    totals = re.search(r"<tfoot>(.*?)</tfoot>", page, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', totals) == (
        ["400,000,000.00"] * 2 + ["256,000,000.00"] * 2 + ["400,000,000.00"] * 2)
    assert 'class="tb-balanced"' in page and 'class="tb-unbalanced"' not in page and "借贷平衡" in page

    page = zhangsan.get(f"/admin/accounts/book/{fund_book.pk}/trial-balance/?year=2015&from=5&to=2")
    assert page.status_code == 200 and any("1 ≤" in m for m in _messages(page))


def test_a_sub_account_is_added_through_the_service(administrator, fund_book, posted_premium):
    parent = fund_book.accounts.get(code="1003")
    response = administrator.post("/admin/accounts/account/add/", {"book": fund_book.pk, "parent": parent.pk,
                                                              "code": "100301", "name": "财政专户—工商银行"})
    assert response.status_code == 302
    sub = fund_book.accounts.get(code="100301")
    assert (sub.type, sub.normal_side, sub.parent) == ("asset", "debit", parent)
    used = fund_book.accounts.get(code="5101")  # it has postings: no sub-accounts
    response = administrator.post("/admin/accounts/account/add/", {"book": fund_book.pk, "parent": used.pk,
                                                              "code": "510101", "name": "人保"})
    assert response.status_code == 200 and "5101 已有分录" in response.content.decode()


def test_closing_and_reopening_a_period_from_the_admin(lisi, fund_book):
    march = Period.objects.get(book=fund_book, year=2015, month=3)
    lisi.post("/admin/ledger/period/", {"action": "close_periods", "_selected_action": [march.pk]})
    march.refresh_from_db()
    assert march.status == "closed" and march.closed_by.username == "lisi"
    assert date(2015, 3, 1) == march.start_date
    lisi.post("/admin/ledger/period/", {"action": "reopen_periods", "_selected_action": [march.pk]})
    march.refresh_from_db()
    assert march.status == "open" and march.closed_by is None


def test_a_year_closed_for_good_is_not_reopened(lisi, fund_book):
    # Nothing moved in 2015, so there is no closing entry to prepare: the reviewer closes the year.
    lisi.post("/admin/ledger/period/", {"action": "close_years", "_selected_action": [fund_book.periods.first().pk]})
    december = Period.objects.get(book=fund_book, year=2015, month=12)
    assert december.status == "final"
    response = lisi.post("/admin/ledger/period/", {"action": "reopen_periods",
                                                   "_selected_action": [december.pk]}, follow=True)
    assert any("未能反结账" in m for m in _messages(response))
    assert any("未随年度结账的会计期间" in m for m in _messages(response))
    december.refresh_from_db()
    assert december.status == "final"


def test_the_year_end_close_is_prepared_by_one_and_approved_by_another(zhangsan, lisi, fund_book, posted_premium):
    january = fund_book.periods.get(year=2015, month=1)
    response = lisi.post("/admin/ledger/period/", {"action": "close_years", "_selected_action": [january.pk]},
                         follow=True)
    assert any("未能" in m for m in _messages(response))  # nobody prepared the closing entry yet
    assert zhangsan.post("/admin/ledger/period/", {"action": "close_years",
                                                   "_selected_action": [january.pk]}).status_code == 403
    zhangsan.post("/admin/ledger/period/", {"action": "prepare_year_ends", "_selected_action": [january.pk]})
    closing = JournalEntry.objects.get(book=fund_book, idempotency_key="year-end:2015")
    assert (closing.status, closing.made_by.username) == ("draft", "zhangsan")
    lisi.post("/admin/ledger/period/", {"action": "close_years", "_selected_action": [january.pk]})
    closing.refresh_from_db()
    assert (closing.status, closing.reviewed_by.username) == ("posted", "lisi")
    assert _lines(closing) == [("3001", 256000000, 0), ("5101", 0, 256000000)]  # 借 before 贷
    assert set(fund_book.periods.filter(year=2015).values_list("status", flat=True)) == {"final"}


def test_a_refusal_is_told_in_the_users_language_and_kept_in_english(fund_book):
    """Each part of a problem is translated where it is raised; the dict keeps English and a stable code."""
    from django.utils import translation
    from django.utils.translation import gettext_lazy as _

    from core.errors import lazy_format, problem

    p = problem(lazy_format(_("draft #%(id)s"), id=7), lazy_format(_("line %(n)s account"), n=2),
                lazy_format(_("a leaf account of book %(code)s"), code="FUND-37"), "1003")
    assert (p["entry"], p["field"], p["expected"], p["found"], p.code) == (
        "draft #7", "line 2 account", "a leaf account of book FUND-37", "1003", "a leaf account of book %(code)s")
    with translation.override("zh-hans"):
        assert describe(p) == "草稿 #7：第 2 行分录的科目 —— 应为账套 FUND-37 的末级科目，实为1003"
    with translation.override("en"):
        assert describe(p) == "draft #7: line 2 account — expected a leaf account of book FUND-37, found 1003"

def test_drafts_saved_by_services_show_their_lines(zhangsan, fund_book):
    from tests.conftest import person

    zhouba = person("zhouba", "周八", "fund_accountant", regions=["37"])
    draft = entry_draft_save(book=fund_book, date=date(2015, 4, 1), memo="服务生成的草稿", made_by=zhouba,
                             lines=[Line("5101", debit="1.00"), Line("1004", credit="1.00")])
    page = zhangsan.get(f"/admin/ledger/journalentry/{draft.pk}/change/").content.decode()
    assert "服务生成的草稿" in page and "5101 大病保险支出" in page


def test_a_draft_dated_outside_the_open_periods_is_refused_on_the_form(zhangsan, fund_book):
    response = zhangsan.post(f"{ADD}?book={fund_book.pk}", _voucher_form(
        fund_book, [("5101", "10.00", ""), ("1004", "", "10.00")], day="2016-01-05", memo="年度未开启"))
    page = response.content.decode()
    assert response.status_code == 200 and "草稿凭证「年度未开启」" in page and "未结账会计期间内的日期" in page
    assert not JournalEntry.objects.exists()


def test_an_unbalanced_draft_is_saved_with_a_warning_showing_both_totals(zhangsan, fund_book):
    response = zhangsan.post(f"{ADD}?book={fund_book.pk}", _voucher_form(
        fund_book, [("5101", "1,000,000.00", ""), ("1004", "", "100,000.00")], memo="借贷不平"), follow=True)
    shown = _messages(response)
    assert any("借方合计 1,000,000.00" in m and "贷方合计 100,000.00" in m and "差额 900,000.00" in m for m in shown), shown
    assert JournalEntry.objects.get(memo="借贷不平").status == "draft"


def test_the_voucher_lists_amount_is_right_under_a_search(zhangsan, lisi, fund_book, signed):
    # A premium of 44,200,093.50 whose two lines both mention 保费: searching for it must not double it.
    from ledger.services import entry_post

    entry_post(book=fund_book, date=date(2015, 4, 26), memo="拨付保费首期", made_by=signed["made_by"],
               reviewed_by=signed["reviewed_by"],
               lines=[Line("5101", debit="44200093.50", memo="保费首期"), Line("1004", credit="44200093.50",
                                                                            memo="保费首期")])
    for url in ("/admin/ledger/journalentry/?q=保费", "/admin/ledger/journalentry/?q=5101",
                "/admin/ledger/journalentry/"):
        page = lisi.get(url).content.decode()
        assert "44,200,093.50" in page and "88,400,187.00" not in page, url


# -- 建账 and attachments: 张三 enters the opening balances, 李四 approves; 张三 attaches a bank receipt --


def test_opening_balances_are_typed_with_separators_and_approved_by_another(zhangsan, lisi, unopened_fund_book):
    url = f"/admin/accounts/book/{unopened_fund_book.pk}/opening/"
    page = zhangsan.get(url).content.decode()
    assert "1004 支出户存款" in page and "5101" not in page  # income and expenditure open at zero
    response = zhangsan.post(url, {"action": "save", "as_of": "2015-01-01", "dr-1004": "400,000,000.00",
                                   "cr-3001": "399,999,999.00"}, follow=True)
    assert not Opening.objects.exists()
    assert any("400,000,000.00" in m and "399,999,999.00" in m for m in _messages(response))
    zhangsan.post(url, {"action": "save", "as_of": "2015-01-01", "dr-1004": "400,000,000.00",
                        "cr-3001": "400,000,000.00"})
    opening = Opening.objects.get(book=unopened_fund_book)
    assert (opening.status, opening.lines.count()) == ("draft", 2)
    assert zhangsan.post(url, {"action": "approve"}).status_code == 403  # a preparer never approves
    lisi.post(url, {"action": "approve"})
    opening.refresh_from_db()
    assert (opening.status, opening.approved_by.username) == ("approved", "lisi")
    assert "400,000,000.00" in lisi.get(url).content.decode()


def test_a_scan_is_attached_to_a_draft_and_downloaded(zhangsan, lisi, fund_book, maker):
    draft = entry_draft_save(book=fund_book, date=date(2015, 4, 28), memo="拨付保费",
                             lines=premium_lines("256000000.00"), made_by=maker)
    url = f"/admin/ledger/journalentry/{draft.pk}/attachments/"
    receipt = b"%PDF-1.4\n% receipt\n%%EOF\n"
    zhangsan.post(url, {"file": SimpleUploadedFile("银行回单.pdf", receipt, content_type="application/pdf")})
    response = zhangsan.post(url, {"file": SimpleUploadedFile("x.exe", b"MZ\x90", content_type="application/pdf")},
                             follow=True)
    assert any("PDF" in m for m in _messages(response))
    attachment = Attachment.objects.get(entry=draft)
    # The reviewer has no right to change vouchers: refused (and recorded), nothing attached.
    assert lisi.post(url, {"file": SimpleUploadedFile("y.pdf", receipt + b" ")}).status_code == 403
    assert Attachment.objects.filter(entry=draft).count() == 1
    download = lisi.get(f"/admin/ledger/journalentry/{draft.pk}/attachments/{attachment.pk}/")
    assert download.content == receipt and download["Content-Type"] == "application/pdf"
    assert AuditEvent.objects.filter(action="attachment_downloaded", actor="lisi").count() == 1
    assert "银行回单.pdf" in zhangsan.get(f"/admin/ledger/journalentry/{draft.pk}/change/").content.decode()
