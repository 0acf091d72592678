"""The commands others script against: quickstart and verify_ledger, with --json.

The figures below are worked from the demo's own inputs (contracts.demo.TRANSFERS, the Jincheng terms),
not copied from the output: Jincheng 2019 is 85 yuan × 1,733,337 insured = 147,333,645.00, of which the
10% service deposit is 14,733,364.50; a score of 85 releases 80% of it.
"""

import json
import re
from datetime import date
from decimal import Decimal
from io import StringIO

from django.core.management import call_command
from django.db.models import F

from access.scope import in_scope
from contracts.demo import TRANSFERS
from contracts.models import PremiumObligation, PremiumTransfer
from core.money import fmt
from core.people import person_name
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
    # Shandong: one province pool, two insurers, each with its cities (32 yuan × 10,000,000 and × 6,000,000).
    province = first["province"]
    assert [(i["contract"], i["insured"], i["premium"], len(i["regions"])) for i in province["insurers"]] == [
        ("SD-2015", 10_000_000, "320000000.00", 9), ("SD-2015-CLIC", 6_000_000, "192000000.00", 8)]
    assert province["insurers"][0]["surplus_returned"] == "16428351.21"  # SD-2015 settled as before
    assert province["totals"]["premium"] == "512000000.00" == province["totals"]["paid"]
    assert province["reconciles"] is True
    for key in ("premium", "paid", "claims", "retained", "surplus_returned", "loss"):
        assert Decimal(province["totals"][key]) == sum(Decimal(i[key]) for i in province["insurers"])
    linyi = next(r for r in province["insurers"][1]["regions"] if r["code"] == "3713")
    assert (linyi["premium"], linyi["days_late"]) == ("48000000.00", 15)  # 32 × 1,500,000; 80% paid 05-15
    assert any(r.endswith("province_FUND-37_2015.pdf") for r in first["reports"])
    # Each side books a transfer in its own book: Shandong's 人保财险 2 × 2 and 国寿 8 cities × 2 tranches × 2;
    # Jincheng T1–T3 × 2 and T4 by the fund only (in transit); Jilin's 17 paid top-ups × 2; the released
    # Jincheng deposit × 2.
    jilin_paid = PremiumTransfer.objects.filter(obligation__kind="topup").count()
    assert jilin_paid == 11 + 6  # 长春's districts on time, 吉林市's late (both cities' non-zero rows)
    assert JournalEntry.objects.filter(source="premium-transfer").count() == (
        4 + 8 * 2 * 2 + (3 * 2 + 1) + jilin_paid * 2 + 2)
    assert JournalEntry.objects.filter(source__startswith="claims batch").count() > 100
    # FUND-37 (closed once for both insurers), PICC-37-DB, CLIC-37-DB, FUND-1405, CLIC-1405-DB.
    assert JournalEntry.objects.filter(source="year-end close").count() == 5
    assert first["entries_created"] == JournalEntry.objects.count()
    second = _json("quickstart")
    assert second["entries_created"] == 0
    verified = _json("verify_ledger")
    assert (verified["ok"], verified["entries"]) == (True, JournalEntry.objects.count())
    # Books an accountant would accept: no cash or bank account overdrawn, no fund balance on its wrong side,
    # at the end of any month (verify_ledger) or of the demo years (the trial balances).
    assert verified["warnings"] == [] and verified["problems"] == []
    from accounts.models import Book
    from ledger.models import Opening
    from ledger.selectors import trial_balance

    for book in Book.objects.all():
        for year in set(book.periods.values_list("year", flat=True)):
            assert not [r.account.code for r in trial_balance(book=book, year=year).rows if r.wrong_side], book.code
    # Every book that pays was opened (建账) and approved by someone other than who prepared it; no opening
    # voucher in the books (FUND-1405's 300,000,000.00 is 期初, not a movement of 2019).
    assert Opening.objects.filter(status="approved").exclude(approved_by=F("prepared_by")).count() >= 4
    assert not JournalEntry.objects.filter(memo__contains="期初").exists()
    fund_1405 = trial_balance(book=Book.objects.get(code="FUND-1405"), year=2019)
    bank = next(r for r in fund_1405.rows if r.account.code == "1004")
    assert (bank.opening_debit.amount, bank.period_debit.amount) == (Decimal("300000000.00"), Decimal("0.00"))


def test_every_demo_voucher_names_two_different_people_who_keep_its_book(db):
    call_command("quickstart", stdout=StringIO())
    posted = JournalEntry.objects.filter(status="posted").select_related("made_by", "reviewed_by", "book")
    assert posted.count() > 1000 and not JournalEntry.objects.filter(status="draft").exists()
    assert not posted.filter(made_by__isnull=True).exists() and not posted.filter(reviewed_by__isnull=True).exists()
    assert not posted.filter(made_by=F("reviewed_by")).exists()
    pairs = {(e.book.code, e.made_by, e.reviewed_by) for e in posted}
    for code, maker, reviewer in pairs:
        assert person_name(maker) and person_name(reviewer), (code, maker, reviewer)
        book = posted.filter(book__code=code).first().book
        assert in_scope(maker, book) and in_scope(reviewer, book), (code, maker, reviewer)
    # Fund books are kept by fund people, insurer books by the insurer's: never the other side's.
    makers = {(code.startswith("FUND-"), maker.groups.get().name) for code, maker, _ in pairs}
    assert makers == {(True, "基金会计（制单）"), (False, "承办机构会计")}


def test_quickstart_prints_balanced_trial_balances(db):
    out = StringIO()
    call_command("quickstart", stdout=out)
    text = out.getvalue()
    assert text.count("借贷平衡") == 5 and "不平衡" not in text  # the five books with movements
    assert "山东省2015年度多家承办机构汇总" in text and "3713 临沂市" in text and "与各账簿之和一致" in text
    deposit = PremiumObligation.objects.get(contract_year__contract__code="JC-2019", kind="deposit")
    assert deposit.amount.amount == Decimal("147333645.00") - Decimal("147333645.00") * Decimal("0.90")
    forfeited = deposit.amount.amount * Decimal("0.20")  # score 85: 80% released
    assert "返还基本医保基金" in text and re.search(rf"服务保证金扣除 +{re.escape(fmt(forfeited))}\n", text)
    shandong = sum(Decimal(amount) for _, code, _, amount, *_ in TRANSFERS if code == "SD-2015")
    assert fmt(shandong) in text
    # Jincheng: the 60% mark reached with T3 on 2019-07-12, due 2019-06-30; the 90% mark still short at the
    # March 31 cut-off, due 2019-09-30, with T4 recorded by the fund and not yet confirmed by the insurer.
    t3 = next(t for t in TRANSFERS if t[0] == "JC-2019-T3")
    t4 = next(t for t in TRANSFERS if t[0] == "JC-2019-T4")
    late = (t3[4] - date(2019, 6, 30)).days
    overdue = (date(2020, 3, 31) - date(2019, 9, 30)).days
    assert f"逾期后足额 {late}天" in text and f"逾期未足额 {overdue}天" in text
    # T4 is in transit (在途), not received (已到账): the fund paid it, the insurer has not confirmed it.
    line = next(ln for ln in text.splitlines() if "第3期" in ln and "逾期未足额" in ln)
    assert line.split()[-6:-2] == ["0.00", "0.00", fmt(Decimal(t4[3])), "24,200,093.50"]  # withheld, 已到账, 在途, 差额
    # The premium reconciled as the settlement left it: 147,333,645.00 less the deposit withheld.
    assert ("合同保费（85.00元/人 × 1,733,337人） 147,333,645.00；应拨保费合计 P 147,333,645.00；"
            "减：服务保证金考核扣留 -2,946,672.90；扣减后保费（结算口径：已实现保费） 144,386,972.10") in text
    assert "合计 182,541,735.00 元，参保 12,169,449 人" in text  # the table's own 合计 row, as published
    on_time = PremiumObligation.objects.filter(kind="topup", fund__region__parent__name="长春市")
    late_paid = PremiumObligation.objects.filter(kind="topup", fund__region__parent__name="吉林市")
    unpaid = PremiumObligation.objects.filter(kind="topup").exclude(pk__in=on_time).exclude(pk__in=late_paid)
    total = lambda qs: fmt(sum(o.amount.amount for o in qs))  # noqa: E731
    assert (f"按时足额 {on_time.count()} 笔 {total(on_time)} 元；逾期后足额 {late_paid.count()} 笔 {total(late_paid)} 元；"
            f"逾期未足额 {unpaid.count()} 笔 {total(unpaid)} 元") in text


def test_premium_status_command_reports_each_obligation(db):
    call_command("quickstart", stdout=StringIO())
    out = _json("premium_status", "--contract", "JC-2019", "--as-of", "2019-10-31")
    assert [(o["state"], o["days_late"], o["received"], o["in_transit"], o["shortfall"])
            for o in out["obligations"]] == [
        ("paid_on_time", None, "44200093.50", "0.00", "0.00"), ("paid_late", 12, "44200093.50", "0.00", "0.00"),
        # T4 (20,000,000.00) paid by the fund on 2019-09-20, never confirmed by the insurer: in transit.
        ("overdue", 31, "0.00", "20000000.00", "24200093.50"),
        # The deposit as it stood on 2019-10-31: all of it owed, the assessment (and the settlement) to come.
        ("awaiting_assessment", None, "0.00", "0.00", "14733364.50"),
    ]
    assert out["totals"] == {"amount": "147333645.00", "withheld": "0.00", "required": "147333645.00",
                             "received": "88400187.00", "in_transit": "20000000.00", "shortfall": "38933458.00"}
    # On the day the settlement was posted: 20% of the deposit withheld, the 80% released and received.
    out = _json("premium_status", "--contract", "JC-2019", "--as-of", "2020-06-20")
    assert out["obligations"][3]["withheld"] == "2946672.90" and out["obligations"][3]["received"] == "11786691.60"
    assert out["totals"]["required"] == "144386972.10" and out["totals"]["shortfall"] == "24200093.50"


def test_the_overdue_task_marks_once(db):
    from contracts.tasks import premium_overdue_check

    call_command("quickstart", stdout=StringIO())
    first = premium_overdue_check.apply(kwargs={"as_of": "2019-10-31"}).get()
    # Jincheng's 60% (reached late) and 90% (still short) tranches; Xuzhou 2013 unpaid; 临沂市's 80% to 国寿
    # (Shandong 2015, paid 15 days late).
    assert first == 4
    assert premium_overdue_check.apply(kwargs={"as_of": "2019-10-31"}).get() == 0
    assert PremiumObligation.objects.filter(overdue_since__isnull=False).count() == 4
