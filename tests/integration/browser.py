"""A real headless Chromium (Debian's package) driven by Playwright against pytest-django's live server."""

import importlib
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from .requires import need

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# scripts/test gives the SQLite suite its own folder (SCREENSHOTS_DIR): both suites run at once.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(settings.BASE_DIR) / "out" / "screenshots")


def chromium_missing() -> bool:
    return not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM))


@pytest.fixture(scope="session")
def browser():
    need(not chromium_missing(),
         f"Debian's Chromium at {CHROMIUM} (apt-get install chromium chromium-driver; scripts/test installs it)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            yield b
            b.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def _audit_trail_flushable():
    """After a browser test on SQLite, empty the audit trail so the test database can be flushed.

    A transactional test ends with a flush: PostgreSQL truncates, SQLite deletes row by row, and the
    audit trail's triggers (rightly) refuse every DELETE. Sign-ins write events, so lift the guard just
    long enough to empty the table, then put it back.
    """
    yield
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    # The trail's own guards and those of its sealed chain (links and head), lifted and put back together.
    guards = [importlib.import_module(f"audit.migrations.{name}") for name in ("0002_append_only", "0006_sealed_trail")]
    with connection.cursor() as cursor:
        for module in guards:
            for sql in module.SQLITE_DROP:
                cursor.execute(sql)
        for table in ("audit_auditlink", "audit_auditchain", "audit_auditevent"):
            cursor.execute(f"DELETE FROM {table}")
        for module in guards:
            for sql in module.SQLITE:
                cursor.execute(sql)


@pytest.fixture
def new_page(browser, live_server, _audit_trail_flushable):
    """A fresh browser (own cookies) per call: one person at one desk."""
    contexts = []

    def make():
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.base = live_server.url
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(browser, live_server, _audit_trail_flushable):
    """One fresh browser context (own cookies) for the test: Chinese, at a desk's screen size."""
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    page.base = live_server.url
    yield page
    ctx.close()


def sign_in(page, *args) -> None:
    """Fill and submit the real /admin/login/ form, as a person would.

    sign_in(page, live_server, username, password); or sign_in(page, username, password) with a page
    from `page` or `new_page`, which knows its server.
    """
    if len(args) == 3:
        server, username, password = args
        base = getattr(server, "url", server)
    elif len(args) == 2:
        (username, password), base = args, page.base
    else:
        raise TypeError("sign_in(page, live_server, username, password)")
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("input[type=submit]")
    page.wait_for_load_state()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
