"""One language for the people who keep the books: every admin page an administrator opens, and every
statement the ledger prints, reads in Chinese (zh-hans) — no English phrase, no internal code.

The check strips scripts, styles, comments, tags (attribute values go with them) and what people typed
into a text box themselves (a benefit policy's definition), then looks for ASCII words of four or more
letters. What may stay ASCII is on ALLOWED, kept short: codes people write themselves (books, accounts,
contracts, benefit policies, user names), units and formats, digests, and the names the scheduler's own
pages choose from (time zones, task names). Anything else is English a user would have to read.
"""

import html
import io
import re
from datetime import date

import pytest
from django.contrib import admin
from django.urls import reverse
from pypdf import PdfReader

ADMIN = "guanliyuan"  # the administrator who walks the pages (their user name is shown in the header)
# What the test's browser sends when it signs in, as the sign-in log (django-axes) records it.
BROWSER = {"HTTP_ACCEPT_LANGUAGE": "zh-hans", "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64)",
           "HTTP_ACCEPT": "text/html"}
SIGN_IN = "/admin/login/"

ALLOWED = [
    re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+-?"),  # codes: FUND-1405, CLIC-1405-DB, JC-2019-T3, SHA-256
    re.compile(r"CNY|PDF|JPEG|CSV|XLSX?|Excel|JSON|MT940|SWIFT|camt\.053|UTF-8|GB18030"),  # units and file formats
    re.compile(r"[0-9a-f]{8,}|[0-9A-F]{16}"),  # digests; the verification code printed on a statement
    re.compile(r"[\w.-]+\.(?:csv|pdf|xlsx|json)"),  # file names people uploaded or downloaded
]
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@/:+-]*")
_LETTERS = re.compile(r"[A-Za-z]{4,}")
_HIDDEN = re.compile(r"<(script|style|textarea)\b.*?</\1>|<!--.*?-->|<[^>]+>", re.S | re.I)


def english(text: str, known: frozenset = frozenset()) -> list[str]:
    """The ASCII words of four or more letters in `text` that are neither on ALLOWED nor `known`."""
    found = []
    for token in _WORD.findall(text):
        token = token.rstrip(".:/")
        if _LETTERS.search(token) and token not in known and not any(a.fullmatch(token) for a in ALLOWED):
            found.append(token)
    return found


def known_names() -> frozenset:
    """Names people gave things in this database (user names, benefit policy codes), what the browser sent
    (the sign-in log shows it), and what the scheduler's pages choose from: time zones (their words) and the
    names of the tasks it can run."""
    from zoneinfo import available_timezones

    from celery import current_app
    from django.contrib.auth import get_user_model

    from claims.models import BenefitPolicy

    zones = {w for tz in available_timezones() for w in tz.replace("_", " ").split()}
    sent = {w.strip("()/;") for v in (*BROWSER.values(), SIGN_IN) for w in v.split()} | {SIGN_IN.strip("/")}
    return frozenset({*get_user_model().objects.values_list("username", flat=True), *sent,
                      *BenefitPolicy.objects.values_list("code", flat=True), *zones, "localtime",
                      *(name for name in current_app.tasks if not name.startswith("celery."))})


def visible(page: str) -> str:
    return html.unescape(_HIDDEN.sub(" ", page))


@pytest.fixture
def demo(db, tmp_path):
    from reconciliation.demo import demo_all

    demo_all(tmp_path)


@pytest.fixture
def shown(demo, tmp_path):
    """The demo books, and what else an administrator finds in the admin: the published benefit policies,
    a statement issued, a deadline missed."""
    from accounts.models import Book
    from claims.policies import policies_load
    from reconciliation.services import deadlines_check
    from reports.services import report_issue

    policies_load()
    report_issue(kind="trial-balance", book=Book.objects.get(code="FUND-1405"), year=2019, month=None,
                 out=tmp_path / "tb.pdf", by="jc-limin")
    deadlines_check(today=date(2025, 7, 1))


@pytest.fixture
def browser(client, shown):
    from access.services import user_create

    password = "Zhang-Hu-7391-qiu!"
    user_create(username=ADMIN, password=password, role="administrator", full_name="管理员")
    client.cookies["django_language"] = "zh-hans"
    client.defaults.update(BROWSER)
    signed_in = client.post(f"{SIGN_IN}?next=/admin/", {"username": ADMIN, "password": password})
    assert signed_in.status_code == 302, signed_in.content.decode()[:2000]
    return client


def _custom_urls(model_admin, pk, contract_year_pk) -> list[str]:
    """The admin's own pages (get_urls beyond Django's five), with the first object's id filled in."""
    standard = ("_changelist", "_add", "_history", "_delete", "_change")
    opts = model_admin.model._meta
    base = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    urls = []
    for pattern in model_admin.get_urls():
        name = getattr(pattern, "name", None) or ""
        if not name or name.endswith(standard):
            continue
        route = str(pattern.pattern)
        route = route.replace("<int:pk>", str(pk)).replace("<int:cy>", str(contract_year_pk))
        if "<" not in route:
            urls.append(base + route)
    return urls


def _pages(browser) -> list[tuple[str, str]]:
    """(url, visible text) of the index, every registered model's changelist, add page, first object's
    page and its admin's own pages; what redirects is followed to the page it lands on."""
    from contracts.models import ContractYear

    cy = ContractYear.objects.order_by("pk").first()
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{name}_changelist"))
        urls.append(reverse(f"{name}_add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"{name}_change", args=[first.pk]))
        urls += _custom_urls(model_admin, first.pk if first is not None else 0, cy.pk)
    pages = []
    for url in urls:
        response = browser.get(url, follow=True)
        if response.status_code in (403, 404, 405):  # not for an administrator, nothing there, or POST only
            continue
        assert response.status_code == 200, url
        if "text/html" in response.get("Content-Type", ""):
            pages.append((url, visible(response.content.decode())))
    return pages


def test_every_admin_page_reads_in_chinese(browser):
    pages = _pages(browser)
    assert len(pages) > 60
    known = known_names()
    found = {url: sorted(set(words)) for url, text in pages if (words := english(text, known))}
    assert not found, "\n".join(f"{url}: {' '.join(words)}" for url, words in found.items())


def test_a_refusal_reads_in_chinese(shown):
    """A refused payment names where, what, what was expected and what was found, in the user's language —
    not "transfer JC-2019-T3-补: against — expected a contract year or one obligation, found both or neither"."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from contracts.models import ContractYear

    accountant = Client(**BROWSER)  # 李敏, the Jincheng fund's accountant, who records payments
    accountant.force_login(get_user_model().objects.get(username="jc-limin"))
    cy = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    page = accountant.post(reverse("admin:contracts_premiumtransfer_add"), {
        "reference": "JC-2019-T3-补", "contract_year": cy.pk, "obligation": cy.obligations.first().pk,
        "insurer": cy.contract.insurer.pk, "amount_0": "100.00", "amount_1": "CNY", "paid_on": "2019-10-08"})
    text = visible(page.content.decode())
    assert "保费划拨 JC-2019-T3-补：划拨对象 —— 应为一个合同年度或一项划拨义务（二者选一），实为两者都填或都未填" in text, text
    assert not english(text, known_names()), english(text, known_names())


def test_a_refused_action_reads_in_chinese(browser):
    """A refused admin action says so in the user's language."""
    from contracts.models import PremiumTransfer

    t = PremiumTransfer.objects.get(reference="SD-2015-T1")  # both its vouchers posted: nothing awaits review
    page = browser.post(reverse("admin:contracts_premiumtransfer_changelist"),
                        {"action": "approve", "_selected_action": [t.pk]}, follow=True).content.decode()
    text = visible(page)
    assert "保费划拨 SD-2015-T1：状态 —— 应为本划拨中待您审核的凭证" in text, text
    assert not english(text, known_names()), english(text, known_names())


def test_every_statement_prints_in_chinese(demo, tmp_path):
    from accounts.models import Book
    from reports.registry import KINDS
    from reports.services import report_issue

    # Each kind on a demo book that has what it shows (a month for the monthly ones).
    cases = {"trial-balance": ("FUND-1405", 2019, None), "ledger": ("CLIC-1405-DB", 2019, 6),
             "general-ledger": ("FUND-1405", 2019, None), "cash-journal": ("CLIC-1405-DB", 2019, 6),
             "vouchers": ("FUND-37", 2015, None), "premium-status": ("FUND-1405", 2019, None),
             "settlement": ("FUND-1405", 2019, None), "operations": ("CLIC-1405-DB", 2019, None),
             "bank-reconciliation": ("FUND-1405", 2019, 4), "province": ("FUND-37", 2015, None)}
    assert set(cases) == set(KINDS), "a new statement kind needs its case here"
    found = {}
    for kind, (code, year, month) in cases.items():
        out = tmp_path / f"{kind}.pdf"
        report_issue(kind=kind, book=Book.objects.get(code=code), year=year, month=month, out=out, by="测试")
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages[:40])
        if words := english(text):
            found[kind] = sorted(set(words))
    assert not found, "\n".join(f"{kind}: {' '.join(words)}" for kind, words in found.items())


def test_the_check_finds_english():
    assert english("BankLine object (1)") == ["BankLine", "object"]
    assert english("账套 FUND-1405 的凭证 JC-2019-T3-补，SHA-256 1f2e3d4c5b6a7980，jc-limin",
                   known=frozenset({"jc-limin"})) == []
    assert english("transfer JC-2019-T3: against — expected a contract year") == [
        "transfer", "against", "expected", "contract", "year"]
