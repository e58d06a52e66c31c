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
    assert texts == [app.config["BACKOFFICE_PUBLIC_URL"].rstrip("/") + "/c/" + location.qr_token]
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
