"""Drill-down in a real browser: a 科目余额表 figure → the account's 明细账 for the same months → the voucher →
its attachment and the settlement it belongs to. The insurer's reviewer, in the insurer's own book; nothing
links into the fund's book. PostgreSQL only (live server)."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection

from access.demo import demo_people_of
from core.money import fmt
from ledger.attachments import attachment_add
from ledger.models import JournalEntry
from reconciliation.services import (
    settlement_draft,
    settlement_insurer_approve,
    settlement_insurer_prepare,
    settlement_post,
    settlement_review,
)
from tests.reconciliation.test_settle import (  # noqa: F401 - fixtures
    _a_years_claims_in_one_line,
    _claims,
    jincheng,
    people,
)

from .browser import shot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="live server and browser share PostgreSQL"),
]
PASSWORD = "Ledger-明细-2026!x"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_from_a_trial_balance_figure_to_the_voucher_and_its_settlement(jincheng, people, new_page):  # noqa: F811
    preparer, reviewer = people
    accountant, checker = demo_people_of(jincheng.contract)["insurer"]
    s = settlement_draft(contract_year=jincheng, as_of=date(2020, 5, 20), user=preparer)
    s = settlement_post(settlement=settlement_review(settlement=s, user=reviewer), on=date(2020, 6, 20), user=reviewer)
    drafts = settlement_insurer_prepare(settlement=s, user=accountant)
    owed = next(e for e in drafts if e.idempotency_key.endswith(":surplus-owed"))
    attachment_add(entry=owed, name="结算审核确认书.pdf", content=PDF, by=accountant)
    settlement_insurer_approve(settlement=s, user=checker)
    owed.refresh_from_db()
    checker.set_password(PASSWORD)
    checker.save()
    book = jincheng.contract.insurer.books.get()

    page = new_page()
    sign_in(page, checker.username, PASSWORD)
    page.goto(page.base + f"/admin/accounts/book/{book.pk}/trial-balance/?year=2020&from=6&to=6")
    figure = page.locator("a.tb-drill[data-account='224101'][data-side='credit']")
    clicked = figure.inner_text()
    assert clicked == "17,055,362.94"
    shot(page, "drill-trial-balance")
    with page.expect_navigation():
        figure.click()
    assert "account=224101" in page.url and "from=6" in page.url
    # The 明细账's period total is the figure clicked; each line opens its voucher.
    assert page.inner_text("#period-credit-224101") == clicked
    assert page.inner_text("#period-debit-224101") == "17,055,362.94"
    shot(page, "drill-account-ledger")
    with page.expect_navigation():
        page.click(f"a.voucher-link:has-text('{owed.voucher}')")
    assert f"/admin/ledger/journalentry/{owed.pk}/change/" in page.url
    assert "结算审核确认书.pdf" in page.inner_text(".ledger-attachments")
    with page.expect_download() as download:
        page.click("a:has-text('结算审核确认书.pdf')")
    assert open(download.value.path(), "rb").read() == PDF
    link = page.locator("#ledger-source-link")
    assert "/admin/reconciliation/settlement/" in link.get_attribute("href")
    shot(page, "drill-voucher")
    with page.expect_navigation():
        link.click()
    assert f"/admin/reconciliation/settlement/{s.pk}/change/" in page.url
    assert "17,055,362.94" in page.inner_text("#settlement-steps")
    # The insurer's reviewer sees the insurer's vouchers of the settlement, never a link into the fund's book.
    fund_voucher = JournalEntry.objects.get(book__fund=jincheng.contract.fund,
                                            idempotency_key=f"settlement:{jincheng.pk}:surplus-received")
    entries = page.inner_text("#settlement-entries")
    assert f"{book.code}\t{owed.voucher}" in entries and fund_voucher.book.code not in entries
    assert page.locator(f"a[href$='/journalentry/{fund_voucher.pk}/change/']").count() == 0
    # A forged address into the fund's book is refused, as before.
    assert page.request.get(page.base + f"/admin/ledger/journalentry/{fund_voucher.pk}/change/").status == 403
    fund_book = fund_voucher.book
    assert page.request.get(page.base + f"/admin/accounts/book/{fund_book.pk}/ledger/?account=1003").status == 403
    assert fmt(D("17055362.94")) == clicked
