"""The nightly verification fanned out per book (ledger.tasks): each book verified by a task of its own,
the outcomes gathered by one more, gives what the in-process run gives, checkpoints and alert alike.

Run through Celery's own eager execution (Task.apply): the same tasks, chord and replacement a worker
runs, in this process; tests/integration runs it on real workers.
"""

from datetime import date

import pytest
from django.db import connection

from accounts.services import book_create, fund_ensure
from audit.models import AuditEvent, IntegrityAlert
from ledger.services import entry_post
from ledger.tasks import verify_book, verify_nightly
from ledger.verification import ledger_verify_nightly
from tests.conftest import premium_lines


@pytest.fixture
def second_book(fund_book):
    fund = fund_ensure(code="F-37-2", name="第二基金", region=fund_book.fund.region)
    return book_create(code="FUND-37-2", name="第二基金账", fund=fund)


def test_fanned_out_the_books_verify_and_are_checkpointed_as_in_process(fund_book, second_book, signed, settings):
    entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付首期", lines=premium_lines("100.00"), **signed)
    fanned = verify_nightly.apply().get()
    assert fanned == {"ok": True, "books": 2, "entries": 1, "problems": 0}
    assert fanned == ledger_verify_nightly()
    line = (settings.LEDGER_CHECKPOINT_DIR / "FUND-37.jsonl").read_text().splitlines()[-1]
    assert '"length": 1' in line and not IntegrityAlert.objects.exists()
    assert not (settings.LEDGER_CHECKPOINT_DIR / "FUND-37-2.jsonl").exists()  # an empty book: nothing to seal


def test_one_books_task_reports_its_own_problems_and_the_gathering_raises_one_alert(fund_book, second_book, signed,
                                                                                 settings):
    entry_post(book=fund_book, date=date(2015, 4, 28), memo="拨付首期", lines=premium_lines("100.00"), **signed)
    verify_nightly.apply().get()
    sealed = (settings.LEDGER_CHECKPOINT_DIR / "FUND-37.jsonl").read_text()
    with connection.cursor() as cursor:  # a balance row raised behind the application's back
        cursor.execute("UPDATE ledger_accountbalance SET debit_fen = debit_fen + 100 WHERE book_id = %s "
                       "AND debit_fen > 0", [fund_book.pk])
    part = verify_book.apply(args=[fund_book.pk]).get()
    assert (part["book"], part["ok"], part["problems"][0]["entry"]) == ("FUND-37", False, "balance 5101 2015-04")
    assert verify_book.apply(args=[second_book.pk]).get()["ok"] is True
    outcome = verify_nightly.apply().get()
    assert (outcome["ok"], outcome["books"], outcome["problems"]) == (False, 2, 1)
    assert IntegrityAlert.objects.get().problems[0]["entry"] == "balance 5101 2015-04"
    event = AuditEvent.objects.get(action="verify_failed")
    assert (event.actor, event.detail["books"]) == ("task verify_ledger", ["FUND-37"])
    # The failing book is not checkpointed again: its last checkpoint still holds the state that verified.
    assert (settings.LEDGER_CHECKPOINT_DIR / "FUND-37.jsonl").read_text() == sealed
