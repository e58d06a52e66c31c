"""The city admin's main job in a real browser: an organization registers on the public page, `admin` approves it
in "Registrations to approve" (bulk action with its confirmation), and the organization's new admin logs in."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.demo.seed import BEN_NGHE
from backoffice.domain import OrgStatus
from backoffice.extensions import db
from backoffice.models import Organization, User
from tests.e2e.support import flash, login, menu
from factories import new_tax_code

pytestmark = pytest.mark.browser


def org_by_tax(app, tax_code: str) -> tuple[str | None, list[bool]]:
    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.tax_code == tax_code))
        if org is None:
            return None, []
        admins = db.session.scalars(select(User.active).where(User.organization_id == org.id)).all()
        return org.status, list(admins)


def test_admin_approves_a_registration_and_its_admin_logs_in(app, live_server, new_page):
    tax_code, suffix = new_tax_code("04"), new_tax_code("9")[-6:]
    name, username, password = f"Quán Cà Phê Thử {suffix}", f"e2e.cafe{suffix}", "Cafe-2021-secret"

    # 1. The organization registers on the public page (no login).
    visitor = new_page()
    visitor.goto(f"{live_server}/register")
    form = visitor.locator("#registration-form")
    form.locator("#name").fill(name)
    form.locator("#tax_code").fill(tax_code)
    form.locator("#sector").select_option("food_service")
    form.locator("#address").fill("5 Lê Thánh Tôn")
    form.locator("#ward").select_option(str(BEN_NGHE))
    form.locator("#contact_name").fill("Nguyễn Thị Hoa")
    form.locator("#phone").fill("0903 123 456")
    form.locator("#email").fill(f"hoa{suffix}@example.vn")
    form.locator("#username").fill(username)
    form.locator("#password").fill(password)
    form.locator("#confirm").fill(password)
    form.locator("button[type=submit]").click()
    visitor.wait_for_url(re.compile(r"/login"))
    expect(flash(visitor)).to_contain_text("Đăng ký của bạn đã được tiếp nhận")
    assert org_by_tax(app, tax_code) == (OrgStatus.PENDING.value, [False])
    # Not yet approved: the account cannot log in, and (its password being right) is told why.
    visitor.fill("input[name=username]", username)
    visitor.fill("input[name=password]", password)
    visitor.press("input[name=password]", "Enter")
    expect(visitor.locator(".alert-warning")).to_contain_text("đang chờ quận/huyện duyệt")
    assert "/login" in visitor.url

    # 2. The city admin finds it in "Registrations to approve" and approves it with the bulk action.
    admin = new_page()
    login(admin, live_server, "admin")
    menu(admin, "Tổ chức, doanh nghiệp", "Đăng ký chờ duyệt")
    row = admin.locator("table.model-list tbody tr", has_text=tax_code)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(name)
    row.locator("input.action-checkbox").check()
    admin.click("a.dropdown-toggle:has-text('Với lựa chọn')")
    admin.once("dialog", lambda dialog: dialog.accept())  # "Approve the selected registrations?"
    admin.click("[data-bo-action=approve]")
    expect(flash(admin)).to_contain_text("1")
    expect(admin.locator("table.model-list tbody tr", has_text=tax_code)).to_have_count(0)
    assert org_by_tax(app, tax_code) == (OrgStatus.ACTIVE.value, [True])

    # 3. The organization's admin logs in and lands on their organization's back office.
    login(visitor, live_server, username, password)
    expect(visitor.locator("body")).to_contain_text(name)
    menu(visitor, "Tổ chức, doanh nghiệp", "Tổ chức, doanh nghiệp")
    rows = visitor.locator("table.model-list tbody tr")
    expect(rows).to_have_count(1)  # their scope: their own organization only
    expect(rows).to_contain_text(tax_code)
