"""List exports from the admin (core.exports, django-import-export): the rows of the changelist as filtered and
searched, only within the user's scope, money as numbers in yuan, Chinese headings, formulas never formulas,
every export audited, view permission required."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from openpyxl import load_workbook

from access.services import user_create
from audit.models import AuditEvent
from core.xlsx import MONEY
from ledger.models import JournalEntry, Posting
from tests.conftest import person

DDE = "=cmd|' /C calc'!A0"


@pytest.fixture
def demo(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)


def _export(client, admin_name: str, resource, query: str = "", index: int = 0):
    """POST the export form as the changelist's 导出 button leads to it (with the list's query string)."""
    url = reverse(f"admin:{admin_name}_export") + (f"?{query}" if query else "")
    page = client.get(url)
    assert page.status_code == 200
    fields = resource().get_export_order()
    data = {"format": "0", "resource": str(index),
            **{f"{resource.__name__.lower()}_{f}": "on" for f in fields}}
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    ws = wb.active
    rows = [[c for c in row] for row in ws.iter_rows()]
    return ws, [c.value for c in rows[0]], rows[1:]


def test_voucher_export_scope_filter_search_money_text_audit(demo, client):
    from ledger.exports import JournalEntryResource, PostingResource
    from ledger.services import Line, entry_draft_save

    maker = person("mk14", "李某", "fund_accountant", regions=["14"])
    from accounts.models import Book

    fund14 = Book.objects.get(code="FUND-1405")
    from ledger.models import Period

    open_period = Period.objects.filter(book=fund14, status="open").order_by("year", "month").first()
    draft = entry_draft_save(book=fund14, date=open_period.start_date, memo=DDE, made_by=maker,
                             lines=[Line("5101", debit="1.00", memo="@SUM(1+1)"), Line("1004", credit="1.00")])
    user = user_create(username="aud14", password="Expo-rt-Pass-2019!", role="auditor", regions=["14"], full_name="审计十四")
    client.force_login(user)

    ws, head, rows = _export(client, "ledger_journalentry", JournalEntryResource)
    assert head == ["凭证字号", "账套", "日期", "摘要", "状态", "借贷金额", "制单", "审核", "链位置"]
    books = {r[1].value for r in rows}
    assert books and all(b.startswith(("FUND-1405", "CLIC-1405")) or "14" in b for b in books), books
    assert not any("37" in b for b in books)
    in_scope = JournalEntry.objects.filter(book__code__in=books).count()
    assert len(rows) == in_scope
    assert JournalEntry.objects.filter(book__code="FUND-37").exists()  # there were rows to leak
    assert ws.freeze_panes == "A2"
    # Money: numbers in yuan with 2 decimals, equal to the postings' debits.
    totals = {e.pk: sum((p.debit.amount for p in e.postings.all()), Decimal(0)) for e in JournalEntry.objects.filter(
        book__code__in=books)}
    amounts = sorted(Decimal(str(r[5].value)).quantize(Decimal("0.01")) for r in rows)
    assert amounts == sorted(totals.values())
    assert all(r[5].data_type == "n" and r[5].number_format == MONEY for r in rows)
    # The formula memo is text, not a formula.
    memo = next(r[3] for r in rows if r[3].value == DDE)
    assert memo.data_type == "s" and memo.quotePrefix
    assert all(c.data_type != "f" for r in rows for c in r)
    event = AuditEvent.objects.filter(action="list_exported").latest("pk")
    assert (event.actor, event.detail["model"], event.detail["rows"]) == ("aud14", "ledger.journalentry", len(rows))

    # A filter narrows: one book, posted vouchers only (the draft is left out).
    _, _, rows_book = _export(client, "ledger_journalentry", JournalEntryResource,
                              f"book__id__exact={fund14.pk}&status__exact=posted")
    assert {r[1].value for r in rows_book} == {"FUND-1405"}
    assert DDE not in {r[3].value for r in rows_book}
    assert len(rows_book) == JournalEntry.objects.filter(book=fund14, status="posted").count() < len(rows)
    # A search narrows: the memo searched for.
    _, _, found = _export(client, "ledger_journalentry", JournalEntryResource, "q=%3Dcmd")
    assert [r[3].value for r in found] == [DDE]
    assert AuditEvent.objects.filter(action="list_exported").latest("pk").detail["query"] == "q=%3Dcmd"
    # The lines of the vouchers the list shows (second resource), debit and credit in yuan.
    _, head, lines = _export(client, "ledger_journalentry", PostingResource, f"book__id__exact={fund14.pk}", index=1)
    assert head[:9] == ["凭证字号", "账套", "日期", "行号", "科目编码", "科目名称", "摘要", "借方金额", "贷方金额"]
    assert len(lines) == Posting.objects.filter(entry__book=fund14).count()
    debit = sum(Decimal(str(r[7].value or 0)) for r in lines)
    assert debit.quantize(Decimal("0.01")) == sum(p.debit.amount for p in Posting.objects.filter(entry__book=fund14))
    at = next(r[6] for r in lines if r[6].value == "@SUM(1+1)")
    assert at.data_type == "s" and at.quotePrefix
    assert draft.pk


def test_region_14_user_exports_no_region_37_rows_of_any_list(demo, client):
    from access.scope import scope_filter
    from claims.exports import ClaimResource
    from claims.models import Claim
    from contracts.exports import PremiumTransferResource
    from contracts.models import PremiumTransfer
    from reconciliation.exports import BankLineResource
    from reconciliation.models import BankLine

    # Shanxi region 14 and its insurer (China Life Jincheng): Shandong's (37, PICC-37) rows must not leak.
    user = user_create(username="aud14", password="Expo-rt-Pass-2019!", role="auditor", regions=["14"],
                       insurers=["CLIC-1405"], full_name="审计十四")
    client.force_login(user)
    _, head, rows = _export(client, "contracts_premiumtransfer", PremiumTransferResource)
    assert head[:5] == ["划拨编号", "基金", "承办机构", "保单年度", "金额"]
    mine = scope_filter(PremiumTransfer.objects.all(), user)
    assert PremiumTransfer.objects.exclude(pk__in=mine).exists()  # there were rows to leak
    assert rows and sorted(r[0].value for r in rows) == sorted(mine.values_list("reference", flat=True))
    assert not mine.filter(fund__region__code__startswith="37").exists()
    assert sum(Decimal(str(r[4].value)) for r in rows) == sum(t.amount.amount for t in mine)
    _, head, rows = _export(client, "claims_claim", ClaimResource)
    assert head[:3] == ["赔案号", "合同年度", "参保人（化名）"]
    mine = scope_filter(Claim.objects.all(), user)
    assert len(rows) == mine.count() > 0
    assert not mine.exclude(book__code="CLIC-1405-DB").exists()
    assert sum(Decimal(str(r[10].value)) for r in rows) == sum(c.paid.amount for c in mine)  # 已赔付 in yuan
    _, head, rows = _export(client, "reconciliation_bankline", BankLineResource)
    assert head[:6] == ["银行账户", "账套", "对账单", "行号", "日期", "金额（收+ 付−）"]
    assert rows and {r[1].value for r in rows} <= {"FUND-1405", "CLIC-1405-DB"}
    assert len(rows) == scope_filter(BankLine.objects.all(), user).count()
    assert AuditEvent.objects.filter(action="list_exported", actor="aud14").count() == 3


def test_export_needs_view_permission(demo, client):
    user = user_create(username="aud14", password="Expo-rt-Pass-2019!", role="auditor", regions=["14"], full_name="审计十四")
    user.user_permissions.remove(*Permission.objects.filter(codename="view_premiumtransfer"))
    for group in user.groups.all():
        group.permissions.remove(*Permission.objects.filter(codename="view_premiumtransfer"))
    client.force_login(user)
    assert client.get(reverse("admin:contracts_premiumtransfer_export")).status_code == 403
    assert not AuditEvent.objects.filter(action="list_exported").exists()
