"""Who may do what, walked as a matrix: every role against every admin model and report kind.

Shanxi's Jincheng fund (region 14 → 1405) and its insurer China Life Jincheng are in scope;
Shandong, Jiangsu, Jiangxi and Jilin are not. A fund accountant and a reviewer of Shanxi see
the one fund book; China Life Jincheng's accountant sees its insurer book; an auditor of
Shanxi both; the administrator all ten.
"""

from datetime import date

import pytest
from django.contrib import admin
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from access.demo import demo_people_of
from access.services import user_create
from accounts.models import Book
from audit.models import AuditEvent
from contracts.reference import reference_contracts_load
from ledger.models import JournalEntry
from ledger.services import Line, entry_draft_save, entry_post, fiscal_year_open
from reports.registry import KINDS
from tests.conftest import books_opened

PASSWORD = "Ledger-审计-2026!x"
ROLES = {
    "fund_accountant": {"regions": ["14"]},
    "reviewer": {"regions": ["14"]},
    "insurer_accountant": {"insurers": ["CLIC-1405"]},
    "auditor": {"regions": ["14"], "insurers": ["CLIC-1405"]},
    "administrator": {},
}

# How each model reaches the books that decide whether a user sees it (written here independently
# of access.scope, so a wrong rule there shows as a wrong count here).
TO_BOOK = {
    "accounts.fund": ["books", "contracts__insurer__books"],
    "accounts.insurer": ["books", "contracts__fund__books"],
    "accounts.book": ["pk"],
    "accounts.account": ["book"],
    "ledger.period": ["book"],
    "ledger.journalentry": ["book"],
    "ledger.accountbalance": ["book"],
    "contracts.contract": ["fund__books", "insurer__books"],
    "contracts.contractyear": ["contract__fund__books", "contract__insurer__books"],
    "contracts.assessment": ["contract_year__contract__fund__books", "contract_year__contract__insurer__books"],
    "contracts.premiumobligation": ["fund__books", "insurer__books"],
    "contracts.premiumtransfer": ["fund__books", "insurer__books"],
    "claims.claimbatch": ["book"],
    "claims.claim": ["book"],
    "claims.fundadvance": ["fund__books", "insurer__books"],
    "reconciliation.settlement": ["contract_year__contract__fund__books", "contract_year__contract__insurer__books"],
    "reconciliation.deadline": ["contract_year__contract__fund__books", "contract_year__contract__insurer__books"],
    "reconciliation.bankstatement": ["account__book"],
    "reconciliation.bankline": ["statement__account__book"],
    "reports.reportrecord": ["book"],
    "reports.reportjob": ["book"],
}
EVERYONE = {"claims.benefitpolicy", "claims.hospital",  # published rules
            "claims.timelimit", "claims.calendaryear", "claims.calendarday"}


@pytest.fixture
def books(db):
    reference_contracts_load()
    books_opened()
    codes = {}
    for b in Book.objects.all():
        fiscal_year_open(book=b, year=2019)
        codes[b.code] = b
    jincheng_fund = Book.objects.get(fund__code="F-1405")
    jincheng_insurer = Book.objects.get(insurer__code="CLIC-1405")
    shandong = Book.objects.get(fund__code="F-37")
    for b in (jincheng_fund, shandong):
        # Shandong's pool has two insurers (two contracts); the fund's people are the same for both.
        made_by, reviewed_by = demo_people_of(b.fund.contracts.order_by("code").first())["fund"]
        entry_post(book=b, date=date(2019, 1, 1), memo="支出户期初余额", made_by=made_by, reviewed_by=reviewed_by,
                   lines=[Line("1004", debit="1000.00"), Line("3001", credit="1000.00")])
    made_by, reviewed_by = demo_people_of(jincheng_insurer.insurer.contracts.get())["insurer"]
    entry_post(book=jincheng_insurer, date=date(2019, 5, 1), memo="收到保费", made_by=made_by, reviewed_by=reviewed_by,
               lines=[Line("1002", debit="500.00"), Line("6031", credit="500.00")])
    return {"jincheng_fund": jincheng_fund, "jincheng_insurer": jincheng_insurer, "shandong": shandong}


NAMES = {"fund_accountant": "钱会计", "reviewer": "孙审核", "insurer_accountant": "周会计", "auditor": "吴审计",
         "administrator": "郑管理"}


@pytest.fixture
def users(books):
    return {role: user_create(username=role, password=PASSWORD, role=role, full_name=NAMES[role], **scope)
            for role, scope in ROLES.items()}


def _client(user):
    c = Client()
    c.force_login(user)
    return c


def _allowed_books(role, books):
    return {
        "fund_accountant": {books["jincheng_fund"].pk},
        "reviewer": {books["jincheng_fund"].pk},
        "insurer_accountant": {books["jincheng_insurer"].pk},
        "auditor": {books["jincheng_fund"].pk, books["jincheng_insurer"].pk},
        "administrator": set(Book.objects.values_list("pk", flat=True)),
    }[role]


# Regions: the scope's own with everything under them; for an insurer's staff, the regions they serve.
REGIONS = {"fund_accountant": {"14", "1405"}, "reviewer": {"14", "1405"}, "insurer_accountant": {"1405"},
           "auditor": {"14", "1405"}}


def _expected_count(model, role, allowed):
    label = model._meta.label_lower
    if role == "administrator" or label in EVERYONE:
        return model._default_manager.count()
    if label == "accounts.region":
        return len(REGIONS[role])
    if label == "audit.auditevent":  # events of their books, and their own
        codes = Book.objects.filter(pk__in=allowed).values_list("code", flat=True)
        return AuditEvent.objects.filter(Q(book_code__in=codes) | Q(actor=role)).count()
    if label in TO_BOOK:
        q = Q()
        for p in TO_BOOK[label]:
            q |= Q(**{f"{p}__in" if p != "pk" else "pk__in": allowed})
        return model._default_manager.filter(q).distinct().count()
    return 0


@pytest.mark.parametrize("role", list(ROLES))
def test_every_admin_list_shows_only_the_roles_scope(role, users, books):
    c = _client(users[role])
    allowed = _allowed_books(role, books)
    assert Book.objects.count() == 11 and (len(allowed) == 11) == (role == "administrator")  # CLIC-37-DB: 11
    seen = {}
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = c.get(url)
        may_view = model_admin.has_view_or_change_permission(response.wsgi_request)
        if not may_view:
            assert response.status_code == 403, (role, url)
            continue
        assert response.status_code == 200, (role, url, response.status_code)
        count = response.context["cl"].result_count
        assert count == _expected_count(model, role, allowed), (role, model._meta.label_lower)
        seen[model._meta.label_lower] = count
    # Each role reads the books in its scope; what is outside is really there and really hidden.
    assert seen["accounts.book"] == len(allowed)
    assert seen["ledger.journalentry"] == JournalEntry.objects.filter(book__in=allowed).count() > 0
    if role != "administrator":
        assert "auth.user" not in seen and "auth.group" not in seen
        assert JournalEntry.objects.exclude(book__in=allowed).exists()
    assert ("audit.auditevent" in seen) == (role in ("auditor", "administrator"))


ADD = {  # may the role open the add page of …
    "ledger.journalentry": {"fund_accountant", "insurer_accountant", "administrator"},
    "reports.reportjob": {"fund_accountant", "reviewer", "insurer_accountant", "auditor", "administrator"},
    # A payment is recorded by a fund's or an insurer's accountant, for their own side; nobody else.
    "contracts.premiumtransfer": {"fund_accountant", "insurer_accountant"},
    "accounts.book": {"administrator"},
    "accounts.region": {"administrator"},
}


@pytest.mark.parametrize("role", list(ROLES))
def test_add_pages_follow_the_role(role, users):
    c = _client(users[role])
    for label, roles in ADD.items():
        app, model = label.split(".")
        status = c.get(reverse(f"admin:{app}_{model}_add")).status_code
        assert status == (200 if role in roles else 403), (role, label, status)
    if role == "auditor":  # read-only everywhere: no add page at all but the statement request
        for model in admin.site._registry:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
            expected = 200 if model._meta.label_lower == "reports.reportjob" else 403
            assert c.get(url).status_code == expected, url


def test_an_auditor_can_change_nothing(users, books):
    c = _client(users["auditor"])
    entry = JournalEntry.objects.filter(book=books["jincheng_fund"]).first()
    page = c.get(reverse("admin:ledger_journalentry_change", args=[entry.pk])).content.decode()
    assert 'name="_save"' not in page and 'class="deletelink"' not in page and "/reverse/" not in page
    assert c.post(reverse("admin:ledger_journalentry_reverse", args=[entry.pk])).status_code == 403
    assert c.post(reverse("admin:ledger_journalentry_post", args=[entry.pk])).status_code == 403
    assert not JournalEntry.objects.filter(reverses=entry).exists()
    book = books["jincheng_fund"]
    before = book.name
    assert c.post(reverse("admin:accounts_book_change", args=[book.pk]), {"name": "改名"}).status_code == 403
    book.refresh_from_db()
    assert book.name == before


def test_guessing_another_regions_ids_is_refused_and_logged(users, books):
    c = _client(users["fund_accountant"])
    shandong_entry = JournalEntry.objects.filter(book=books["shandong"]).first()
    for url in (reverse("admin:accounts_book_change", args=[books["shandong"].pk]),
                reverse("admin:ledger_journalentry_change", args=[shandong_entry.pk]),
                reverse("admin:accounts_book_trial_balance", args=[books["shandong"].pk]),
                reverse("admin:accounts_book_change", args=[books["jincheng_insurer"].pk])):
        assert c.get(url).status_code == 403, url
    refused = AuditEvent.objects.filter(action="access_refused", actor="fund_accountant", outcome="refused")
    assert refused.count() == 4
    assert {e.detail["path"] for e in refused} >= {reverse("admin:accounts_book_change", args=[books["shandong"].pk])}
    # An id that does not exist is simply not found.
    assert c.get(reverse("admin:accounts_book_change", args=[999999])).status_code in (302, 404)


def test_a_voucher_posted_for_another_regions_book_is_refused_logged_and_not_written(users, books):
    c = _client(users["fund_accountant"])
    before = JournalEntry.objects.count()
    shandong = books["shandong"]
    response = c.post(reverse("admin:ledger_journalentry_add") + f"?book={shandong.pk}", {
        "book": shandong.pk, "date": "2019-06-01", "memo": "伪造：为山东账套记账",
        "postings-TOTAL_FORMS": "2", "postings-INITIAL_FORMS": "0",
        "postings-0-account": shandong.accounts.get(code="5101").pk, "postings-0-debit_0": "10.00",
        "postings-1-account": shandong.accounts.get(code="1004").pk, "postings-1-credit_0": "10.00"})
    assert response.status_code == 403
    assert JournalEntry.objects.count() == before
    assert AuditEvent.objects.filter(action="access_refused", actor="fund_accountant").exists()


def test_a_reviewer_posts_only_in_scope_never_their_own_and_only_once(users, books):
    maker, reviewer = users["fund_accountant"], users["reviewer"]
    draft = entry_draft_save(book=books["jincheng_fund"], date=date(2019, 6, 1), memo="拨付保费",
                             lines=[Line("5101", debit="10.00"), Line("1004", credit="10.00")], made_by=maker)
    shandong_maker = demo_people_of(books["shandong"].fund.contracts.order_by("code").first())["fund"][0]
    other = entry_draft_save(book=books["shandong"], date=date(2019, 6, 1), memo="山东草稿",
                             lines=[Line("5101", debit="10.00"), Line("1004", credit="10.00")], made_by=shandong_maker)
    # The maker may not post (no 审核 right); the reviewer may, once; not another region's draft.
    assert _client(maker).post(reverse("admin:ledger_journalentry_post", args=[draft.pk])).status_code == 403
    rc = _client(reviewer)
    assert rc.post(reverse("admin:ledger_journalentry_post", args=[other.pk])).status_code == 403
    assert rc.post(reverse("admin:ledger_journalentry_post", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert draft.is_posted and draft.reviewed_by == reviewer
    voucher = draft.voucher
    response = rc.post(reverse("admin:ledger_journalentry_post", args=[draft.pk]), follow=True)
    draft.refresh_from_db()
    shown = [str(m) for m in response.context["messages"]]
    assert draft.voucher == voucher and shown[-2:] == [
        f"{voucher} 未能审核记账，凭证保持不变：", f"{voucher}：状态 —— 应为待审核的草稿凭证，实为已记账"]
    second = AuditEvent.objects.get(action="entry_posted", outcome="refused")
    assert second.actor == "reviewer" and "already posted" in second.detail["problems"][0]
    other.refresh_from_db()
    assert not other.is_posted


@pytest.mark.parametrize("role", list(ROLES))
def test_every_report_kind_is_refused_outside_the_scope(role, users, books):
    c = _client(users[role])
    url = reverse("admin:reports_reportrecord_issue")
    for kind in KINDS:
        response = c.post(url, {"kind": kind, "book": books["shandong"].pk, "year": 2019}, follow=True)
        if role != "administrator":
            assert response.status_code == 403, (role, kind)
        elif kind in ("trial-balance", "ledger", "general-ledger", "cash-journal", "vouchers"):
            assert response["Content-Type"] == "application/pdf", kind  # Shandong's 2019 books, rendered
        else:  # no 2019 contract year (premiums, operations), settlement or bank statement in Shandong:
            # the reason is said, nothing rendered
            assert response["Content-Type"].startswith("text/html") and response.context["messages"], kind
    if role != "administrator":
        assert AuditEvent.objects.filter(action="access_refused", actor=role).count() == len(KINDS)


def test_an_auditor_downloads_every_report_kind_in_scope_and_verifies_it(users, books, tmp_path):
    c = _client(users["auditor"])
    for kind in ("settlement", "bank-reconciliation"):  # no settlement drafted, no statement imported yet
        response = c.post(reverse("admin:reports_reportrecord_issue"),
                          {"kind": kind, "book": books["jincheng_fund"].pk, "year": 2019}, follow=True)
        assert response["Content-Type"].startswith("text/html")  # the reason is said, nothing rendered
        assert [str(m) for m in response.context["messages"]]
    kinds = [k for k in KINDS if k not in ("settlement", "bank-reconciliation")]
    for kind in kinds:
        response = c.post(reverse("admin:reports_reportrecord_issue"),
                          {"kind": kind, "book": books["jincheng_fund"].pk, "year": 2019})
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf", kind
        pdf = b"".join(response.streaming_content)
        assert pdf.startswith(b"%PDF")
        path = tmp_path / f"{kind}.pdf"
        path.write_bytes(pdf)
        with open(path, "rb") as f:
            page = c.post(reverse("admin:reports_reportrecord_verify"), {"file": f}).content.decode()
        assert 'id="verify-result"' in page and "✔" in page, kind
    assert AuditEvent.objects.filter(action="report_downloaded", actor="auditor").count() == len(kinds)
    assert AuditEvent.objects.filter(action="report_verified", actor="auditor", outcome="ok").count() == len(kinds)


def test_commands_run_as_a_user_keep_to_their_scope(users, books, tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    def run(*args):
        out = StringIO()
        try:
            call_command(*args, "--json", stdout=out)
            code = 0
        except SystemExit as stop:
            code = stop.code
        return code, json.loads(out.getvalue())

    shandong, jincheng = books["shandong"].code, books["jincheng_fund"].code
    code, payload = run("report", "trial-balance", "--book", shandong, "--year", "2019", "--out",
                        str(tmp_path / "sd.pdf"), "--as", "fund_accountant")
    assert code == 1 and payload["problems"][0]["found"] == "fund_accountant"
    assert not (tmp_path / "sd.pdf").exists()
    code, payload = run("report", "trial-balance", "--book", jincheng, "--year", "2019", "--out",
                        str(tmp_path / "jc.pdf"), "--as", "fund_accountant")
    assert code == 0 and (tmp_path / "jc.pdf").exists()
    code, _ = run("verify_ledger", "--book", jincheng, "--as", "insurer_accountant")
    assert code == 1
    code, payload = run("verify_ledger", "--book", books["jincheng_insurer"].code, "--as", "insurer_accountant")
    assert code == 0 and payload["ok"]
    code, _ = run("verify_report", str(tmp_path / "jc.pdf"), "--as", "insurer_accountant")
    assert code == 1  # a statement of a book they may not read: not even whether it still holds
    refused = AuditEvent.objects.filter(action="access_refused", outcome="refused").order_by("id")
    assert [(e.actor, e.detail["command"]) for e in refused] == [
        ("fund_accountant", "report"), ("insurer_accountant", "verify_ledger"),
        ("insurer_accountant", "verify_report")]
    issued = AuditEvent.objects.get(action="report_issued")
    assert (issued.actor, issued.book_code) == ("fund_accountant", jincheng)
