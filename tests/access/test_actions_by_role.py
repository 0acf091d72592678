"""Every state-changing admin action and view, tried by every role: allowed, or refused with a 403 and one
audit event and nothing written.

Jincheng (Shanxi) 2019. 李敏 is the fund's accountant (制单, region 14); 张伟 the reviewer (审核) of the fund
and of China Life Jincheng; 刘洋 China Life Jincheng's accountant; 孙审计 an auditor of both; 钱管理 an
administrator. Each action runs against a fresh state for each role (a savepoint rolled back after it).
What a role may try but the books' rules refuse (an administrator confirming a transfer for a side they do
not keep …) is "rule": no 403, a message, nothing written.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pytest
from django.apps import apps
from django.db import transaction
from django.test import Client
from django.urls import reverse

from access.services import user_create
from audit.models import AuditEvent
from claims.models import ClaimBatch
from claims.services import claims_import
from contracts.models import Assessment, ContractYear, PremiumTransfer
from contracts.services import obligations_generate, transfer_record
from ledger.closing import year_end_prepare
from ledger.models import JournalEntry, Period
from ledger.services import Line, entry_draft_save, entry_post, fiscal_year_open
from reconciliation.bank import bank_match_auto, bank_statement_import
from reconciliation.models import BankFormat, BankLine, Settlement
from reconciliation.services import settlement_draft, settlement_review
from tests.claims.test_claims import _row, _write
from tests.conftest import books_opened
from tests.reconciliation.test_reconcile import BANK_ROWS, ICBC, _statement

PASSWORD = "Ledger-审计-2026!x"
F, R, I, A, M = "fund_accountant", "reviewer", "insurer_accountant", "auditor", "administrator"  # noqa: E741 - the roles, as the matrix is read
ROLES = (F, R, I, A, M)
NAMES = {F: "李敏", R: "张伟", I: "刘洋", A: "孙审计", M: "钱管理"}
SCOPES = {F: {"regions": ["14"]}, R: {"regions": ["14"], "insurers": ["CLIC-1405"]}, I: {"insurers": ["CLIC-1405"]},
          A: {"regions": ["14"], "insurers": ["CLIC-1405"]}, M: {}}
QUIET = {"audit.auditevent", "audit.floodcounter", "sessions.session", "axes.accessattempt", "axes.accesslog",
         "axes.accessfailurelog"}


class _Rollback(Exception):
    pass


@dataclass
class World:
    users: dict
    cy: object
    fund_book: object
    insurer_book: object
    posted: object  # a voucher 李敏 prepared and 张伟 posted
    draft: object  # a voucher draft 李敏 prepared


@pytest.fixture
def world(db, tmp_path):
    from contracts.reference import reference_contracts_load

    reference_contracts_load()
    books_opened()
    users = {role: user_create(username=role, password=PASSWORD, role=role, full_name=NAMES[role], **SCOPES[role])
             for role in ROLES}
    cy = ContractYear.objects.get(contract__code="JC-2019")
    obligations_generate(contract_year=cy)
    fund_book, insurer_book = cy.contract.fund.books.get(), cy.contract.insurer.books.get()
    for b in (fund_book, insurer_book):
        fiscal_year_open(book=b, year=2019)
    posted = entry_post(book=fund_book, date=date(2019, 1, 1), memo="支出户期初余额", made_by=users[F],
                        reviewed_by=users[R], lines=[Line("1004", debit="200000000.00"),
                                                     Line("3001", credit="200000000.00")])
    draft = entry_draft_save(book=fund_book, date=date(2019, 5, 6), memo="拨付草稿", made_by=users[F],
                             lines=[Line("5101", debit="10.00"), Line("1004", credit="10.00")])
    BankFormat.objects.create(name="工商银行", columns=ICBC)
    Assessment.objects.create(contract_year=cy, score=85, assessed_on=date(2020, 4, 20), assessor="晋城市医保局")
    world = World(users, cy, fund_book, insurer_book, posted, draft)
    world.tmp = tmp_path
    return world


def _counts():
    return {m._meta.label_lower: m._default_manager.count() for m in apps.get_models()
            if m._meta.label_lower not in QUIET}


# -- what each action needs, and what it does ---------------------------------------------------------


def _transfer(w, recorder=F):
    return transfer_record(reference="JC-M1", contract_year=w.cy, insurer=w.cy.contract.insurer, amount="1000.00",
                           paid_on=date(2019, 4, 26), user=w.users[recorder])


UNPAID = "保费尚未拨付，经医保局同意按应拨保费结算（测试）"


def _settlement(w, status="draft"):
    # Nothing of the premium is paid in this world: the preparer records her decision to settle anyway.
    s = settlement_draft(contract_year=w.cy, as_of=date(2020, 5, 20), user=w.users[F], unpaid_reason=UNPAID)
    return settlement_review(settlement=s, user=w.users[R]) if status == "reviewed" else s


def _batch(w):
    path = _write(w.tmp / "c.csv", [_row("JC-1", "2019-03-10", "18000.00", "6000.00")])
    return claims_import(path=path, contract=w.cy.contract, by=w.users[I]).batch


def _statement_matched(w):
    entry_post(book=w.fund_book, date=date(2019, 4, 29), memo="拨付大病保险费（JC-HAND-2）", made_by=w.users[F],
               reviewed_by=w.users[R], lines=[Line("5101", debit="2000000.00"), Line("1004", credit="2000000.00")])
    statement = bank_statement_import(path=_statement(w.tmp, BANK_ROWS), account=w.fund_book.accounts.get(code="1004"),
                                      bank="工商银行", year=2019, month=4, opening="200000000.00",
                                      closing="64399699.50", by=w.users[F])
    bank_match_auto(statement=statement, by="auto")
    return statement


def _line_and_posting(w):
    """A bank line for 2,000,000.00 paid on April 29 and the fund's posting of it, not yet matched."""
    entry = entry_post(book=w.fund_book, date=date(2019, 4, 29), memo="拨付大病保险费", made_by=w.users[F],
                       reviewed_by=w.users[R], lines=[Line("5101", debit="2000000.00"), Line("1004", credit="2000000.00")])
    statement = bank_statement_import(path=_statement(w.tmp, BANK_ROWS), account=w.fund_book.accounts.get(code="1004"),
                                      bank="工商银行", year=2019, month=4, opening="200000000.00",
                                      closing="64399699.50", by=w.users[F])
    return statement.lines.get(reference="JC-HAND-2"), entry.postings.get(account__code="1004")


def _expense_posted(w) -> bool:
    """The draft gone and a premium payment posted: the year has expenditure for its closing entry to move."""
    JournalEntry.objects.filter(pk=w.draft.pk).delete()
    entry_post(book=w.fund_book, date=date(2019, 4, 26), memo="拨付保费", made_by=w.users[F], reviewed_by=w.users[R],
               lines=[Line("5101", debit="1000.00"), Line("1004", credit="1000.00")])
    return True


def _voucher_form(book, memo="手工凭证"):
    return {"book": book.pk, "date": "2019-05-06", "memo": memo, "postings-TOTAL_FORMS": "2",
            "postings-INITIAL_FORMS": "0", "postings-MIN_NUM_FORMS": "0", "postings-MAX_NUM_FORMS": "1000",
            "postings-0-account": book.accounts.get(code="5101").pk, "postings-0-debit": "10.00",
            "postings-1-account": book.accounts.get(code="1004").pk, "postings-1-credit": "10.00"}


def _action(url, action, ids):
    return lambda c: c.post(url, {"action": action, "_selected_action": [str(i) for i in ids]})


@dataclass
class Case:
    name: str
    setup: Callable  # world -> target
    perform: Callable  # (world, target) -> (client -> response)
    done: Callable  # (world, target, role) -> bool: the change happened
    allowed: frozenset
    rule: frozenset = frozenset()  # offered, but refused by the books' rules (no 403, nothing written)


ENTRIES = "/admin/ledger/journalentry/"
PERIODS = "/admin/ledger/period/"
TRANSFERS = "/admin/contracts/premiumtransfer/"
BATCHES = "/admin/claims/claimbatch/"


def _status(model, pk):
    obj = model._default_manager.filter(pk=pk).first()
    return getattr(obj, "status", None) if obj is not None else "gone"


CASES = [
    Case("voucher add", lambda w: w.fund_book,
         lambda w, b: lambda c: c.post(f"{ENTRIES}add/?book={b.pk}", _voucher_form(b, "新增凭证")),
         lambda w, b, role: JournalEntry.objects.filter(memo="新增凭证").exists(), frozenset({F, M})),
    Case("voucher change", lambda w: w.draft,
         lambda w, d: lambda c: c.post(f"{ENTRIES}{d.pk}/change/", _voucher_form(w.fund_book, "改过的草稿")),
         lambda w, d, role: JournalEntry.objects.get(pk=d.pk).memo == "改过的草稿", frozenset({F})),
    Case("voucher delete", lambda w: w.draft,
         lambda w, d: lambda c: c.post(f"{ENTRIES}{d.pk}/delete/", {"post": "yes"}),
         lambda w, d, role: not JournalEntry.objects.filter(pk=d.pk).exists(), frozenset({F, M})),
    Case("voucher post", lambda w: w.draft, lambda w, d: lambda c: c.post(f"{ENTRIES}{d.pk}/post/"),
         lambda w, d, role: _status(JournalEntry, d.pk) == "posted", frozenset({R, M})),
    Case("voucher post from the list", lambda w: w.draft, lambda w, d: _action(ENTRIES, "post_drafts", [d.pk]),
         lambda w, d, role: _status(JournalEntry, d.pk) == "posted", frozenset({R, M})),
    Case("voucher reverse", lambda w: w.posted, lambda w, e: lambda c: c.post(f"{ENTRIES}{e.pk}/reverse/"),
         lambda w, e, role: JournalEntry.objects.filter(reverses=e, status="draft").exists(), frozenset({F, M})),
    Case("period close", lambda w: Period.objects.get(book=w.fund_book, year=2019, month=3),
         lambda w, p: _action(PERIODS, "close_periods", [p.pk]),
         lambda w, p, role: _status(Period, p.pk) == "closed", frozenset({R, M})),
    Case("period reopen", lambda w: Period.objects.filter(pk=Period.objects.get(
        book=w.fund_book, year=2019, month=3).pk).update(status="closed") and Period.objects.get(
        book=w.fund_book, year=2019, month=3),
         lambda w, p: _action(PERIODS, "reopen_periods", [p.pk]),
         lambda w, p, role: _status(Period, p.pk) == "open", frozenset({R, M})),
    Case("year-end prepare", lambda w: _expense_posted(w) and Period.objects.get(book=w.fund_book, year=2019, month=1),
         lambda w, p: _action(PERIODS, "prepare_year_ends", [p.pk]),
         lambda w, p, role: JournalEntry.objects.filter(idempotency_key="year-end:2019").exists(), frozenset({F, M})),
    Case("year-end close", lambda w: (_expense_posted(w), year_end_prepare(
        book=w.fund_book, year=2019, by=w.users[F]), Period.objects.get(book=w.fund_book, year=2019, month=1))[-1],
         lambda w, p: _action(PERIODS, "close_years", [p.pk]),
         lambda w, p, role: _status(Period, p.pk) == "final", frozenset({R, M})),
    Case("transfer add", lambda w: w.cy,
         lambda w, cy: lambda c: c.post(f"{TRANSFERS}add/", {
             "reference": "JC-ADD", "contract_year": cy.pk, "insurer": cy.contract.insurer.pk, "amount_0": "1.00",
             "amount_1": "CNY", "paid_on": "2019-04-26", "entered_by_side": "insurer"}),
         lambda w, cy, role: PremiumTransfer.objects.filter(reference="JC-ADD").exists(), frozenset({F, I})),
    Case("transfer confirm", lambda w: _transfer(w, F),
         lambda w, t: _action(TRANSFERS, "confirm_own_side", [t.pk]),
         lambda w, t, role: PremiumTransfer.objects.get(pk=t.pk).insurer_entry_id is not None or role == F,
         frozenset({F, I})),
    Case("transfer approve", lambda w: _transfer(w, F), lambda w, t: _action(TRANSFERS, "approve", [t.pk]),
         lambda w, t, role: PremiumTransfer.objects.get(pk=t.pk).fund_confirmed, frozenset({R, M})),
    Case("transfer withdraw", lambda w: _transfer(w, F), lambda w, t: _action(TRANSFERS, "withdraw", [t.pk]),
         lambda w, t, role: not PremiumTransfer.objects.filter(pk=t.pk).exists(), frozenset({F, M}),
         rule=frozenset({I})),
    Case("settlement review", _settlement,
         lambda w, s: lambda c: c.post(reverse("admin:reconciliation_settlement_review", args=[s.pk])),
         lambda w, s, role: _status(Settlement, s.pk) == "reviewed", frozenset({R, M})),
    Case("settlement post", lambda w: _settlement(w, "reviewed"),
         lambda w, s: lambda c: c.post(reverse("admin:reconciliation_settlement_post", args=[s.pk])),
         lambda w, s, role: _status(Settlement, s.pk) == "posted", frozenset({R, M})),
    Case("settlement split", _settlement,
         lambda w, s: lambda c: c.post(reverse("admin:reconciliation_settlement_split", args=[s.pk]),
                                       {"policy_loss": "0.00", "reason": "复核后认定无政策性亏损"}),
         lambda w, s, role: Settlement.objects.get(pk=s.pk).loss_reason == "复核后认定无政策性亏损", frozenset({F, M})),
    Case("settlement delete", _settlement,
         lambda w, s: lambda c: c.post(f"/admin/reconciliation/settlement/{s.pk}/delete/", {"post": "yes"}),
         lambda w, s, role: not Settlement.objects.filter(pk=s.pk).exists(), frozenset({F, M})),
    Case("claims batch approve", _batch, lambda w, b: _action(BATCHES, "approve", [b.pk]),
         lambda w, b, role: _status(ClaimBatch, b.pk) == "posted", frozenset({R, M})),
    Case("claims batch withdraw", _batch, lambda w, b: _action(BATCHES, "withdraw", [b.pk]),
         lambda w, b, role: not ClaimBatch.objects.filter(pk=b.pk).exists(), frozenset({I, M})),
    Case("bank match (automatic)", lambda w: bank_statement_import(
        path=_statement(w.tmp, BANK_ROWS), account=w.fund_book.accounts.get(code="1004"), bank="工商银行",
        year=2019, month=4, opening="200000000.00", closing="64399699.50", by=w.users[F]),
         lambda w, st: _action("/admin/reconciliation/bankstatement/", "auto_match", [st.pk]),
         lambda w, st, role: True, frozenset({F, M})),
    Case("bank match (by hand)", _line_and_posting,
         lambda w, lp: lambda c: c.post(f"/admin/reconciliation/bankline/{lp[0].pk}/change/", {"matched": [lp[1].pk]}),
         lambda w, lp, role: BankLine.objects.get(pk=lp[0].pk).matched.filter(pk=lp[1].pk).exists(), frozenset({F, M})),
    Case("bank unmatch", lambda w: BankLine.objects.filter(statement=_statement_matched(w), matched__isnull=False)
         .first(), lambda w, ln: _action("/admin/reconciliation/bankline/", "unmatch", [ln.pk]),
         lambda w, ln, role: not BankLine.objects.get(pk=ln.pk).matched.exists(), frozenset({F, M})),
    Case("book rename", lambda w: w.fund_book,
         lambda w, b: lambda c: c.post(f"/admin/accounts/book/{b.pk}/change/", {
             "name": "改名", "accounts-TOTAL_FORMS": "0", "accounts-INITIAL_FORMS": "0"}),
         lambda w, b, role: True, frozenset({M})),
    Case("account add", lambda w: w.fund_book,
         lambda w, b: lambda c: c.post("/admin/accounts/account/add/", {
             "book": b.pk, "parent": b.accounts.get(code="1003").pk, "code": "100301", "name": "财政专户—工行"}),
         lambda w, b, role: b.accounts.filter(code="100301").exists(), frozenset({M})),
    Case("account delete", lambda w: w.fund_book.accounts.get(code="1201"),
         lambda w, a: lambda c: c.post(f"/admin/accounts/account/{a.pk}/delete/", {"post": "yes"}),
         lambda w, a, role: True, frozenset({M})),
    Case("audit event delete", lambda w: AuditEvent.objects.order_by("pk").first(),
         lambda w, e: lambda c: c.post(f"/admin/audit/auditevent/{e.pk}/delete/", {"post": "yes"}),
         lambda w, e, role: False, frozenset()),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_role_is_allowed_or_refused_with_a_403_and_one_event(world, case):
    outcome = {}
    for role in ROLES:
        user = world.users[role]
        try:
            with transaction.atomic():
                target = case.setup(world)
                before, events = _counts(), AuditEvent.objects.filter(outcome="refused").count()
                client = Client()
                client.force_login(user)
                response = case.perform(world, target)(client)
                refused = list(AuditEvent.objects.filter(outcome="refused").order_by("pk")[events:])
                if role in case.allowed:
                    assert response.status_code in (200, 302), (case.name, role, response.status_code)
                    assert case.done(world, target, role), (case.name, role, "the change did not happen")
                    assert not refused, (case.name, role, [e.detail for e in refused])
                elif role in case.rule:
                    assert response.status_code in (200, 302), (case.name, role, response.status_code)
                    assert _counts() == before, (case.name, role, "refused by a rule yet something was written")
                else:
                    assert response.status_code == 403, (case.name, role, response.status_code)
                    assert [(e.action, e.actor) for e in refused] == [("access_refused", role)], (case.name, role)
                    assert _counts() == before, (case.name, role, "refused yet something was written")
                outcome[role] = response.status_code
                raise _Rollback
        except _Rollback:
            pass
    assert set(outcome) == set(ROLES)


def test_an_auditor_changes_and_deletes_nothing_anywhere(world):
    # Every registered model's add, change and delete pages, posted by the auditor: each a 403, each recorded.
    from django.contrib import admin

    client = Client()
    client.force_login(world.users[A])
    before = _counts()
    refusals = 0
    for model in admin.site._registry:
        app, name = model._meta.app_label, model._meta.model_name
        obj = model._default_manager.first()
        urls = [reverse(f"admin:{app}_{name}_add")]
        if obj is not None:
            urls += [reverse(f"admin:{app}_{name}_change", args=[obj.pk]),
                     reverse(f"admin:{app}_{name}_delete", args=[obj.pk])]
        for url in urls:
            data = {"post": "yes"} if url.endswith("/delete/") else {"name": "x"}
            status = client.post(url, data).status_code
            if model._meta.label_lower == "reports.reportjob" and url.endswith("/add/"):
                continue  # requesting a statement is the one thing an auditor adds
            assert status == 403, (url, status)
            refusals += 1
    assert _counts() == before
    assert AuditEvent.objects.filter(actor=A, action="access_refused").count() == refusals


@pytest.mark.parametrize("role", ROLES)
def test_the_settle_command_prepares_only_for_the_accountant_or_the_administrator(world, role, capsys):
    from django.core.management import call_command

    try:
        call_command("settle", "JC-2019", "2019", "--as-of", "2020-05-20", "--as", role, "--json",
                     "--unpaid-reason", UNPAID)
        code = 0
    except SystemExit as exc:
        code = exc.code
    made = Settlement.objects.filter(contract_year=world.cy, prepared_by=world.users[role]).exists()
    refused = AuditEvent.objects.filter(action="access_refused", actor=role, outcome="refused").count()
    assert (code, made, refused) == ((0, True, 0) if role in (F, M) else (1, False, 1))
