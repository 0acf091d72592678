"""The nightly verification: the books as sealed pass and are checkpointed again; a change made behind the
application's back raises an alert on the front page of administrators and auditors, and an audit event,
until one of them acknowledges it with a reason."""

from datetime import date

import pytest
from django.db import connection
from django.test import Client

from access.services import user_create
from audit.models import AuditEvent, IntegrityAlert
from ledger.services import entry_post
from ledger.verification import ledger_verify_nightly
from tests.conftest import premium_lines


@pytest.fixture
def auditor(fund_book):
    return user_create(username="sun", password="Ledger-审计-2026!x", role="auditor", regions=["37"],
                       full_name="孙审计")


def _front_page(user) -> str:
    c = Client()
    c.force_login(user)
    return c.get("/admin/").content.decode()


def test_books_as_sealed_pass_and_are_checkpointed(fund_book, signed, settings):
    entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付首期", lines=premium_lines("100.00"), **signed)
    assert ledger_verify_nightly() == {"ok": True, "books": 1, "entries": 1, "problems": 0}
    line = (settings.LEDGER_CHECKPOINT_DIR / "FUND-37.jsonl").read_text().splitlines()[-1]
    assert '"length": 1' in line and not IntegrityAlert.objects.exists()


def test_a_planted_change_raises_the_alert_until_acknowledged(fund_book, signed, auditor, maker):
    entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付首期", lines=premium_lines("100.00"), **signed)
    assert 'id="integrity-alert"' not in _front_page(auditor)
    with connection.cursor() as cursor:  # a balance row raised behind the application's back
        cursor.execute("UPDATE ledger_accountbalance SET debit_fen = debit_fen + 100 WHERE book_id = %s "
                       "AND debit_fen > 0", [fund_book.pk])
    outcome = ledger_verify_nightly()
    assert (outcome["ok"], outcome["problems"]) == (False, 1)
    alert = IntegrityAlert.objects.get()
    assert alert.problems[0]["entry"] == "balance 5101 2015-04" and alert.count == 1
    event = AuditEvent.objects.get(action="verify_failed")
    assert (event.actor, event.outcome, event.detail["books"]) == ("task verify_ledger", "refused", ["FUND-37"])
    page = _front_page(auditor)
    assert 'id="integrity-alert"' in page and "1 problem" not in page  # shown in Chinese
    assert 'id="integrity-alert"' not in _front_page(maker)  # an accountant is not the one to answer it
    c = Client()
    c.force_login(auditor)
    url = f"/admin/audit/integrityalert/{alert.pk}/acknowledge/"
    c.post(url, {"reason": "短"})  # a reason too short to say anything: refused
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    c.post(url, {"reason": "余额表5101在2015-04被人为改动，已依明细重算并报告信息科。"})
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.reason[:6]) == (auditor, "余额表510")
    assert AuditEvent.objects.filter(action="alert_acknowledged", actor="sun").count() == 1
    assert 'id="integrity-alert"' not in _front_page(auditor)
    assert Client().post(url, {"reason": "x" * 20}).status_code == 302  # signed out: sent to sign in
    assert c.post(f"/admin/audit/integrityalert/{alert.pk}/delete/", {"post": "yes"}).status_code == 403
