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
    codes = [b["code"] for b in first["books"]]
    assert {"FUND-37", "PICC-37-DB", "FUND-1405", "CLIC-1405-DB"} <= set(codes)
    assert {b["kind"] for b in first["books"]} == {"fund", "insurer"}
    assert set(first) >= {"books", "reports", "seconds"} and first["verified"] is True
    # Transfers: Shandong 2 × (fund, insurer, receipt), Jincheng 4 × 2 + 1 receipt, Jilin top-ups 17 × 3.
    transfers = JournalEntry.objects.filter(source="premium-transfer").count()
    assert transfers == 6 + 9 + 51 + 2  # and the released Jincheng deposit, paid at settlement
    assert JournalEntry.objects.filter(source__startswith="claims batch").count() > 100
    assert JournalEntry.objects.filter(source="year-end close").count() == 4
    assert first["entries_created"] == JournalEntry.objects.count()
    second = _json("quickstart")
    assert second["entries_created"] == 0
    verified = _json("verify_ledger")
    assert (verified["ok"], verified["entries"]) == (True, JournalEntry.objects.count())


def test_quickstart_prints_balanced_trial_balances(db):
    out = StringIO()
    call_command("quickstart", stdout=out)
    text = out.getvalue()
    assert text.count("借贷平衡") == 4 and "不平衡" not in text  # the four books with movements
    assert "返还基本医保基金" in text and "服务保证金扣除                        2,946,672.90" in text
    assert "320,000,000.00" in text
    assert "逾期后足额 12天" in text and "逾期未足额 183天，在途 20,000,000.00" in text
    assert "合计 182,541,735.00 元，参保 12,169,449 人" in text
    assert "按时足额 11 笔 15,773,340.00 元；逾期后足额 6 笔 6,650,505.00 元；逾期未足额 51 笔 160,117,890.00 元" in text


def test_premium_status_command_reports_each_obligation(db):
    call_command("quickstart", stdout=StringIO())
    out = _json("premium_status", "--contract", "JC-2019", "--as-of", "2019-10-31")
    assert [(o["state"], o["days_late"], o["shortfall"]) for o in out["obligations"]] == [
        ("paid_on_time", None, "0.00"), ("paid_late", 12, "0.00"), ("overdue", 31, "24200093.50"),
        # The deposit as the settlement left it: 80% released for a score of 85, the rest forfeited.
        ("awaiting_assessment", None, "11786691.60"),
    ]
    assert out["totals"] == {"required": "144386972.10", "received": "108400187.00", "shortfall": "35986785.10"}


def test_the_overdue_task_marks_once(db):
    from contracts.models import PremiumObligation
    from contracts.tasks import premium_overdue_check

    call_command("quickstart", stdout=StringIO())
    first = premium_overdue_check.apply(kwargs={"as_of": "2019-10-31"}).get()
    assert first == 3  # Jincheng's 60% (reached late) and 90% (still short) tranches; Xuzhou 2013 unpaid
    assert premium_overdue_check.apply(kwargs={"as_of": "2019-10-31"}).get() == 0
    assert PremiumObligation.objects.filter(overdue_since__isnull=False).count() == 3
