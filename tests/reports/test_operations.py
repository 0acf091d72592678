"""运行分析, annual and quarterly, on the Jincheng 2019 demo year; the claims reconciled to account 6511.

The year's claims (the settlement's C) are 115,620,093.11; account 6511 赔付支出 of China Life Jincheng's
book moved 115,545,604.52 in 2019. The 74,488.59 between them are two claims of 2019 settled on 2020-01-03,
before the March 31 cut-off: they count in the 2019 contract year but were posted in January 2020.
"""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum
from pypdf import PdfReader

from access.demo import demo_pair
from accounts.models import Book
from claims.models import Claim
from claims.operations import claims_ledger_reconciliation, claims_of
from contracts.models import ContractYear
from core.errors import Refused
from ledger.models import JournalEntry
from ledger.selectors import trial_balance
from ledger.services import Line, entry_draft_post, entry_post, entry_reverse
from reports.services import report_data, report_issue, report_verify


@pytest.fixture
def demo(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)
    return ContractYear.objects.get(contract__code="JC-2019", year=2019)


def _pdf_text(path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def _recon(block) -> dict:
    return {r["label"]: (r["amount"], r["detail"]) for r in block["recon"]}


def test_the_year_reconciles_its_claims_to_6511_and_names_the_74_488_59(demo, tmp_path):
    insurer_book = Book.objects.get(code="CLIC-1405-DB")
    (block,) = report_data(kind="operations", book=insurer_book, year=2019)["blocks"]
    assert block["totals"]["claims"] == "115620093.11"  # the settlement's C
    assert block["totals"]["ledger_6511"] == "115545604.52"
    # 6511 as the trial balance shows it: the year's debits, and the year-end close emptying it into 4103.
    row = next(r for r in trial_balance(book=insurer_book, year=2019).rows if r.account.code == "6511")
    assert (row.period_debit.amount, row.period_credit.amount) == (Decimal("115545604.52"), Decimal("115545604.52"))

    # The difference, named: two claims of 2019 settled 2020-01-03 (before the cut-off), posted in January 2020.
    recon = _recon(block)
    amount, detail = recon["减：本年度赔款在报告期之后入账（如次年1月至结算时点结算、计入本年度的赔款）"]
    assert amount == "-74488.59" and detail.startswith("2020年1月入账 2 笔 74,488.59（结算日 2020-01-03；记-2020-")
    late = Claim.objects.filter(charged_to=demo, settled_on__gt=date(2019, 12, 31))
    assert late.count() == 2 and late.aggregate(s=Sum("paid"))["s"].amount == Decimal("74488.59")
    assert all(c.settled_on <= demo.cutoff and c.posted_entry.date == date(2020, 1, 31) for c in late)
    # Every other category was looked at and found empty; nothing is left unexplained.
    others = {label: a for label, (a, _) in recon.items() if label.startswith(("减：", "加"))
              and "之后入账" not in label}
    assert set(others.values()) == {"0.00"} and len(others) == 6
    assert recon["= 按上列差异调整后的赔款"][0] == "115545604.52"
    assert recon["未解释差异"][0] == block["unexplained"] == "0.00"

    # Premium earned, the ratio, and the quarters with the run-off apart, adding up to the year.
    summary = {s["label"]: s["value"] for s in block["summary"]}
    assert (summary["合同保费 P"], summary["减：服务保证金考核扣留"]) == ("147333645.00", "-2946672.90")
    assert summary["扣减后保费（赔付率分母）"] == "144386972.10"
    assert summary["本期赔付率"] == "80.08%"  # 115,620,093.11 ÷ 144,386,972.10
    assert [q["label"] for q in block["quarters"]][-1] == "2020年1月至结算时点 2020-03-31"
    assert block["quarters"][-1]["cumulative"] == "115620093.11"
    assert block["quarters"][3]["cumulative"] == "115545604.52"  # Q1–Q4 = 6511 of 2019
    assert sum(Decimal(x["amount"]) for x in block["channels"]) == Decimal("115620093.11")
    assert {x["label"] for x in block["channels"]} == {"医院直接结算", "手工报销", "偿还基本医保垫付"}
    assert "一般参保人员" in {x["label"] for x in block["groups"]}
    assert block["hospitals"][-1]["label"] == "其他 2 家" and len(block["hospitals"]) == 11

    # Issued on the fund's book it reads the contract's insurer book for 6511: the same figures.
    (on_fund,) = report_data(kind="operations", book=Book.objects.get(code="FUND-1405"), year=2019)["blocks"]
    assert on_fund == block

    report_issue(kind="operations", book=insurer_book, year=2019, out=tmp_path / "o.pdf", by="测试")
    text = _pdf_text(tmp_path / "o.pdf")
    assert "减：本年度赔款在报告期之后入账" in text and "-74,488.59" in text
    assert "未解释差异 0.00" in text and "115,545,604.52" in text and "80.08%" in text
    assert report_verify(path=tmp_path / "o.pdf").ok


def test_a_quarter_covers_only_its_months(demo, tmp_path):
    book = Book.objects.get(code="CLIC-1405-DB")
    data = report_data(kind="operations", book=book, year=2019, month=6)
    (block,) = data["blocks"]
    assert (data["title"], data["period_label"]) == ("季度运行分析", "2019年第2季度（4–6月）")
    assert [m["label"] for m in block["months"]] == ["2019年4月", "2019年5月", "2019年6月"]
    q2 = claims_of(contract_year=demo, date_from=date(2019, 4, 1), date_to=date(2019, 6, 30))
    assert block["totals"]["claims"] == f"{q2.aggregate(s=Sum('paid'))['s'].amount:.2f}" == "30896320.42"
    tb = trial_balance(book=book, year=2019, month_from=4, month_to=6)
    assert block["totals"]["ledger_6511"] == f"{next(r for r in tb.rows if r.account.code == '6511').period_debit.amount:.2f}"
    assert block["unexplained"] == "0.00"
    # The quarters to date, cumulative; the ratio against the premium as it stood at the quarter's end
    # (the settlement came a year later: nothing of the deposit withheld yet).
    assert [q["label"] for q in block["quarters"]] == ["第1季度（1–3月）", "第2季度（4–6月）"]
    assert block["quarters"][1]["cumulative"] == "56946978.59"
    summary = {s["label"]: s["value"] for s in block["summary"]}
    assert summary["扣减后保费（赔付率分母）"] == "147333645.00"
    assert summary["年初至期末累计赔款"] == "56946978.59"
    assert summary["保费已到账（截至 2019-06-30）"] == "74200093.50"  # T1, and T2 recorded by the insurer

    report_issue(kind="operations", book=book, year=2019, month=6, out=tmp_path / "q2.pdf", by="测试")
    text = _pdf_text(tmp_path / "q2.pdf")
    assert "2019年第2季度（4–6月）" in text and "2019年7月" not in text
    assert report_verify(path=tmp_path / "q2.pdf").ok
    with pytest.raises(Refused):  # a month that ends no quarter
        report_data(kind="operations", book=book, year=2019, month=5)


def test_every_difference_to_6511_is_named(demo):
    """The run-off quarter (January–March 2020) with a reversal and a recovery booked on 6511."""
    book = Book.objects.get(code="CLIC-1405-DB")
    accountant, reviewer = demo_pair("insurer", "CLIC-1405")
    january = Claim.objects.filter(charged_to=demo, settled_on__gt=date(2019, 12, 31)).first().posted_entry
    reversal = entry_draft_post(entry=entry_reverse(entry=january, date=date(2020, 2, 10), made_by=accountant),
                                reviewed_by=reviewer)
    entry_post(book=book, date=date(2020, 3, 5), memo="追回多付赔款", made_by=accountant, reviewed_by=reviewer,
               lines=[Line("1002", debit="1000.00"), Line("6511", credit="1000.00")])
    claims = claims_of(contract_year=demo, date_from=date(2020, 1, 1), date_to=date(2020, 3, 31))
    rec = claims_ledger_reconciliation(contract_year=demo, claims=claims, date_from=date(2020, 1, 1),
                                       date_to=date(2020, 3, 31))
    named = {d.label: d.amount for d in rec.differences if d.amount}
    reversed_amount = -sum(p.debit.amount for p in january.postings.filter(account__code="6511"))
    assert named == {"加/减：冲销（红字）凭证": reversed_amount,
                     "加/减：其他记入6511的凭证（追回、偿还、调整等）": Decimal("-1000.00")}
    assert rec.claims == Decimal("74488.59") and rec.unexplained == Decimal("0.00")
    assert rec.ledger == Decimal("74488.59") + reversed_amount - Decimal("1000.00")
    assert JournalEntry.objects.get(pk=reversal.pk).voucher in next(
        d.detail for d in rec.differences if d.label.startswith("加/减：冲销"))
