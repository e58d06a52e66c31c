"""The reception page in headless Chromium: log in as org1.staff, a keyboard-wedge scan (type the text, press
Enter) ends on the full-screen green result; a black one, a tampered code and a text that is no QR code of ours
too; the last scans are listed. Two codes typed back to back as a wedge scanner does are both recorded, staff
read what to do and never a code, an unknown visitor's national text is recorded black and the black screen says
what follows. (The e2e conftest fails the test on any CSP violation or
JavaScript error.)"""
from __future__ import annotations

import secrets

from playwright.sync_api import expect
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import CheckIn, Person
from backoffice.scanning.payload import issue_personal_payload
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
    expect(page.locator("#result-instruction")).to_have_text("Không đủ điều kiện vào")
    result.click()
    expect(scan_input).to_be_focused()

    page.keyboard.type(green[:-3] + "AAA", delay=1)
    page.keyboard.press("Enter")
    expect(result).to_have_class("rc-result rejected")
    expect(page.locator("#result-reason")).to_have_text(
        "Mã QR không phải mã thật — đề nghị khách xuất trình căn cước công dân và mã QR cá nhân.")
    assert "bad_signature" not in result.inner_text()
    page.keyboard.press("Escape")
    expect(scan_input).to_be_focused()

    # Not a QR code of ours nor a national one: rejected as such, and the page keeps working.
    page.keyboard.type("HELLO-1234", delay=1)
    page.keyboard.press("Enter")
    expect(result).to_have_class("rc-result rejected")
    expect(page.locator("#result-reason")).to_contain_text("Đây không phải mã QR cá nhân")
    assert "unknown_prefix" not in result.inner_text()
    assert errors == []


def _checkins(app, person_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.person_id == person_id))


def _rejections(app) -> int:
    from backoffice.models import AuditLog
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "scan.rejected"))


def test_back_to_back_wedge_scans_are_both_recorded(app, live_server, page):
    """With a result on screen the scanner's next code starts the next scan, whole: two codes typed with no pause
    between them (as a wedge scanner sends them) are two scans, the second never cut to `unknown_prefix`."""
    from factories import new_person
    with app.app_context():
        first, second = new_person(), new_person()
        texts, ids = [issue_personal_payload(first), issue_personal_payload(second)], (first.id, second.id)
    rejected_before = _rejections(app)
    login(page, live_server, "org1.staff")
    page.goto(f"{live_server}/reception/")
    expect(page.locator("#scan-input")).to_be_focused()
    page.keyboard.type(texts[0])
    page.keyboard.press("Enter")
    expect(page.locator("#result")).to_have_class("rc-result green")  # the first result is on screen...
    page.keyboard.type(texts[1])  # ...and the next code comes at once
    page.keyboard.press("Enter")
    page.keyboard.type(texts[0])  # and a third while the second is still being checked
    page.keyboard.press("Enter")
    expect(page.locator("#recent li", has_text="×2")).to_have_count(1)
    expect(page.locator("#result")).to_have_class("rc-result green")
    assert (_checkins(app, ids[0]), _checkins(app, ids[1])) == (1, 1)
    assert _rejections(app) == rejected_before  # none was cut into a text the server did not know


def test_unknown_visitor_is_recorded_black(app, live_server, page):
    id_number = "0011" + "".join(secrets.choice("0123456789") for _ in range(8))
    login(page, live_server, "org1.staff")
    page.goto(f"{live_server}/reception/")
    page.keyboard.type(f"{id_number}|Trần Khách Tỉnh Khác|1969-12-01|0||")
    page.keyboard.press("Enter")
    result = page.locator("#result")
    expect(result).to_have_class("rc-result black")
    expect(page.locator("#result-colour")).to_have_text("ĐEN")
    expect(page.locator("#result-name")).to_have_text("TRAN KHACH TINH KHAC")
    expect(page.locator("#result-id")).to_have_text("********" + id_number[-4:])
    expect(page.locator("#result-reason")).to_have_text("Chưa có dữ liệu tiêm chủng")
    expect(page.locator("#result-instruction")).to_have_text("Không đủ điều kiện vào")
    expect(page.locator("#recent li").first).to_contain_text("TRAN KHACH TINH KHAC")
    expect(page.locator("#recent li").first).to_contain_text("Không cho vào")
    with app.app_context():
        visitor = db.session.scalar(select(Person).where(Person.id_number == id_number))
        assert visitor is not None and visitor.declared_at_checkpoint and visitor.ward_code is None
        row = db.session.scalar(select(CheckIn).where(CheckIn.person_id == visitor.id))
        assert (row.status_colour, row.admitted, row.checked_out_at) == ("black", False, row.checked_in_at)
