"""Browser tests: the app served by a real HTTP server (werkzeug `make_server` in a thread on a free port) and
Debian's Chromium driven by Playwright for Python. Skipped only when /usr/bin/chromium is absent.

Every page a test opens is watched (`PageWatch`): a Content Security Policy violation, an uncaught JavaScript
error, a console error or a sub-resource (script, style, image…) that fails to load fails the test, whatever the
test itself checks. A failing test leaves a screenshot of each of its pages in `test-artifacts/<test>.png`."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Callable

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 412, "height": 860}
DESKTOP = {"width": 1280, "height": 900}

# Chromium logs every CSP violation to the console; the DOM event says the same with the directive and the
# source, and also fires for violations the console may word differently. Init scripts run outside the page's CSP.
_REPORT_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('Content Security Policy violation: ' + e.effectiveDirective + ' blocked '
                + (e.blockedURI || 'inline code') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""
# Resource types a page needs to look and work right; a 4xx on them is a broken page. (fetch/xhr answers are
# the application's own business: a rejected scan answers 4xx on purpose, and the tests check what it shows.)
_ASSETS = {"script", "stylesheet", "image", "font", "media"}


class PageWatch:
    """Collects what a page reports but a user never sees."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"JavaScript error on {page.url}: {exc}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        text = message.text
        if message.type != "error" or text.startswith("Failed to load resource"):  # resources: see _response
            return
        kind = "CSP violation" if "Content Security Policy" in text else "console error"
        self.problems.append(f"{kind} on {self.page.url}: {text}")

    def _response(self, response) -> None:
        if response.url.endswith("/favicon.ico"):  # asked for by the browser itself, not by our pages
            return
        kind = response.request.resource_type
        if response.status >= 500 or (response.status >= 400 and kind in _ASSETS):
            self.problems.append(f"{response.status} for {kind} {response.url} (page {self.page.url})")


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::")[-1])


def screenshot_all(pages: list, name: str) -> list[Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    saved = []
    for index, page in enumerate(p for p in pages if not p.is_closed()):
        path = ARTIFACTS / (f"{name}.png" if index == 0 else f"{name}-{index + 1}.png")
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception:  # a crashed page: the test's own error says more than a missing picture
            continue
        saved.append(path)
    return saved


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    pages = item.stash.get(_PAGES, None)
    if report.when == "call" and report.failed and pages:
        for path in screenshot_all(pages, artifact_name(item.nodeid)):
            report.sections.append(("screenshot", str(path)))


_PAGES = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def live_server(app):
    """The session's app (its database is already seeded) behind a real server on 127.0.0.1."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def new_page(request, browser) -> Callable[..., object]:
    """`new_page()` → a watched page in a fresh browser context (its own cookies: one person at one browser).

    At the end of the test every page's watch must be empty: no CSP violation, no JavaScript error."""
    contexts, watches = [], []
    pages = request.node.stash.setdefault(_PAGES, [])

    def make(viewport: dict = DESKTOP):
        context = browser.new_context(viewport=viewport, locale="vi-VN", accept_downloads=True)
        context.add_init_script(_REPORT_CSP)
        context.set_default_timeout(10_000)
        page = context.new_page()
        contexts.append(context)
        watches.append(PageWatch(page))
        pages.append(page)
        return page

    yield make
    problems = [problem for watch in watches for problem in watch.problems]
    if problems:
        screenshot_all(pages, artifact_name(request.node.nodeid) + "-watch")
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("the browser reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture()
def page(new_page):
    return new_page(PHONE)  # the reception page is used on a phone or a tablet
