"""The reception page in headless Chromium: log in as org1.staff, a keyboard-wedge scan (type the text, press
Enter) ends on the full-screen green result; a black one, a tampered code and a text that is no QR code of ours
too; the last scans are listed. (The e2e conftest fails the test on any CSP violation or JavaScript error.)"""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Person
from backoffice.qr.payload import issue_personal_payload
from tests.conftest import DEMO_PASSWORD, demo_days_ago


def payload_for(app, id_number: str) -> str:
    with app.app_context():
        return issue_personal_payload(db.session.scalar(select(Person).where(Person.id_number == id_number)))


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_keyboard_wedge_scan_ends_on_the_green_screen(app, live_server, page, seed_day):
    green, black = payload_for(app, "079090000001"), payload_for(app, "079190000002")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server, "org1.staff")
    page.goto(f"{live_server}/reception/")
    scan_input = page.locator("#scan-input")
    expect(scan_input).to_be_focused()
    # A hardware scanner types fast into whatever has the focus, then sends Enter.
    page.keyboard.type(green, delay=2)
    page.keyboard.press("Enter")
    result = page.locator("#result")
    expect(result).to_have_class("rc-result green")
    expect(result).to_be_visible()
    expect(page.locator("#result-colour")).to_have_text("XANH")
    expect(page.locator("#result-name")).to_have_text("Nguyễn Văn An")
    expect(page.locator("#result-id")).to_contain_text("********0001")
    expect(page.locator("#result-reason")).to_have_text(f"2 mũi, {demo_days_ago(120, seed_day)} ngày — đã đủ 14 ngày")
    box = result.bounding_box()
    assert box["width"] >= 400 and box["height"] >= 800  # full screen on a phone
    page.keyboard.press("Space")  # any key returns to the input
    expect(result).to_be_hidden()
    expect(scan_input).to_be_focused()
    expect(page.locator("#recent li").first).to_contain_text("Nguyễn Văn An")

    page.keyboard.type(black, delay=1)
    page.keyboard.press("Enter")
    expect(result).to_have_class("rc-result black")
    expect(page.locator("#result-reason")).to_have_text(f"1 mũi, {demo_days_ago(9, seed_day)} ngày — chưa đủ 14 ngày")
    result.click()
    expect(scan_input).to_be_focused()

    page.keyboard.type(green[:-3] + "AAA", delay=1)
    page.keyboard.press("Enter")
    expect(result).to_have_class("rc-result rejected")
    expect(page.locator("#result-note")).to_have_text("bad_signature")
    page.keyboard.press("Escape")
    expect(scan_input).to_be_focused()

    # Not a QR code of ours nor a national one: rejected as such, and the page keeps working.
    page.keyboard.type("HELLO-1234", delay=1)
    page.keyboard.press("Enter")
    expect(result).to_have_class("rc-result rejected")
    expect(page.locator("#result-note")).to_have_text("unknown_prefix")
    assert errors == []
