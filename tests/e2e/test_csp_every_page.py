"""CSP on every page, checked in the browser: each demo role opens every entry of its menu (and the city admin
also every model view's create form, first record's details and edit form, and its filter menu); anonymous
visitors open the public pages. The e2e conftest watches each page: any CSP violation reported by Chromium, any
JavaScript error or broken asset fails the test."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Location
from tests.e2e.conftest import _REPORT_CSP, PageWatch
from tests.e2e.support import login

pytestmark = pytest.mark.browser
SKIP = ("/logout", "/lang/")
# One account per role: inspector.q3 and org2.admin see the same pages as inspector.q1 and org1.admin.
ROLES = ["admin", "inspector.q1", "ward.bennghe", "org1.admin", "org1.staff"]


def menu_links(page) -> list[str]:
    """Every address of the top menu, opening each dropdown on the way (a click on a toggle must not run a
    javascript: URL, which the CSP would block and report)."""
    toggles = page.locator("nav .navbar-nav a.dropdown-toggle")
    for index in range(toggles.count()):
        toggles.nth(index).click()
    hrefs = page.locator("nav a[href^='/']").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return sorted({h.split("#")[0] for h in hrefs if not h.startswith(SKIP)})


def open_ok(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url} answered {response and response.status}"


def model_view_pages(page, base: str, list_url: str) -> None:
    """A Flask-Admin list: its filter menu, its create form, its first record's details and edit form."""
    filters = page.locator("a.dropdown-item.filter")
    if filters.count():
        page.locator("a.dropdown-toggle", has_text="Thêm bộ lọc").first.click()
        filters.first.click()
        expect(page.locator("table.filters tr")).to_have_count(1)  # bs4_filters.js added the filter's row
    targets = [page.locator(".nav-tabs a[href*='/new/']"),
               page.locator("table.model-list a[href*='/details/']"),
               page.locator("table.model-list a[href*='/edit/']")]
    hrefs = [t.first.get_attribute("href") for t in targets if t.count()]
    for href in hrefs:
        open_ok(page, base + href)
    page.goto(list_url)


@pytest.mark.parametrize("username", ROLES)
def test_every_page_of_a_role_keeps_to_the_csp(app, live_server, new_page, username):
    page = new_page()
    login(page, live_server, username)
    links = menu_links(page)
    assert len(links) >= (2 if username == "org1.staff" else 5)
    for href in links:
        open_ok(page, live_server + href)
        if username == "admin" and page.locator("table.model-list").count():
            model_view_pages(page, live_server, live_server + href)


def test_public_pages_keep_to_the_csp(app, live_server, new_page):
    with app.app_context():
        token = db.session.scalar(select(Location.qr_token).where(Location.active.is_(True)).limit(1))
    page = new_page({"width": 390, "height": 800})
    open_ok(page, f"{live_server}/login")
    open_ok(page, f"{live_server}/register")
    page.locator("#registration-form button[type=submit]").click()  # empty: the errors show, no script breaks
    expect(page.locator(".invalid-feedback").first).to_be_visible()
    open_ok(page, f"{live_server}/c/{token}")  # a location's self check-in page, from its poster
    open_ok(page, f"{live_server}/guide/")
    response = page.goto(f"{live_server}/no-such-page")
    assert response.status == 404


def test_the_watch_catches_what_the_policy_blocks(live_server, browser):
    """The check above is only worth something if it sees violations: the real login page with its real CSP
    header, plus an inline script and an inline handler of the kind the policy forbids, must be reported."""
    context = browser.new_context()
    context.add_init_script(_REPORT_CSP)
    page = context.new_page()
    watch = PageWatch(page)

    def tamper(route):
        response = route.fetch()
        body = response.text().replace("</body>", '<script>window.injected = 1</script>'
                                                  '<img src="/nothing" onerror="window.injected = 2"></body>')
        route.fulfill(response=response, body=body)

    page.route(f"{live_server}/login", tamper)
    try:
        page.goto(f"{live_server}/login")
        page.wait_for_timeout(200)
        assert page.evaluate("window.injected") is None  # blocked
        assert len([p for p in watch.problems if "CSP violation" in p]) >= 2, watch.problems
    finally:
        context.close()
