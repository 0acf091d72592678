"""A real headless Chromium (Debian's package) driven by Playwright against pytest-django's live server."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(settings.BASE_DIR) / "out" / "screenshots"


def chromium_missing() -> bool:
    return not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM))


@pytest.fixture(scope="session")
def browser():
    if chromium_missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Debian's chromium at {CHROMIUM} (scripts/test installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium chromium-driver")
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
def new_page(browser, live_server):
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


def sign_in(page, username: str, password: str) -> None:
    page.goto(f"{page.base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
