"""The browser set-up itself: Debian's Chromium signs a superuser in through the real form, the admin
speaks Chinese, and the voucher form opens. Runs on SQLite and on PostgreSQL."""

import pytest

from .browser import shot, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
PASSWORD = "Smoke-管理员-2026!q"


def test_a_superuser_signs_in_and_opens_the_voucher_form(page, live_server, django_user_model, unopened_fund_book):
    # A book before its opening balances: SQLite flushes the test database row by row, and the guards
    # (rightly) refuse deleting approved opening balances.
    fund_book = unopened_fund_book
    django_user_model.objects.create_superuser("admin", "admin@example.cn", PASSWORD)

    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/admin/login/")  # sent to sign in first
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    shot(page, "smoke-01-login")

    sign_in(page, live_server, "admin", PASSWORD)
    assert page.url == f"{live_server.url}/admin/"
    assert page.inner_text("#site-name").strip() == "城乡居民大病保险资金核算账本"
    assert page.inner_text("#content h1").strip() == "账套、保费与结算"
    assert "记账凭证" in page.inner_text("#content")
    shot(page, "smoke-02-index")

    page.goto(f"{live_server.url}/admin/ledger/journalentry/add/")
    assert "选择新凭证所属账套" in page.inner_text("#content h1")
    shot(page, "smoke-03-voucher-choose-book")
    with page.expect_navigation():
        page.click(f"a[href='?book={fund_book.pk}']")
    assert page.locator("input[name=date]").is_visible()
    assert page.locator("select[name=postings-0-account]").is_visible()
    assert "FUND-37" in page.inner_text("#content")
    shot(page, "smoke-04-voucher-form")
