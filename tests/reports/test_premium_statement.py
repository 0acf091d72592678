"""保费划拨对账单 that reconciles, on the Jincheng 2019 demo year quickstart posts.

85 yuan × 1,733,337 insured = 147,333,645.00: three tranches (30/60/90%) of 44,200,093.50 and a service
deposit of 10%, 14,733,364.50. The assessment scored 85; the contract's bands pay 80% of the deposit from
80 points, so the settlement released 11,786,691.60 (8% of the premium) and withheld 2,946,672.90: the
premium earned is 147,333,645.00 − 2,946,672.90 = 144,386,972.10, the settlement's `premium`.
The fund paid T4 (20,000,000.00, 2019-09-20) and the insurer never confirmed it: 在途, not 已到账.
"""

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from access.demo import demo_pair
from accounts.models import Book
from contracts.models import ContractYear, PremiumTransfer
from contracts.services import transfer_approve, transfer_confirm
from reconciliation.models import Settlement
from reconciliation.premium import premium_statement
from reports.services import report_data, report_issue, report_verify


@pytest.fixture
def demo(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)  # the demo books without quickstart's printing and report writing
    return ContractYear.objects.get(contract__code="JC-2019", year=2019)


def _pdf_text(path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def test_jincheng_2019_withholds_the_deposit_and_reconciles_the_premium_to_the_settlement(demo, tmp_path):
    data = report_data(kind="premium-status", book=Book.objects.get(code="FUND-1405"), year=2019)
    (block,) = data["blocks"]
    # The statement stands on the day the settlement was posted: the premium is final then.
    assert (block["as_of"], block["as_of_basis"]) == ("2020-06-20", "年度结算过账日 2020-06-20")
    deposit_row = block["rows"][3]
    assert deposit_row["what"] == "2019年大病保险服务保证金（10%，考核后支付）"
    assert (deposit_row["amount"], deposit_row["withheld"], deposit_row["received"], deposit_row["shortfall"]) == (
        "14733364.50", "2946672.90", "11786691.60", "0.00")

    # The deposit: its base and percentage as the terms set them, the score and the band that decided it.
    d = block["deposit"]
    assert (d["base"], d["pct"], d["required"]) == ("147333645.00", "10", "14733364.50")
    assert (d["score"], d["band"]) == ("85", "得分≥80：支付80%")
    assert (d["released"], d["released_of_deposit"], d["released_of_premium"]) == ("11786691.60", "80", "8")
    assert (d["withheld"], d["withheld_of_deposit"], d["withheld_of_premium"]) == ("2946672.90", "20", "2")

    # Every column has its total, and they add up: 应拨 − 考核扣留 − 已到账 − 在途 = 差额.
    t = block["totals"]
    assert t == {"amount": "147333645.00", "withheld": "2946672.90", "required": "144386972.10",
                 "received": "100186878.60", "in_transit": "20000000.00", "shortfall": "24200093.50"}
    assert (Decimal(t["amount"]) - Decimal(t["withheld"]) - Decimal(t["received"]) - Decimal(t["in_transit"])
            == Decimal(t["shortfall"]))

    # The reconciliation in figures: contract premium → P → less the deposit withheld → the premium earned.
    lines = {line["label"]: line["amount"] for line in block["lines"]}
    assert lines["合同保费（85.00元/人 × 1,733,337人）"] == "147333645.00"
    assert lines["应拨保费合计 P"] == "147333645.00"
    assert lines["减：服务保证金考核扣留"] == "-2946672.90"
    assert lines["扣减后保费（结算口径：已实现保费）"] == "144386972.10"
    assert lines["差额（基金尚未拨付）"] == "24200093.50"
    settlement = Settlement.objects.get(contract_year=demo)
    assert (str(settlement.premium.amount), settlement.outcome["premium"]) == ("147333645.00", "144386972.10")
    assert [(c["label"], c["ok"]) for c in block["checks"]] == [
        ("各期保费与服务保证金之和 = 合同保费", "一致"), ("应拨保费合计 P = 结算所用保费 P", "一致"),
        ("服务保证金 = 结算所用保证金 D", "一致"), ("考核扣留 = 结算扣除的服务保证金", "一致"),
        ("扣减后保费 = 结算已实现保费", "一致")]
    # The insurer's book shows the same contract year the same way.
    insurer = report_data(kind="premium-status", book=Book.objects.get(code="CLIC-1405-DB"), year=2019)
    assert insurer["blocks"] == data["blocks"]

    # The PDF prints all of it, totals of 在途 and 差额 included, and verifies.
    record = report_issue(kind="premium-status", book=Book.objects.get(code="FUND-1405"), year=2019,
                          out=tmp_path / "p.pdf", by="测试")
    text = _pdf_text(tmp_path / "p.pdf")
    assert "合计 147,333,645.00 2,946,672.90 100,186,878.60 20,000,000.00 24,200,093.50" in text
    assert "147,333,645.00 10% 14,733,364.50 85 得分≥80：支付80% 11,786,691.60 2,946,672.90" in text
    assert "减：服务保证金考核扣留 -2,946,672.90" in text
    assert "扣减后保费（结算口径：已实现保费） 144,386,972.10" in text
    assert "扣减后保费 = 结算已实现保费 年度结算（已过账，2020-06-20） 144,386,972.10 144,386,972.10 0.00 一致" in text
    assert record.totals["in_transit"] == "20000000.00" and record.totals["shortfall"] == "24200093.50"
    assert report_verify(path=tmp_path / "p.pdf").ok


def test_an_unconfirmed_payment_is_in_transit_until_the_insurer_confirms_it(demo, tmp_path):
    third = premium_statement(contract_year=demo).rows[2]  # the 90% mark, due 2019-09-30
    # T4: paid by the fund on 2019-09-20, its voucher posted; the insurer has booked nothing.
    t4 = PremiumTransfer.objects.get(reference="JC-2019-T4")
    assert t4.fund_confirmed and not t4.insurer_confirmed
    assert (third.received.amount, third.in_transit.amount, third.shortfall.amount) == (
        Decimal("0.00"), Decimal("20000000.00"), Decimal("24200093.50"))
    assert (third.state_label, third.days_late) == ("逾期未足额", 264)  # 2019-09-30 → 2020-06-20

    # The statement as of the cut-off says the same: what was true on that day.
    at_cutoff = premium_statement(contract_year=demo, as_of=date(2020, 3, 31))
    assert at_cutoff.rows[2].in_transit.amount == Decimal("20000000.00")
    # Before the settlement was posted nothing of the deposit was withheld: all 14,733,364.50 still owed.
    assert (at_cutoff.totals["withheld"], at_cutoff.rows[3].state) == (Decimal("0.00"), "awaiting_assessment")
    assert at_cutoff.deposit.basis == "待考核（对账日尚无考核得分）"
    # Assessed on 2020-04-20, settled on 2020-06-20: in between, the band's estimate is shown apart.
    in_between = premium_statement(contract_year=demo, as_of=date(2020, 5, 31))
    assert in_between.totals["withheld"] == Decimal("0.00")
    assert in_between.lines[-1] == ("附：按考核得分测算的保证金扣留（未计入上列）", Decimal("2946672.90"), "note")

    # The insurer's accountant confirms it arrived on 2020-05-08 (its 2019 books are closed; its May vouchers
    # run to the demo advance's repayment on 05-07, and a voucher is never dated before those); its reviewer posts.
    accountant, reviewer = demo_pair("insurer", "CLIC-1405")
    t4 = transfer_confirm(transfer=t4, user=accountant, received_on=date(2020, 5, 8))
    transfer_approve(transfer=t4, user=reviewer)
    third = premium_statement(contract_year=demo).rows[2]
    assert (third.received.amount, third.in_transit.amount, third.shortfall.amount) == (
        Decimal("20000000.00"), Decimal("0.00"), Decimal("24200093.50"))
    # On the cut-off it had not arrived yet: still in transit there.
    assert premium_statement(contract_year=demo, as_of=date(2020, 3, 31)).rows[2].in_transit.amount == Decimal(
        "20000000.00")
