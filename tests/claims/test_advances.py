"""Advances of the basic fund that the 大病保险 must bear, in both books, and the service time limits.

Jincheng (Shanxi, policy shanxi-2019; 晋医保发〔2019〕52号): the insurer repays an advance within 10 working
days of receiving its materials; a manual reimbursement is settled within 10 days; a hospital is paid within
10 working days of its settlement materials (at most 1 month). 李敏 prepares and 张伟 posts in the fund's
book; 刘洋 prepares and 周婷 posts in China Life Jincheng's.
"""

import csv
from datetime import date
from decimal import Decimal as D

import pytest

from audit.models import AuditEvent
from claims.advances import (
    advance_approve,
    advance_materials_receive,
    advance_record,
    advance_repay,
    advance_withdraw,
    advances_overdue,
    advances_overdue_mark,
)
from claims.deadlines import claims_overdue
from claims.identity import check_digit
from claims.models import FundAdvance
from claims.services import claims_import, claims_post
from claims.tasks import advances_overdue_check
from contracts.models import ContractYear
from contracts.services import premium_overdue_mark
from core.errors import Refused
from ledger.models import Posting
from reconciliation.transfers import advances_reconcile

IDNO = "140525198001010" + "01"
IDNO += check_digit(IDNO)


@pytest.fixture
def jc(jincheng_people):
    cy = ContractYear.objects.get(contract__code="JC-2019")
    fund, insurer = jincheng_people["fund"], jincheng_people["insurer"]
    return cy, fund, insurer


def _lines(entry):
    return [(p.account.code, p.debit.amount, p.credit.amount, p.counterparty)
            for p in Posting.objects.filter(entry=entry).select_related("account").order_by("line")]


def _advanced(cy, fund, insurer, reference, amount, *, on, received):
    """The fund advances (李敏 prepares, 张伟 posts); the insurer receives the materials (刘洋, 周婷)."""
    a = advance_record(reference=reference, contract_year=cy, amount=amount, advanced_on=on, user=fund[0])
    advance_approve(advance=a, user=fund[1])
    a = advance_materials_receive(advance=a, received_on=received, user=insurer[0])
    advance_approve(advance=a, user=insurer[1])
    return a


def _repaid(a, fund, insurer, on, received_on=None):
    a = advance_repay(advance=a, on=on, user=insurer[0])
    advance_approve(advance=a, user=insurer[1])
    a = advance_repay(advance=a, on=received_on or on, user=fund[0])
    advance_approve(advance=a, user=fund[1])
    return FundAdvance.objects.get(pk=a.pk)


def test_advance_in_both_books_repaid_late_is_listed(jc):
    cy, fund, insurer = jc
    a = advance_record(reference="ADV-2019-001", contract_year=cy, amount="12345.67", advanced_on=date(2019, 9, 20),
                       user=fund[0])
    # Maker–checker: the preparer never posts; the insurer's people never write in the fund's book.
    with pytest.raises(Refused):
        advance_approve(advance=a, user=fund[0])
    with pytest.raises(Refused) as info:
        advance_approve(advance=a, user=insurer[1])  # the fund's draft is not in the insurer reviewer's books
    assert info.value.problems[0]["found"] == "none in your books"
    with pytest.raises(Refused):
        advance_record(reference="ADV-X", contract_year=cy, amount="1.00", advanced_on=date(2019, 9, 20),
                       user=insurer[0])  # only the fund advances
    with pytest.raises(Refused):
        advance_materials_receive(advance=a, received_on=date(2019, 9, 27), user=fund[0])  # the insurer's act
    advance_approve(advance=a, user=fund[1])
    a.refresh_from_db()
    assert a.fund_entry.status == "posted"
    assert _lines(a.fund_entry) == [("1101", D("12345.67"), D("0.00"), "中国人寿保险股份有限公司晋城分公司"),
                                    ("1004", D("0.00"), D("12345.67"), "")]

    # Materials received Friday 2019-09-27. Ten working days, the day of receipt not counted:
    # 9-28 Sat off; 9-29 Sun 调休上班 (1); 9-30 Mon (2); 10-1…10-7 国庆节 off; 10-8 (3), 10-9 (4), 10-10 (5),
    # 10-11 (6), 10-12 Sat 调休上班 (7); 10-13 Sun off; 10-14 (8), 10-15 (9), 10-16 (10) → due 2019-10-16.
    a = advance_materials_receive(advance=a, received_on=date(2019, 9, 27), user=insurer[0])
    assert a.due_on == date(2019, 10, 16)
    with pytest.raises(Refused):
        advance_approve(advance=a, user=insurer[0])  # its own preparer
    advance_approve(advance=a, user=insurer[1])
    a.refresh_from_db()
    assert _lines(a.insurer_entry) == [("6511", D("12345.67"), D("0.00"), ""),
                                       ("224103", D("0.00"), D("12345.67"), "晋城市城乡居民大病保险资金")]

    # Not yet repaid on Monday 10-21: late 10-17, 10-18, 10-21 = 3 working days.
    [late] = advances_overdue(as_of=date(2019, 10, 21))
    assert (late.advance.pk, late.working_days_late, late.repaid_on) == (a.pk, 3, None)

    # Repaid Friday 10-18 (insurer pays, fund receives the same day): late 10-17, 10-18 = 2 working days.
    a = _repaid(a, fund, insurer, date(2019, 10, 18))
    assert _lines(a.insurer_repay_entry) == [("224103", D("12345.67"), D("0.00"), "晋城市城乡居民大病保险资金"),
                                             ("1002", D("0.00"), D("12345.67"), "")]
    assert _lines(a.fund_repay_entry) == [("1002", D("12345.67"), D("0.00"), ""),
                                          ("1101", D("0.00"), D("12345.67"), "中国人寿保险股份有限公司晋城分公司")]
    for e in (a.fund_entry, a.insurer_entry, a.insurer_repay_entry, a.fund_repay_entry):
        assert e.made_by_id != e.reviewed_by_id and e.status == "posted"

    # 1101 in the fund's book and 224103 in the insurer's are cleared: 12,345.67 − 12,345.67 = 0.
    for book, code in ((a.fund_entry.book, "1101"), (a.insurer_entry.book, "224103")):
        ps = Posting.objects.filter(book=book, account__code=code)
        assert sum(p.debit.amount for p in ps) - sum(p.credit.amount for p in ps) == 0

    [late] = advances_overdue(as_of=date(2019, 10, 31))
    assert (late.working_days_late, late.repaid_on, late.premium_on_schedule) == (2, date(2019, 10, 18), True)

    # The year's premium was not on schedule (nothing paid by April 30): shown, not silently suspending.
    premium_overdue_mark(as_of=date(2019, 10, 31))
    [late] = advances_overdue(as_of=date(2019, 10, 31))
    assert late.premium_on_schedule is False and late.premium_late[0].overdue_since == date(2019, 5, 1)

    # The daily task marks it once, the day after its due date, and says so in the audit trail.
    assert advances_overdue_check(as_of="2019-10-31") == 1
    assert advances_overdue_mark(as_of=date(2019, 11, 1)) == 0
    a.refresh_from_db()
    assert a.overdue_since == date(2019, 10, 17)
    event = AuditEvent.objects.get(action="overdue_marked", object_id=str(a.pk))
    assert event.detail["working_days_late"] == 2

    # Both books' repayment lines pair by the reference.
    r = advances_reconcile(fund=a.fund, insurer=a.insurer, year=2019)
    assert [(f.reference, f.amount, i.amount) for f, i in r.matched] == [("ADV-2019-001", D("12345.67"),
                                                                           D("12345.67"))]
    assert (r.fund_only, r.insurer_only) == ([], [])


def test_advance_repaid_on_time_is_not_listed(jc):
    cy, fund, insurer = jc
    a = _advanced(cy, fund, insurer, "ADV-2019-002", "800.00", on=date(2019, 9, 20), received=date(2019, 9, 27))
    a = _repaid(a, fund, insurer, date(2019, 10, 16))  # the 10th working day itself
    assert advances_overdue(as_of=date(2019, 12, 31)) == []
    assert advances_overdue_mark(as_of=date(2019, 12, 31)) == 0


def test_refusals_of_dates_and_repayment_order(jc):
    cy, fund, insurer = jc
    a = advance_record(reference="ADV-2019-003", contract_year=cy, amount="500.00", advanced_on=date(2019, 9, 20),
                       user=fund[0])
    # Before the materials are recorded the insurer cannot repay.
    with pytest.raises(Refused):
        advance_repay(advance=a, on=date(2019, 10, 8), user=insurer[0])
    # A receipt date outside the working-day calendar (2019–2026) is refused, never counted as Mon–Fri.
    with pytest.raises(Refused) as info:
        advance_materials_receive(advance=a, received_on=date(2027, 1, 4), user=insurer[0])
    assert info.value.problems[0]["expected"] == "a date in a year the calendar covers (2019–2026)"
    # Materials before the advance itself: refused.
    with pytest.raises(Refused):
        advance_materials_receive(advance=a, received_on=date(2019, 9, 19), user=insurer[0])
    assert FundAdvance.objects.get(pk=a.pk).insurer_entry is None
    # The same reference for a different advance: refused; the same content again returns it.
    with pytest.raises(Refused):
        advance_record(reference="ADV-2019-003", contract_year=cy, amount="501.00", advanced_on=date(2019, 9, 20),
                       user=fund[0])
    assert advance_record(reference="ADV-2019-003", contract_year=cy, amount="500.00",
                          advanced_on=date(2019, 9, 20), user=fund[0]).pk == a.pk


def test_manual_reimbursement_beyond_ten_days_is_listed(jc, tmp_path):
    cy, _fund, insurer = jc
    path = tmp_path / "jc-2019-11.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["赔案号", "身份证号", "人群", "入院日期", "出院日期", "结算日期", "医院编码", "医院名称",
                    "政策范围内个人自付", "保险公司支付", "结算方式", "收到资料日期"])
        # Manual, materials 11-01: due 11-01 + 10 days = 11-11; settled 11-15 → 4 days late.
        w.writerow(["M-1", IDNO, "general", "2019-10-01", "2019-10-10", "2019-11-15", "H001", "人民医院",
                    "20000.00", "7500.00", "手工报销", "2019-11-01"])
        # Manual on time: settled 11-08, before 11-11.
        w.writerow(["M-2", IDNO, "general", "2019-10-12", "2019-10-20", "2019-11-08", "H001", "人民医院",
                    "1000.00", "750.00", "手工报销", "2019-11-01"])
        # Hospital (direct), materials Friday 11-01: 10 working days 11-04…11-08 (5), 11-11…11-15 (10) → due
        # 11-15; paid with the month's payment voucher on 11-30 (a Saturday) → late 11-18…11-22 (5),
        # 11-25…11-29 (10) = 10 working days; the outer limit, 1 month, is 12-01.
        w.writerow(["D-1", IDNO, "general", "2019-10-21", "2019-10-25", "2019-11-05", "H001", "人民医院",
                    "3000.00", "2250.00", "直接结算", "2019-11-01"])
        # No receipt date: not tracked.
        w.writerow(["D-2", IDNO, "general", "2019-10-21", "2019-10-25", "2019-11-05", "H001", "人民医院",
                    "100.00", "75.00", "直接结算", ""])
    result = claims_import(path=path, contract=cy.contract, by=insurer[0])
    assert claims_overdue() == []  # a batch awaiting review counts nowhere
    claims_post(batch=result.batch, reviewed_by=insurer[1])
    rows = {r.claim.claim_no: r for r in claims_overdue(contract_year=cy)}
    assert set(rows) == {"M-1", "D-1"}
    assert (rows["M-1"].due_on, rows["M-1"].paid_on, rows["M-1"].late, rows["M-1"].unit) == (
        date(2019, 11, 11), date(2019, 11, 15), 4, "calendar")
    assert (rows["D-1"].due_on, rows["D-1"].paid_on, rows["D-1"].late, rows["D-1"].longest_on) == (
        date(2019, 11, 15), date(2019, 11, 30), 10, date(2019, 12, 1))

    # The claims list filters them (超期 / 未超期) and says by how much.
    from django.test import Client
    from django.urls import reverse

    reviewer = Client()
    reviewer.force_login(insurer[1])
    url = reverse("admin:claims_claim_changelist")
    page = reviewer.get(url + "?overdue=yes").content.decode()
    assert "M-1" in page and "D-1" in page and "M-2" not in page and "D-2" not in page
    assert '<td class="field-claim_late_shown">10 ' in page
    page = reviewer.get(url + "?overdue=no").content.decode()
    assert "M-2" in page and "M-1" not in page and "D-2" not in page  # D-2 has no receipt date: not tracked


def test_claims_receipt_date_outside_calendar_refuses_the_file(jc, tmp_path):
    cy, _fund, insurer = jc
    path = tmp_path / "jc-bad.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["claim_no", "id_number", "group", "admitted_on", "discharged_on", "settled_on", "hospital_code",
                    "hospital_name", "oop", "paid", "channel", "materials_received_on"])
        # A hospital's limit counts working days: a receipt in 2018, outside the calendar, cannot be counted.
        # (A manual reimbursement's 10 days are calendar days and need no calendar.)
        w.writerow(["D-9", IDNO, "general", "2019-10-01", "2019-10-10", "2019-11-15", "H001", "人民医院",
                    "20000.00", "7500.00", "direct", "2018-12-28"])
    with pytest.raises(Refused) as info:
        claims_import(path=path, contract=cy.contract, by=insurer[0])
    assert info.value.problems[0]["field"] == "materials_received_on"
    assert info.value.problems[0]["expected"] == "a date in a year the calendar covers (2019–2026)"


def test_drafts_are_withdrawn_by_their_preparer_only(jc):
    cy, fund, insurer = jc
    a = advance_record(reference="ADV-2019-004", contract_year=cy, amount="300.00", advanced_on=date(2019, 9, 20),
                       user=fund[0])
    a = advance_materials_receive(advance=a, received_on=date(2019, 9, 27), user=insurer[0])
    with pytest.raises(Refused):
        advance_withdraw(advance=a, user=fund[1])  # the reviewer prepared nothing here
    with pytest.raises(Refused):
        advance_withdraw(advance=a, user=fund[0])  # its own voucher last: the insurer has recorded the materials
    assert advance_withdraw(advance=a, user=insurer[0]) is False
    a.refresh_from_db()
    assert (a.insurer_entry, a.materials_received_on, a.due_on) == (None, None, None)
    assert advance_withdraw(advance=a, user=fund[0]) is True
    assert not FundAdvance.objects.filter(reference="ADV-2019-004").exists()


def test_the_admin_lists_overdue_advances_and_their_reviewer_posts(jc):
    """基本医保垫付款 in the admin: 超期 / 未超期, the working days overdue; 张伟 posts the fund's draft there."""
    from django.test import Client
    from django.urls import reverse

    cy, fund, insurer = jc
    late = _advanced(cy, fund, insurer, "ADV-2019-005", "100.00", on=date(2019, 9, 20), received=date(2019, 9, 27))
    on_time = _advanced(cy, fund, insurer, "ADV-2019-006", "200.00", on=date(2019, 9, 20), received=date(2019, 9, 27))
    # Vouchers are numbered in date order within a month: the 10-16 repayment is booked before the 10-18 one.
    _repaid(on_time, fund, insurer, date(2019, 10, 16))
    _repaid(late, fund, insurer, date(2019, 10, 18))  # due 10-16: 2 working days late
    drafted = advance_record(reference="ADV-2019-007", contract_year=cy, amount="300.00",
                             advanced_on=date(2019, 9, 20), user=fund[0])
    url = reverse("admin:claims_fundadvance_changelist")
    reviewer = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    reviewer.force_login(fund[1])
    page = reviewer.get(url + "?overdue=yes").content.decode()
    assert "ADV-2019-005" in page and "ADV-2019-006" not in page
    assert '<td class="field-working_days_late">2</td>' in page
    # In Chinese throughout (needs this change's msgids compiled, /tmp/po_h3.json → locale).
    from tests.test_language import english, known_names, visible

    assert not english(visible(page), known_names()), english(visible(page), known_names())
    page = reviewer.get(url + "?overdue=no").content.decode()
    assert "ADV-2019-006" in page and "ADV-2019-005" not in page
    reviewer.post(url, {"action": "approve", "_selected_action": [drafted.pk]})
    drafted.refresh_from_db()
    assert drafted.fund_entry.status == "posted" and drafted.fund_entry.reviewed_by_id == fund[1].pk
    # The insurer's accountant, a party to the advances, sees them too; Shandong's fund accountant sees none.
    party = Client()
    party.force_login(insurer[0])
    assert "ADV-2019-005" in party.get(url).content.decode()
    from access.demo import demo_pair

    outsider = Client()
    outsider.force_login(demo_pair("fund", "37")[0])
    assert "ADV-2019-005" not in outsider.get(url).content.decode()


def test_advance_materials_imported_as_claims_are_booked_once(jc, tmp_path):
    """The materials of an advance come as claims (channel 垫付还款): each person's episode is in the claims
    sub-ledger, and the batch's posting books the insurer's payable to the fund's agency — not a payment to
    the hospital. Naming the batch on the advance links them, so the expense is booked once."""
    cy, fund, insurer = jc
    path = tmp_path / "jc-advance.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["赔案号", "身份证号", "人群", "入院日期", "出院日期", "结算日期", "医院编码", "医院名称",
                    "政策范围内个人自付", "保险公司支付", "结算方式", "收到资料日期"])
        # Registered poor (建档立卡), shanxi-2019: deductible 5,000, 80%, no cap.
        # 20,000 → (20,000 − 5,000) × 80% = 12,000.00; a second stay of 5,000 more → 25,000 cumulative:
        # (25,000 − 5,000) × 80% = 16,000.00, so the episode pays 16,000 − 12,000 = 4,000.00. Advance 16,000.00.
        w.writerow(["A-1", IDNO, "registered_poor", "2019-08-01", "2019-08-10", "2019-09-12", "H001", "人民医院",
                    "20000.00", "12000.00", "垫付还款", "2019-09-27"])
        w.writerow(["A-2", IDNO, "registered_poor", "2019-08-20", "2019-08-25", "2019-09-12", "H001", "人民医院",
                    "5000.00", "4000.00", "垫付还款", "2019-09-27"])
    a = advance_record(reference="ADV-2019-010", contract_year=cy, amount="16000.00", advanced_on=date(2019, 9, 12),
                       user=fund[0])
    advance_approve(advance=a, user=fund[1])
    result = claims_import(path=path, contract=cy.contract, by=insurer[0])
    assert result.paid_total == D("16000.00")

    # Not yet posted: refused, and nothing recorded.
    with pytest.raises(Refused) as info:
        advance_materials_receive(advance=a, received_on=date(2019, 9, 27), user=insurer[0], claims_batch=result.batch)
    assert [p["field"] for p in info.value.problems] == ["claims_batch"]
    claims_post(batch=result.batch, reviewed_by=insurer[1])

    # The posting: Dr 6511 16,000.00 / Cr 224103 16,000.00 owed to the fund's agency (September's vouchers).
    book = result.batch.book
    payable = Posting.objects.filter(book=book, account__code="224103")
    assert [(p.credit.amount, p.counterparty) for p in payable] == [(D("16000.00"), "晋城市城乡居民大病保险资金")]
    assert not Posting.objects.filter(book=book, account__code="1002", entry__source__startswith="claims").exists()

    # A different amount is refused, naming what the batch adds up to.
    other = advance_record(reference="ADV-2019-011", contract_year=cy, amount="15999.99",
                           advanced_on=date(2019, 9, 12), user=fund[0])
    with pytest.raises(Refused) as info:
        advance_materials_receive(advance=other, received_on=date(2019, 9, 27), user=insurer[0],
                                  claims_batch=result.batch)
    assert info.value.problems[0]["found"] == "16,000.00"

    a = advance_materials_receive(advance=a, received_on=date(2019, 9, 27), user=insurer[0], claims_batch=result.batch)
    assert (a.insurer_entry, a.claims_batch_id, a.due_on) == (None, result.batch.pk, date(2019, 10, 16))
    # The same batch cannot serve a second advance.
    with pytest.raises(Refused):
        advance_materials_receive(advance=other, received_on=date(2019, 9, 27), user=insurer[0],
                                  claims_batch=result.batch)

    # Repaid on time: 224103 in the insurer's book and 1101 in the fund's are cleared, 6511 holds 16,000.00 once.
    a = _repaid(a, fund, insurer, date(2019, 10, 16))
    # (ADV-2019-011 is still a draft in the fund's book: drafts count nowhere.)
    for bk, code in ((a.fund_entry.book, "1101"), (book, "224103")):
        ps = Posting.objects.filter(book=bk, account__code=code, entry__status="posted")
        assert sum(p.debit.amount for p in ps) - sum(p.credit.amount for p in ps) == 0
    expense = Posting.objects.filter(book=book, account__code="6511", entry__status="posted")
    assert sum(p.debit.amount for p in expense) == D("16000.00")
    assert advances_overdue(as_of=date(2019, 10, 31)) == []


def test_each_side_records_its_steps_in_the_admin(jc):
    """李敏 records the advance on the add page; 刘洋 records the materials and the repayment on 登记本方;
    李敏 the receipt. A forged id outside the scope is refused 403 and recorded; a forged second step changes
    nothing. Each voucher still waits for its side's reviewer."""
    from django.test import Client
    from django.urls import reverse

    from access.demo import demo_pair

    cy, fund, insurer = jc
    clerk, insurer_clerk = Client(), Client()
    clerk.force_login(fund[0])
    insurer_clerk.force_login(insurer[0])
    add = reverse("admin:claims_fundadvance_add")
    # The insurer's accountant may not record an advance; the page is not theirs.
    assert insurer_clerk.get(add).status_code == 403
    page = clerk.post(add, {"reference": "ADV-2019-020", "contract_year": cy.pk, "amount_0": "-5",
                            "amount_1": "CNY", "advanced_on": "2019-09-20"})
    assert page.status_code == 200 and not FundAdvance.objects.exists()  # refused, nothing written
    clerk.post(add, {"reference": "ADV-2019-020", "contract_year": cy.pk, "amount_0": "8000.00",
                     "amount_1": "CNY", "advanced_on": "2019-09-20"})
    a = FundAdvance.objects.get(reference="ADV-2019-020")
    assert (a.amount.amount, a.fund_entry.status, a.fund_entry.made_by_id) == (D("8000.00"), "draft", fund[0].pk)

    step = reverse("admin:claims_fundadvance_step", args=[a.pk])
    # 刘洋's first step is the materials' receipt (Friday 9-27 → due 10-16, as counted above), then the repayment.
    insurer_clerk.post(step, {"on": "2019-09-27"})
    a.refresh_from_db()
    assert (a.materials_received_on, a.due_on, a.insurer_entry.status) == (
        date(2019, 9, 27), date(2019, 10, 16), "draft")
    insurer_clerk.post(step, {"on": "2019-10-15"})
    a.refresh_from_db()
    assert (a.repaid_on, a.insurer_repay_entry.made_by_id) == (date(2019, 10, 15), insurer[0].pk)
    # The page now says there is nothing left for the insurer; a forged post records nothing more.
    page = insurer_clerk.post(step, {"on": "2019-10-20"}).content.decode()
    a.refresh_from_db()
    assert a.repaid_on == date(2019, 10, 15) and 'id="advance-step-form"' not in page
    clerk.post(step, {"on": "2019-10-15"})
    a.refresh_from_db()
    assert (a.received_on, a.fund_repay_entry.made_by_id) == (date(2019, 10, 15), fund[0].pk)

    outsider = Client()
    outsider.force_login(demo_pair("fund", "37")[0])
    assert outsider.post(step, {"on": "2019-10-15"}).status_code == 403
    assert AuditEvent.objects.filter(action="access_refused", actor=demo_pair("fund", "37")[0]).exists()
