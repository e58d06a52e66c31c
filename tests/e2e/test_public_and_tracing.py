"""In a real browser: the public home page at `/` (anonymous, Vietnamese first,
CSP-clean, its links alive), and the tracing form an inspector opens (confirmation time pre-filled with now in
the city's time, the picker in the page's language). The e2e conftest fails a page on any CSP violation,
JavaScript error or broken asset."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from backoffice.timeutil import LOCAL_TZ
from tests.e2e.support import login

pytestmark = pytest.mark.browser


def test_anonymous_visitor_reads_the_public_home(live_server, new_page):
    page = new_page({"width": 390, "height": 800})
    response = page.goto(f"{live_server}/")
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == "vi"
    expect(page.locator("h1")).to_contain_text("Cổng thông tin hoạt động an toàn")
    expect(page.locator("#home-register")).to_have_text("Đăng ký tổ chức, doanh nghiệp")
    page.locator("#home-register").click()
    expect(page.locator("#registration-form")).to_be_visible()
    page.goto(f"{live_server}/")
    page.locator("#home-login").click()
    expect(page.locator("#login-form")).to_be_visible()
    keys = page.request.get(f"{live_server}/api/v1/keys")
    assert keys.status == 200 and "keys" in keys.json()


def test_tracing_form_starts_at_now_in_city_time(live_server, new_page):
    page = new_page()
    login(page, live_server, "inspector.q1")
    page.goto(f"{live_server}/admin/tracing/")
    field = page.locator("#confirmed_at")
    assert field.get_attribute("type") == "datetime-local" and field.get_attribute("lang") == "vi"
    value = datetime.strptime(field.input_value(), "%Y-%m-%dT%H:%M")
    assert timedelta(0) <= datetime.now(LOCAL_TZ).replace(tzinfo=None) - value < timedelta(minutes=2)
