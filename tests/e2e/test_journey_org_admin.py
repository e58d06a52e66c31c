"""An organization admin's main jobs in a real browser (org1.admin): add a location, download its poster (a PDF
whose QR, rendered as a viewer would, opens that location's self check-in page), and submit a self-assessment by
filling the form generated from the criteria set, ending on a level with its reasons."""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Assessment, Location, Organization
from tests.e2e.support import download, flash, login, menu, pdf_qr_texts
from conftest import DEMO_PASSWORD
from factories import new_organization_with_admin

pytestmark = pytest.mark.browser


def location_named(app, name: str) -> Location | None:
    with app.app_context():
        location = db.session.scalar(select(Location).where(Location.name == name))
        if location is not None:
            db.session.expunge(location)
        return location


def test_org_admin_adds_a_location_and_downloads_its_poster(app, live_server, new_page):
    name = f"Quầy mang đi {secrets.token_hex(3)}"
    page = new_page()
    login(page, live_server, "org1.admin")

    menu(page, "Tổ chức, doanh nghiệp", "Địa điểm")
    page.locator(".nav-tabs a", has_text="Tạo").click()
    # Their only organization is already chosen; they name the location and save.
    expect(page.locator("#organization option:checked")).to_contain_text("Nhà hàng Bến Nghé Xanh")
    page.fill("#name", name)
    page.fill("#address", "14 Nguyễn Huệ, Quận 1")
    page.locator("input[type=submit]").first.click()
    expect(flash(page)).to_be_visible()
    expect(page.locator("table.model-list")).to_contain_text(name)
    location = location_named(app, name)
    assert location is not None and location.active
    with app.app_context():
        assert db.session.get(Organization, location.organization_id).tax_code == "0100047516"

    menu(page, "Tổ chức, doanh nghiệp", "Mã QR và áp phích")
    row = page.locator(f"#posters tr[data-location='{location.id}']")
    expect(row).to_contain_text(name)
    assert row.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")  # the QR preview shows
    filename, pdf = download(page, row.locator("a", has_text="PDF"))
    assert filename.endswith(".pdf")
    texts = pdf_qr_texts(pdf)
    if texts is None:  # no poppler here: at least a whole PDF of one page
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
        return
    # In development without BACKOFFICE_PUBLIC_URL the poster encodes the address the page was opened with, and
    # the page shows that URL beside the preview.
    assert texts == [live_server + "/c/" + location.qr_token]
    expect(row.locator("code.checkin-url")).to_have_text(texts[0])
    # A visitor's phone opening that QR lands on this location's self check-in page.
    phone = new_page({"width": 390, "height": 800})
    phone.goto(live_server + urlsplit(texts[0]).path)
    expect(phone.locator("body")).to_contain_text(name)


def test_org_admin_submits_a_self_assessment_and_sees_the_level(app, live_server, new_page):
    page = new_page()
    login(page, live_server, "org1.admin")
    menu(page, "Đánh giá", "Tự đánh giá")
    # The set meant for the organization's sector is offered first.
    page.locator("form[action$='/assessment/start']", has=page.locator("input[value=hcm-food-service]")) \
        .locator("button").click()
    form = page.locator("#assessment-form")
    expect(form).to_be_visible()
    # Fill the generated form: the first (best) option of every question, a figure in every number field.
    groups = form.locator("input[type=radio]").evaluate_all("els => [...new Set(els.map(e => e.name))]")
    assert len(groups) >= 5
    for group in groups:
        form.locator(f"input[type=radio][name='{group}']").first.check()
    for field in form.locator("input.form-control").all():
        field.fill("40")
    form.locator("button[name=submit]").click()

    level = page.locator("#assessment-level")
    expect(level).to_be_visible()
    expect(level).to_contain_text("Mức")  # "Level: …" in Vietnamese
    rows = page.locator("#criteria-result tbody tr")
    assert rows.count() >= 10
    reasons = [text.strip() for text in rows.locator("td:nth-child(4)").all_inner_texts()]
    assert all(reasons), "every criterion says why it scored what it scored"
    assessment_id = int(re.search(r"/assessment/(\d+)", page.url).group(1))
    with app.app_context():
        stored = db.session.get(Assessment, assessment_id)
        assert stored.submitted_at is not None and stored.ruleset_id == "hcm-food-service"
        assert level.get_attribute("data-level") == stored.level


def test_new_organization_follows_its_first_steps_and_sets_up_a_scanner(app, live_server, new_page):
    """A new organization's home lists its first steps, each a link, ticked when done; the
    device token is made from the list's Create tab and its page says what to paste, with copy buttons."""
    org_id, username = new_organization_with_admin(app)
    page = new_page()
    login(page, live_server, username, DEMO_PASSWORD)
    steps = page.locator("#first-steps")
    expect(steps).to_contain_text("Bắt đầu: các bước đầu tiên")
    expect(steps.locator("li[data-done=no]")).to_have_count(4)
    expect(page.locator("#assessment-overdue")).to_have_count(0)

    # 1. Add a location, from the step's own link.
    steps.locator("li[data-step=location] a").click()
    page.fill("#name", "Quầy bán hàng")
    page.locator("input[type=submit]").first.click()
    expect(flash(page)).to_be_visible()
    page.goto(live_server + "/admin/")
    expect(page.locator("#first-steps li[data-step=location]")).to_have_attribute("data-done", "yes")

    # 2. Print its poster.
    page.locator("#first-steps li[data-step=poster] a").click()
    location = location_named(app, "Quầy bán hàng")
    assert location is not None and location.organization_id == org_id
    filename, pdf = download(page, page.locator(f"#posters tr[data-location='{location.id}'] a", has_text="PDF"))
    assert filename.endswith(".pdf")
    page.goto(live_server + "/admin/")
    expect(page.locator("#first-steps li[data-step=poster]")).to_have_attribute("data-done", "yes")

    # 3. Add a checkpoint at it.
    page.locator("#first-steps li[data-step=checkpoint] a").click()
    page.fill("#name", "Cửa trước")
    page.locator("input[type=submit]").first.click()
    expect(flash(page)).to_be_visible()
    page.goto(live_server + "/admin/")
    expect(page.locator("#first-steps li[data-step=checkpoint]")).to_have_attribute("data-done", "yes")
    expect(page.locator("#first-steps li[data-step=assessment]")).to_have_attribute("data-done", "no")

    # A scanning device for that checkpoint: the one way in is the list's Create tab.
    menu(page, "Tổ chức, doanh nghiệp", "Thiết bị quét")
    page.locator(".nav-tabs a", has_text="Tạo").click()
    page.fill("#name", "Máy quét cửa trước")
    page.locator("form.col-md-6 button[type=submit]").click()
    expect(page.locator("#device-setup")).to_contain_text("Authorization")
    secret = page.locator("#device-secret").inner_text().strip()
    assert secret.startswith("bod_")
    expect(page.locator("#device-api-url")).to_have_text(live_server + "/api/v1/scans")
    expect(page.locator("#device-header")).to_have_text(f"Authorization: Bearer {secret}")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    button = page.locator("button[data-bo-copy='#device-header']")
    button.click()
    expect(button).to_have_text("Đã sao chép")
    assert page.evaluate("navigator.clipboard.readText()") == f"Authorization: Bearer {secret}"


def test_rotating_a_location_qr_asks_first_and_says_old_posters_stop_working(app, live_server, new_page):
    """"Make a new code" opens a question naming the consequence; Cancel keeps the code."""
    name = f"Kho lạnh {secrets.token_hex(3)}"
    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.tax_code == "0100047516"))
        db.session.add(Location(organization_id=org.id, name=name, address="5 Tôn Đức Thắng"))
        db.session.commit()
    before = location_named(app, name)
    page = new_page()
    login(page, live_server, "org1.admin")
    menu(page, "Tổ chức, doanh nghiệp", "Mã QR và áp phích")
    row = page.locator(f"#posters tr[data-location='{before.id}']")
    row.locator("a", has_text="Tạo mã mới").click()
    expect(page.locator("#rotate-warning")).to_contain_text("sẽ ngừng hoạt động")
    expect(page.locator("#rotate-confirm")).to_contain_text(name)
    page.locator("#rotate-cancel").click()
    expect(page.locator("#posters")).to_be_visible()
    assert location_named(app, name).qr_token == before.qr_token
    page.locator(f"#posters tr[data-location='{before.id}'] a", has_text="Tạo mã mới").click()
    page.locator("#rotate-confirm-button").click()
    expect(flash(page, "warning")).to_contain_text("không còn")
    after = location_named(app, name)
    assert after.qr_token != before.qr_token
    expect(page.locator(f"#posters tr[data-location='{before.id}'] code.checkin-url")).to_have_text(
        live_server + "/c/" + after.qr_token)
