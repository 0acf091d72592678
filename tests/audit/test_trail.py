"""Who did what and when: postings, reversals, closes, imports with the file's digest, sign-ins;
append-only in the database; exportable for auditors."""

import csv
import hashlib
import io
import json
from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audit.models import AuditEvent
from ledger.models import Period
from ledger.services import Line, entry_draft_post, entry_draft_save, entry_post, entry_reverse, period_close
from tests.conftest import premium_lines
from tests.reconciliation.test_reconcile import BANK_ROWS, _statement, year  # noqa: F401 - fixture


def test_posting_reversal_review_and_close_are_in_the_trail(fund_book, maker, reviewer, posted_premium):
    # Posted at once by a service: the event names the approver, and the preparer in its detail.
    first = AuditEvent.objects.get(action="entry_posted")
    assert (first.actor, first.book_code, first.object_repr.startswith("记-2015-"), first.detail["entries"],
            first.detail["made_by"]) == ("lisi", "FUND-37", True, 1, "zhangsan")
    draft = entry_draft_save(book=fund_book, date=date(2015, 5, 3), memo="拨付二期", lines=premium_lines("64.00"),
                             made_by=maker)
    entry_draft_post(entry=draft, reviewed_by=reviewer)
    reversal = entry_reverse(entry=posted_premium, made_by=maker)
    entry_draft_post(entry=reversal, reviewed_by=reviewer)
    period_close(period=Period.objects.get(book=fund_book, year=2015, month=1), by=reviewer)
    trail = list(AuditEvent.objects.order_by("id").values_list("action", "actor", "book_code"))
    # The book was opened first (建账: prepared by one person, approved by another).
    assert trail[:2] == [("opening_prepared", "opening-maker", "FUND-37"),
                         ("opening_approved", "opening-checker", "FUND-37")]
    assert trail[2:] == [("entry_posted", "lisi", "FUND-37"), ("draft_saved", "zhangsan", "FUND-37"),
                     ("entry_posted", "lisi", "FUND-37"), ("draft_saved", "zhangsan", "FUND-37"),
                     ("entry_reversed", "zhangsan", "FUND-37"), ("entry_posted", "lisi", "FUND-37"),
                     ("period_closed", "lisi", "FUND-37")]
    assert AuditEvent.objects.get(action="entry_reversed").detail == {
        "voucher": posted_premium.voucher, "reversal_draft": reversal.pk}


def test_a_bank_import_is_recorded_with_the_files_digest(year, tmp_path):  # noqa: F811
    from reconciliation.bank import bank_statement_import

    account = year.contract.fund.books.get().accounts.get(code="1004")
    path = _statement(tmp_path, BANK_ROWS)
    bank_statement_import(path=path, account=account, bank="工商银行", year=2019, month=4, opening="200000000.00",
                          closing="64399699.50", by="qian")
    event = AuditEvent.objects.get(action="imported")
    assert event.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (event.actor, event.book_code, event.detail["lines"], event.detail["kind"]) == (
        "qian", account.book.code, 5, "bank statement (CSV)")


def test_sign_ins_and_failed_sign_ins_are_recorded(django_user_model):
    django_user_model.objects.create_user("zhao", password="Zhao-登录-2026!", is_staff=True)
    c = Client()
    c.post("/admin/login/", {"username": "zhao", "password": "wrong-password", "next": "/admin/"},
           REMOTE_ADDR="10.1.2.3")
    c.post("/admin/login/", {"username": "zhao", "password": "Zhao-登录-2026!", "next": "/admin/"},
           REMOTE_ADDR="10.1.2.3")
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor", "outcome", "ip"))
    assert events == [("login_failed", "zhao", "refused", "10.1.2.3"), ("login", "zhao", "ok", "10.1.2.3")]
    assert "wrong-password" not in str(list(AuditEvent.objects.values()))


def test_the_trail_exports_as_csv_for_excel(fund_book, posted_premium, admin_client, signed):
    events = AuditEvent.objects.filter(action="entry_posted")
    response = admin_client.post("/admin/audit/auditevent/", {
        "action": "export_csv", "_selected_action": [e.pk for e in events]})
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:4] == ["时间", "操作人", "操作", "结果"]
    assert rows[1][1:4] == ["lisi", "凭证记账", "已完成"] and rows[1][7] == "FUND-37"
    # The export itself is in the trail.
    assert AuditEvent.objects.filter(action="report_downloaded", actor="admin").exists()
    # "Select all" on a filtered list exports every event the filter shows, and only those.
    entry_post(book=fund_book, date=date(2015, 5, 8), memo="拨付三期", lines=premium_lines("8.00"), source="import",
               **signed)
    response = admin_client.post("/admin/audit/auditevent/?action__exact=entry_posted", {
        "action": "export_csv", "select_across": "1", "_selected_action": [events[0].pk]})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r[1], r[2], r[7]) for r in rows[1:]] == [("lisi", "凭证记账", "FUND-37"), ("lisi", "凭证记账", "FUND-37")]
    assert json.loads(rows[2][10]) == {"entries": 1, "source": "import", "first": "记-2015-05-0001",
                                       "last": "记-2015-05-0001", "made_by": "zhangsan"}
    # A name typed at the sign-in page reaches Excel as text, never as a formula.
    Client().post("/admin/login/", {"username": "=HYPERLINK(\"http://x\")", "password": "x"})
    response = admin_client.post("/admin/audit/auditevent/?action__exact=login_failed", {
        "action": "export_csv", "select_across": "1", "_selected_action": [events[0].pk]})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [("'=HYPERLINK(\"http://x\")", "登录失败", "已拒绝")]


def test_nobody_changes_or_deletes_an_event_not_even_with_sql(fund_book, posted_premium, admin_client):
    event = AuditEvent.objects.get(action="entry_posted")
    tampered = AuditEvent.objects.get(pk=event.pk)
    tampered.actor = "someone else"
    for attempt in (lambda: AuditEvent.objects.filter(pk=event.pk).update(actor="someone else"),
                    lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
                    tampered.save, AuditEvent.objects.get(pk=event.pk).delete):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    for sql in ("UPDATE audit_auditevent SET actor = 'someone else', book_code = ''", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    event.refresh_from_db()
    assert event.actor == "lisi"
    # The admin offers no add, change or delete either.
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_batch_import_is_one_event_not_one_per_voucher(fund_book, signed):
    from ledger.services import EntrySpec, entries_post_many

    entries_post_many(book=fund_book, entries=[
        EntrySpec(date(2015, 3, d), [Line("5101", debit="1.00"), Line("1004", credit="1.00")], f"第{d}笔")
        for d in range(1, 21)], source="import", **signed)
    event = AuditEvent.objects.exclude(action__startswith="opening_").get()
    assert (event.action, event.actor, event.detail["entries"], event.detail["first"], event.detail["last"],
            event.detail["made_by"]) == ("entries_posted", "lisi", 20, "记-2015-03-0001", "记-2015-03-0020", "zhangsan")


def test_a_year_close_and_a_sign_out_are_recorded(fund_book, reviewer):
    from ledger.services import year_close

    year_close(book=fund_book, year=2015, by=reviewer)
    reviewer.is_staff = True  # the admin signs out staff only
    reviewer.save(update_fields=["is_staff"])
    c = Client()
    c.force_login(reviewer)
    c.post("/admin/logout/", REMOTE_ADDR="10.9.8.7")
    closed, signed_in, out = AuditEvent.objects.exclude(action__startswith="opening_").order_by("id")
    assert (closed.action, closed.actor, closed.book_code, closed.object_type, closed.detail) == (
        "year_closed", "lisi", "FUND-37", "accounts.book", {"year": 2015})
    assert (signed_in.action, signed_in.actor) == ("login", "lisi")
    assert (out.action, out.actor, out.outcome, out.ip) == ("logout", "lisi", "ok", "10.9.8.7")


def test_bank_matching_is_one_event_per_run_and_unmatching_names_who(year, tmp_path):  # noqa: F811
    from reconciliation.bank import bank_match_auto, bank_statement_import, bank_unmatch
    from reconciliation.models import BankLine

    account = year.contract.fund.books.get().accounts.get(code="1004")
    statement = bank_statement_import(path=_statement(tmp_path, BANK_ROWS), account=account, bank="工商银行",
                                      year=2019, month=4, opening="200000000.00", closing="64399699.50")
    assert bank_match_auto(statement=statement) == 3
    assert bank_match_auto(statement=statement) == 0  # nothing left to pair: nothing recorded
    bank_unmatch(line=BankLine.objects.get(reference="JC-T1"), by="审核员")
    matched, unmatched = AuditEvent.objects.filter(action__startswith="bank_").order_by("id")
    assert (matched.action, matched.actor, matched.book_code, matched.object_id, matched.detail) == (
        "bank_matched", "auto", account.book.code, str(statement.pk), {"matches": 3, "how": "automatic"})
    assert (unmatched.action, unmatched.actor, unmatched.book_code, unmatched.object_repr) == (
        "bank_unmatched", "审核员", account.book.code, str(BankLine.objects.get(reference="JC-T1")))


def test_a_claims_import_is_recorded_with_its_digest_but_a_dry_run_is_not(tmp_path, jincheng_people):
    from claims.services import claims_import
    from contracts.models import ContractYear
    from tests.claims.test_claims import _row, _write

    contract = ContractYear.objects.get(contract__code="JC-2019", year=2019).contract
    liuyang = jincheng_people["insurer"][0]
    path = _write(tmp_path / "c.csv", [_row("JC-1", "2019-03-10", "8000.00", "0.00"),
                                       _row("JC-2", "2019-06-20", "20000.00", "13500.00")])
    claims_import(path=path, contract=contract, dry_run=True, by=liuyang)
    assert not AuditEvent.objects.filter(action="imported").exists()
    result = claims_import(path=path, contract=contract, by=liuyang)
    event = AuditEvent.objects.get(action="imported")
    assert (event.actor, event.book_code, event.object_id, event.digest) == (
        "clic1405-liuyang", result.batch.book.code, str(result.batch.pk), hashlib.sha256(path.read_bytes()).hexdigest())
    assert event.detail == {"kind": "claims", "file": "c.csv", "rows": 2, "paid": "13500.00"}


# -- the sealed trail ---------------------------------------------------------------------------------

@pytest.fixture
def sealed_trail(db, django_capture_on_commit_callbacks):
    """Three events, each sealed as written and linked into the chain after its commit (checkpointed)."""
    from audit.services import audit_record

    with django_capture_on_commit_callbacks(execute=True):
        for who in ("wang", "li", "zhou"):
            audit_record(action="login", actor=who)
    return list(AuditEvent.objects.order_by("id"))


def _trail_problems():
    from audit.integrity import audit_verify

    return [(p["entry"].split(" ")[0] + " " + p["entry"].split(" ")[1], p["check"], p["found"]) for p in audit_verify()]


def _without_trail_guards():
    """As someone who owns the database would: lift the append-only triggers (raw SQL)."""
    from importlib import import_module

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for name in ("0002_append_only", "0006_sealed_trail"):
        module = import_module(f"audit.migrations.{name}")
        with connection.cursor() as cursor:
            for sql in (module.POSTGRES_DROP if connection.vendor == "postgresql" else module.SQLITE_DROP):
                cursor.execute(sql)
    try:
        module = import_module("audit.migrations.0005_raw_sql_guards")
        with connection.cursor() as cursor:
            for sql in (module.POSTGRES_DROP if connection.vendor == "postgresql" else module.SQLITE_DROP):
                cursor.execute(sql)
    except ModuleNotFoundError:
        pass


def test_a_sealed_trail_verifies_and_its_links_follow_the_commits(sealed_trail):
    from audit.integrity import audit_verify
    from audit.models import AuditChain, AuditLink

    assert audit_verify() == []
    assert [(ln.seq, ln.event_id) for ln in AuditLink.objects.order_by("seq")] == [
        (i, e.pk) for i, e in enumerate(sealed_trail, start=1)]
    assert AuditChain.objects.get().length == 3 and all(e.mac for e in sealed_trail)


def test_an_event_inserted_by_hand_is_found_even_with_the_guards_in_place(sealed_trail):
    # A back-dated sign-in, written straight into the table: it has no seal the key could have made.
    from django.utils import timezone

    from audit.integrity import audit_verify

    at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_auditevent (at, actor, action, outcome, object_type, object_id, object_repr,"
                       " book_code, digest, ip, detail, mac) VALUES (%s, 'nobody', 'login', 'ok', '', '', '', '', '',"
                       " NULL, '{}', %s)", [at, "0" * 64])
    problems = audit_verify(now=timezone.now() + timezone.timedelta(hours=1))
    assert [(p["check"], p["found"]) for p in problems] == [
        ("seal", "changed, or written without the key"), ("chain", "outside the chain")]


def test_an_event_rewritten_or_removed_behind_the_guards_is_found(sealed_trail):
    from audit.integrity import audit_verify

    _without_trail_guards()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor = 'nobody' WHERE id = %s", [sealed_trail[0].pk])
    assert [(p["check"], p["found"]) for p in audit_verify()] == [("seal", "changed, or written without the key")]
    with connection.cursor() as cursor:  # put it back, then cut off the last event and its link
        cursor.execute("UPDATE audit_auditevent SET actor = 'wang' WHERE id = %s", [sealed_trail[0].pk])
        cursor.execute("DELETE FROM audit_auditlink WHERE event_id = %s", [sealed_trail[-1].pk])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [sealed_trail[-1].pk])
        cursor.execute("UPDATE audit_auditchain SET length = 2, head = (SELECT link FROM audit_auditlink WHERE seq = 2)")
    assert [(p["check"], p["expected"]) for p in audit_verify()] == [
        ("chain length", "at least 3 links (the checkpoint)")]
