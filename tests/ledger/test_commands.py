"""The commands others script against: quickstart and verify_ledger, with --json."""

import json
from io import StringIO

from django.core.management import call_command

from ledger.models import JournalEntry


def _json(*args):
    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_quickstart_posts_the_demo_year_once_and_verifies(db):
    first = _json("quickstart")
    assert [b["code"] for b in first["books"]] == ["FUND-37", "PICC-37-DB"]
    assert {b["kind"] for b in first["books"]} == {"fund", "insurer"}
    assert first["entries_created"] == 10 and first["verified"] is True
    assert set(first) >= {"books", "reports", "seconds"}
    second = _json("quickstart")
    assert second["entries_created"] == 0
    assert JournalEntry.objects.count() == 10
    assert _json("verify_ledger") == {"ok": True, "books": 2, "entries": 10, "postings": 20, "problems": []}


def test_quickstart_prints_balanced_trial_balances(db):
    out = StringIO()
    call_command("quickstart", stdout=out)
    text = out.getvalue()
    assert text.count("借贷平衡") == 2
    assert "320,000,000.00" in text and "62,971,862.72" in text
