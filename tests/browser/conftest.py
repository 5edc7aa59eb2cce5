"""Browser tests: Debian's Chromium (never a downloaded one) driven by Playwright against pytest-django's
live server. One browser for the session; every sign-in gets a fresh context (own cookies, own viewport)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"]
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 10_000  # a page of this portal that takes longer than this is a failure, not a wait


def _no_static_handler(application):
    return application


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, except for static files: WhiteNoise serves them from the collected,
    fingerprinted files (portal.<hash>.css), as in production. pytest-django's own static handler answers
    /static/ through the finders, which know only the plain names, so every stylesheet and script the
    pages name would be a 404 and the screenshots would show unstyled pages."""
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(addr, start=False)
    server.thread.static_handler = _no_static_handler
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = (f"browser tests need Chromium at {CHROMIUM} (Debian package `chromium`, plus `fonts-noto-cjk`); "
                  "they never download a browser")
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop marked as running in this thread while it lives, which
    # makes Django refuse ORM calls here (fixtures, assertions) — there is no real concurrency, so allow them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class BrowserLog:
    """What went wrong in the pages, whatever the test asserts: script errors and failed static files."""

    def __init__(self):
        self.page_errors: list[str] = []
        self.static: dict[str, int] = {}  # path under /static/ -> last HTTP status
        self.csp_violations: list[str] = []  # what the Content-Security-Policy refused (docs/adr/0018)

    def watch(self, page):
        page.on("pageerror", lambda exc: self.page_errors.append(f"{page.url}: {exc}"))
        page.on("response", self._response)
        page.on("console", lambda message: self._console(page, message))

    def _console(self, page, message):
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_violations.append(f"{page.url}: {message.text}")

    def _response(self, response):
        path = response.url.split("://", 1)[-1].partition("/")[2]
        if path.startswith("static/"):  # by the file's own name, without the fingerprint the manifest adds
            self.static[re.sub(r"\.[0-9a-f]{12}(?=\.[^./]+$)", "", "/" + path.split("?")[0])] = response.status

    @property
    def failed_static(self) -> dict[str, int]:
        return {path: status for path, status in self.static.items() if status >= 400}


@pytest.fixture
def browser_log():
    return BrowserLog()


@pytest.fixture
def sign_in(browser, live_server, browser_log):
    """sign_in(username, viewport=PHONE) -> a page of a fresh context, signed in through the login form."""
    contexts = []

    def sign_in(username: str, viewport: dict = PHONE):
        context = browser.new_context(viewport=viewport, base_url=live_server.url, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        browser_log.watch(page)
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("button.primary")
        assert "/accounts/login/" not in page.url, f"{username} could not sign in"
        return page

    yield sign_in
    for context in contexts:
        context.close()
    # Every page works under the portal's Content-Security-Policy: nothing it refused, in any test.
    assert not browser_log.csp_violations, "\n".join(browser_log.csp_violations)


@pytest.fixture
def screenshot():
    """screenshot(page, name, viewport=None): a full-page PNG in test-artifacts/screenshots/<name>.png,
    after resizing to `viewport` if given (the page is reloaded so layout-once scripts see the new size;
    reload=False keeps a form's typed values — a form page has no such script)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def screenshot(page, name: str, viewport: dict | None = None, ready: str | None = None, reload: bool = True):
        if viewport is not None and viewport != page.viewport_size:
            page.set_viewport_size(viewport)
            if reload:
                page.reload()
        if ready:
            page.wait_for_selector(ready, state="attached")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return screenshot


@pytest.fixture
def findings():
    """Problems a user would meet on the pages (language, phone fit), collected while a test walks on; the
    test calls findings.assert_none() at its end, once every page has been seen."""
    from tests.browser.steps import Findings

    return Findings()
