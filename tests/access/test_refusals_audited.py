"""Every request refused for want of permission is in the audit trail, exactly once: those Django's
admin refuses itself (no add, change or delete permission), those the scope refuses, and forged
admin actions the user is not offered."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from access.services import user_create
from accounts.models import Book
from audit.models import AuditEvent
from contracts.reference import reference_contracts_load
from ledger.models import JournalEntry, Period
from ledger.services import Line, entry_draft_save, fiscal_year_open

PASSWORD = "Ledger-审计-2026!x"


@pytest.fixture
def books(db):
    """Shanxi's Jincheng fund book is in the users' scope, Shandong's is not."""
    reference_contracts_load()
    jincheng, shandong = Book.objects.get(fund__code="F-1405"), Book.objects.get(fund__code="F-37")
    for b in (jincheng, shandong):
        fiscal_year_open(book=b, year=2019)
    return {"jincheng_fund": jincheng, "shandong": shandong}


@pytest.fixture
def users(books):
    names = {"fund_accountant": "王会计", "reviewer": "李审核", "auditor": "孙审计"}
    return {role: user_create(username=role, password=PASSWORD, role=role, regions=["14"], full_name=name)
            for role, name in names.items()}


def _client(user):
    c = Client(REMOTE_ADDR="10.20.30.40")
    c.force_login(user)
    return c


def _refusals(actor):
    return list(AuditEvent.objects.filter(action="access_refused", actor=actor).order_by("id"))


def _chinese_403(response):
    assert response.status_code == 403
    page = response.content.decode()
    assert "请求被拒绝" in page and "已记入审计日志" in page
    return page


@pytest.mark.parametrize("how", ["change", "delete", "add"])
def test_what_djangos_admin_refuses_itself_is_recorded_once(how, users, books):
    book = books["jincheng_fund"]  # in the auditor's scope: only the role stands in the way
    url = {"change": reverse("admin:accounts_book_change", args=[book.pk]),
           "delete": reverse("admin:accounts_book_delete", args=[book.pk]),
           "add": reverse("admin:accounts_book_add")}[how]
    c = _client(users["auditor"])
    response = c.post(url, {"name": "改名", "post": "yes"}) if how != "add" else c.get(url)
    _chinese_403(response)
    (event,) = _refusals("auditor")
    assert (event.outcome, event.ip, event.detail["path"], event.detail["method"]) == (
        "refused", "10.20.30.40", url, "POST" if how != "add" else "GET")
    assert event.detail["reason"] and event.detail["view"] == f"admin:accounts_book_{how}"
    book.refresh_from_db()
    assert book.name != "改名"


def test_a_scope_refusal_is_recorded_once_not_again_by_the_403_handler(users, books):
    c = _client(users["fund_accountant"])
    url = reverse("admin:accounts_book_change", args=[books["shandong"].pk])
    _chinese_403(c.get(url))
    (event,) = _refusals("fund_accountant")
    assert (event.detail["reason"], event.detail["path"], event.detail["object_id"]) == (
        "object outside the user's scope", url, str(books["shandong"].pk))


def test_a_forged_delete_selected_is_refused_and_recorded(users, books):
    book = books["jincheng_fund"]
    c = _client(users["auditor"])
    response = c.post(reverse("admin:accounts_book_changelist"),
                      {"action": "delete_selected", "_selected_action": [book.pk], "post": "yes"})
    _chinese_403(response)
    (event,) = _refusals("auditor")
    assert (event.detail["reason"], event.detail["model"], event.detail["object_id"], event.detail["method"]) == (
        "action delete_selected not offered to the user", "accounts.book", str(book.pk), "POST")
    assert type(book).objects.filter(pk=book.pk).exists()


def test_an_action_of_another_role_or_none_at_all_is_refused(users, books):
    maker = users["fund_accountant"]
    draft = entry_draft_save(book=books["jincheng_fund"], date=date(2019, 6, 1), memo="拨付保费",
                             lines=[Line("5101", debit="10.00"), Line("1004", credit="10.00")], made_by=maker)
    c = _client(maker)
    # Drafts are deleted one by one: the bulk delete is offered to nobody, not even to their maker.
    _chinese_403(c.post(reverse("admin:ledger_journalentry_changelist"),
                        {"action": "delete_selected", "_selected_action": [draft.pk], "post": "yes"}))
    assert JournalEntry.objects.filter(pk=draft.pk).exists()
    period = Period.objects.filter(book=books["jincheng_fund"], year=2019, month=1).get()
    # Closing periods is the reviewer's; an action by a name that does not exist is forged as well.
    for action in ("close_periods", "drop_everything"):
        _chinese_403(c.post(reverse("admin:ledger_period_changelist"),
                            {"action": action, "_selected_action": [period.pk], "index": "0"}))
    period.refresh_from_db()
    assert period.status == "open"
    assert [e.detail["reason"] for e in _refusals("fund_accountant")] == [
        "action delete_selected not offered to the user", "action close_periods not offered to the user",
        "action drop_everything not offered to the user"]


def test_an_offered_action_still_runs_and_no_action_chosen_is_no_refusal(users, books):
    c = _client(users["auditor"])
    url = reverse("admin:audit_auditevent_changelist")
    response = c.post(url, {"action": "", "_selected_action": ["1"]})
    assert response.status_code == 302  # Django's own "no action selected"
    AuditEvent.objects.create(action="login", actor="auditor")
    response = c.post(url, {"action": "export_csv", "select_across": "1", "_selected_action": ["1"]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert _refusals("auditor") == []


def test_a_page_outside_the_role_is_recorded_with_who_asked(users):
    c = _client(users["reviewer"])
    url = reverse("admin:auth_user_changelist")
    _chinese_403(c.get(url))
    (event,) = _refusals("reviewer")
    assert (event.detail["path"], event.detail["method"], event.detail["view"], event.ip) == (
        url, "GET", "admin:auth_user_changelist", "10.20.30.40")
