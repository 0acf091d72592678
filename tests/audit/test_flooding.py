"""Nobody can flood the audit trail from outside: events of requests without a signed-in user are
written one by one up to a limit per address and window (and for all such addresses together), then
counted; the trail gets one summary per address and window saying how many were not written.
Signed-in users' events are never limited."""

import multiprocessing
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent, FloodCounter
from audit.services import audit_flood_summarize

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
ATTACKER = "203.0.113.9"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # A failed sign-in hashes the typed password even for an unknown name (so timing tells nothing);
    # a thousand of them at the production cost would take minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _one_window(settings):
    # Windows start at multiples of their length since 1970: with a ten-minute window, a run that
    # happened to cross one's end would be counted in two. These tests are about one window.
    assert settings.AUDIT_FLOOD_WINDOW_SECONDS == 600  # the default
    settings.AUDIT_FLOOD_WINDOW_SECONDS = 10**9


def _fail_sign_in(client, name):
    response = client.post(LOGIN, {"username": name, "password": "wrong-password", "next": "/admin/"})
    assert response.status_code == 200  # the form again: django-axes locks a name, and each name is new


def _window_ended(settings):
    return timezone.now() + timedelta(seconds=settings.AUDIT_FLOOD_WINDOW_SECONDS)


def _summaries(**filters):
    return list(AuditEvent.objects.filter(action="events_suppressed", **filters).order_by("id"))


def test_a_thousand_failed_sign_ins_from_one_address_write_the_limit_and_one_summary(settings, admin_user):
    assert (settings.AUDIT_FLOOD_PER_SOURCE, settings.AUDIT_FLOOD_ALL_SOURCES) == (20, 500)  # the defaults
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for i in range(1000):
        _fail_sign_in(attacker, f"guess-{i:04d}")
    written = AuditEvent.objects.filter(ip=ATTACKER)
    assert written.count() == 20
    assert list(written.order_by("id").values_list("actor", flat=True)) == [f"guess-{i:04d}" for i in range(20)]
    # While the window lasts, whoever reads the trail is told a flood is being counted.
    auditor = Client()
    auditor.force_login(admin_user)
    page = auditor.get("/admin/audit/auditevent/")
    assert any("980" in str(m) for m in page.context["messages"])
    counter = FloodCounter.objects.get(source=ATTACKER, action="")
    assert (counter.seen, counter.suppressed, counter.summarized) == (1000, 980, False)
    assert _summaries() == []

    assert audit_flood_summarize(now=_window_ended(settings)) == 1
    (summary,) = _summaries()
    assert (summary.actor, summary.outcome, summary.ip, summary.object_repr) == ("system", "refused", ATTACKER, ATTACKER)
    assert {k: summary.detail[k] for k in ("source", "events", "recorded", "suppressed", "by_action")} == {
        "source": ATTACKER, "events": 1000, "recorded": 20, "suppressed": 980, "by_action": {"login_failed": 980}}
    assert summary.get_action_display() == "超出限流的事件（已计数，未逐条记录）"
    assert AuditEvent.objects.filter(ip=ATTACKER).count() == 20 + 1
    # Summed up once: a second run, or the auditor's next look, writes nothing more.
    assert audit_flood_summarize(now=_window_ended(settings)) == 0
    assert len(_summaries()) == 1


def test_one_address_flooding_does_not_silence_another(settings):
    settings.AUDIT_FLOOD_PER_SOURCE = 3
    attacker, colleague = Client(REMOTE_ADDR=ATTACKER), Client(REMOTE_ADDR="10.0.0.5")
    for i in range(10):
        _fail_sign_in(attacker, f"x{i}")
    _fail_sign_in(colleague, "wang")
    assert AuditEvent.objects.filter(ip=ATTACKER).count() == 3
    assert AuditEvent.objects.filter(ip="10.0.0.5").values_list("actor", "action").get() == ("wang", "login_failed")


def test_all_anonymous_sources_together_are_limited_and_every_suppressed_event_is_counted(settings):
    settings.AUDIT_FLOOD_PER_SOURCE, settings.AUDIT_FLOOD_ALL_SOURCES, settings.AUDIT_FLOOD_SUMMARIES = 5, 30, 3
    for a in range(20):  # twenty addresses, each within its own limit
        c = Client(REMOTE_ADDR=f"198.51.100.{a + 1}")
        for i in range(4):
            _fail_sign_in(c, f"a{a}-{i}")
    assert AuditEvent.objects.filter(action="login_failed").count() == 30
    assert FloodCounter.objects.get(source="*", action="").suppressed == 50
    audit_flood_summarize(now=_window_ended(settings))
    summaries = _summaries()
    # Three addresses summed up one by one, the rest in one event: the summaries cannot flood either.
    assert len(summaries) == 4 and summaries[-1].detail["sources"] > 0
    assert sum(s.detail["suppressed"] for s in summaries) == 80 - 30
    assert sum(s.detail["by_action"]["login_failed"] for s in summaries) == 50


def test_signed_in_users_refusals_are_all_recorded(settings, django_user_model):
    settings.AUDIT_FLOOD_PER_SOURCE, settings.AUDIT_FLOOD_ALL_SOURCES = 2, 2
    clerk = django_user_model.objects.create_user("clerk", password="Clerk-登记-2026!", is_staff=True)
    c = Client(REMOTE_ADDR=ATTACKER)
    c.force_login(clerk)
    for _ in range(12):
        assert c.get("/admin/auth/user/").status_code == 403
    refused = AuditEvent.objects.filter(action="access_refused", actor="clerk", ip=ATTACKER)
    assert refused.count() == 12
    assert not FloodCounter.objects.exists()


def test_csrf_failures_and_expired_sessions_from_outside_are_limited(settings):
    settings.AUDIT_FLOOD_PER_SOURCE = 4
    forger = Client(REMOTE_ADDR=ATTACKER, enforce_csrf_checks=True)
    for _ in range(6):
        assert forger.post(LOGIN, {"username": "x", "password": "y"}).status_code == 403
    stale = Client(REMOTE_ADDR=ATTACKER)
    stale.cookies["sessionid"] = "expired-long-ago"
    for _ in range(5):
        assert stale.post("/admin/accounts/region/add/", {"code": "98"}).status_code == 302
    reasons = [e.detail["reason"] for e in AuditEvent.objects.filter(ip=ATTACKER).order_by("id")]
    assert len(reasons) == 4 and all(r.startswith("CSRF") for r in reasons)
    audit_flood_summarize(now=_window_ended(settings))
    (summary,) = _summaries()
    assert (summary.detail["suppressed"], summary.detail["by_action"]) == (7, {"access_refused": 7})


def test_an_ipv6_client_is_counted_by_its_64(settings):
    settings.AUDIT_FLOOD_PER_SOURCE = 3
    for i in range(8):  # a new address of the same /64 for every attempt
        _fail_sign_in(Client(REMOTE_ADDR=f"2001:db8:1:2::{i + 1:x}"), f"v6-{i}")
    _fail_sign_in(Client(REMOTE_ADDR="2001:db8:1:3::1"), "neighbour")  # another /64
    assert AuditEvent.objects.filter(action="login_failed").count() == 3 + 1
    audit_flood_summarize(now=_window_ended(settings))
    (summary,) = _summaries()
    assert (summary.detail["source"], summary.detail["suppressed"], summary.ip) == (
        "2001:db8:1:2::/64", 5, "2001:db8:1:2::")


def test_the_summary_follows_by_itself_once_the_window_has_ended(settings):
    settings.AUDIT_FLOOD_WINDOW_SECONDS, settings.AUDIT_FLOOD_PER_SOURCE = 2, 2
    time.sleep(2 - time.time() % 2)  # start at the beginning of a window
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for i in range(6):
        _fail_sign_in(attacker, f"n{i}")
    assert _summaries() == []
    time.sleep(2 - time.time() % 2 + 0.05)
    # The next event from outside, from anywhere, finds the ended window and sums it up.
    _fail_sign_in(Client(REMOTE_ADDR="10.0.0.5"), "wang")
    (summary,) = _summaries()
    assert (summary.detail["source"], summary.detail["recorded"], summary.detail["suppressed"]) == (ATTACKER, 2, 4)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="processes share the database: PostgreSQL")
def test_worker_processes_share_one_count(settings):
    from .flood_attacker import attack

    settings.AUDIT_FLOOD_PER_SOURCE = 25
    overrides = {name: getattr(settings, name) for name in (
        "AUDIT_FLOOD_PER_SOURCE", "AUDIT_FLOOD_WINDOW_SECONDS", "PASSWORD_HASHERS")}
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=attack, args=(w, 40, results, connection.settings_dict["NAME"], overrides,
                                              ATTACKER, LOGIN)) for w in range(4)]
    for p in procs:
        p.start()
    outcome = []
    try:
        for _ in procs:
            outcome.append(results.get(timeout=240))
    except Exception as exc:
        pytest.fail(f"{exc!r}: children (pid, exit code) {[(p.pid, p.exitcode) for p in procs]}, got {outcome}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert sorted(outcome) == [(w, "ok") for w in range(4)]
    assert AuditEvent.objects.filter(ip=ATTACKER).count() == 25
    audit_flood_summarize(now=_window_ended(settings))
    (summary,) = _summaries()
    assert (summary.detail["events"], summary.detail["suppressed"]) == (160, 135)
