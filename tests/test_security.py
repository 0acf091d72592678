"""Sign-in and session hygiene: strong passwords, lock-out after failed sign-ins, idle expiry,
CSRF on forms, security headers, and a production configuration `check --deploy` finds clean."""

import os
import secrets
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from audit.models import AuditEvent

LOGIN = "/admin/login/"
GOOD = "Qian-对账-2026!"


@pytest.mark.parametrize("weak", ["short1!Aa", "alllowercaseletters", "12345678901234", "password12345678"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(ValidationError):
        validate_password(weak)


def test_a_long_mixed_password_is_accepted():
    validate_password(GOOD)  # no exception


@pytest.fixture
def qian(django_user_model):
    return django_user_model.objects.create_user("qian", password=GOOD, is_staff=True, is_superuser=True)


def test_the_fifth_failure_locks_the_user_out_even_with_the_right_password(qian):
    c = Client(REMOTE_ADDR="10.0.0.7")
    for _ in range(4):
        assert c.post(LOGIN, {"username": "qian", "password": "wrong"}).status_code == 200  # form again
    locked = c.post(LOGIN, {"username": "qian", "password": "wrong"})
    assert locked.status_code == 429 and "登录已暂时锁定" in locked.content.decode()
    sixth = c.post(LOGIN, {"username": "qian", "password": "wrong"})
    assert sixth.status_code == 429 and "登录已暂时锁定" in sixth.content.decode()
    again = c.post(LOGIN, {"username": "qian", "password": GOOD})
    assert again.status_code == 429 and "_auth_user_id" not in c.session
    assert AuditEvent.objects.filter(action="login_failed", actor="qian").count() >= 5
    # Another address is not locked out by this one's failures.
    other = Client(REMOTE_ADDR="10.0.0.8")
    assert other.post(LOGIN, {"username": "qian", "password": GOOD}).status_code == 302


def test_an_idle_session_expires(qian, settings):
    settings.SESSION_COOKIE_AGE = 3
    c = Client()
    assert c.post(LOGIN, {"username": "qian", "password": GOOD}).status_code == 302
    # Idle time counts, not time since sign-in: each request renews the session.
    for _ in range(2):
        time.sleep(2)
        assert c.get("/admin/").status_code == 200
    time.sleep(4)
    response = c.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    # A change attempted with the expired session: sent to sign in, nothing written, recorded.
    response = c.post("/admin/accounts/region/add/", {"code": "98", "name": "过期", "level": "province"})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    from accounts.models import Region

    assert not Region.objects.filter(code="98").exists()
    event = AuditEvent.objects.get(action="access_refused")
    assert (event.actor, event.detail["reason"]) == ("anonymous", "session expired or signed out")


def test_a_form_posted_without_its_csrf_token_is_refused(qian):
    c = Client(enforce_csrf_checks=True)
    assert c.post(LOGIN, {"username": "qian", "password": GOOD}).status_code == 403
    c.force_login(qian)
    response = c.post("/admin/accounts/region/add/", {"code": "99", "name": "伪造", "level": "province"})
    assert response.status_code == 403
    from accounts.models import Region

    assert not Region.objects.filter(code="99").exists()
    refused = AuditEvent.objects.filter(action="access_refused", outcome="refused").order_by("id")
    assert [e.detail["path"] for e in refused] == [LOGIN, "/admin/accounts/region/add/"]
    assert all(e.detail["reason"].startswith("CSRF") for e in refused) and refused.last().actor == "qian"
    assert "请求被拒绝" in response.content.decode()


def test_pages_carry_the_security_headers(qian):
    c = Client()
    c.force_login(qian)
    response = c.get("/admin/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE and settings.SESSION_COOKIE_HTTPONLY


def test_the_production_configuration_passes_check_deploy(tmp_path):
    from reports.signing import dev_credentials_ensure

    # (The browser tests allow async-unsafe ORM calls in their own process; production never does.)
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "LEDGER_SEAL_KEY")}
    env = {**base, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(60), "PSEUDONYM_KEY": secrets.token_hex(32),
           "ALLOWED_HOSTS": "ledger.example.cn", "DJANGO_SETTINGS_MODULE": "config.settings"}

    def check(**extra):
        return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                              cwd=settings.BASE_DIR, env={**env, **extra}, capture_output=True, text=True)

    # Production refuses to start without the seal key and the institution's signing certificate.
    assert "LEDGER_SEAL_KEY must be set" in check().stderr
    creds = dev_credentials_ensure(tmp_path / "ca")
    signing = {"REPORT_SIGNING_KEY": str(creds["key"]), "REPORT_SIGNING_CERT": str(creds["cert"]),
               "REPORT_TRUST_ROOTS": str(creds["trust_roots"][0])}
    assert "REPORT_SIGNING" in check(LEDGER_SEAL_KEY=secrets.token_urlsafe(48)).stderr
    run = check(LEDGER_SEAL_KEY=secrets.token_urlsafe(48), **signing)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout
