"""`/` is a public home page (what the portal is, where to go next), Vietnamese first, no login
needed, every link a page that exists and answers without logging in (or the login page itself)."""
from __future__ import annotations

import re

from test_i18n import english, html_lang, text_of


def test_home_is_public_and_vietnamese(app):
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 200 and html_lang(response) == "vi"
    text = text_of(response)
    assert "Cổng thông tin hoạt động an toàn" in text and "Đăng ký tổ chức, doanh nghiệp" in text
    assert "Đăng nhập" in text and "Người dân và khách đến liên hệ" in text
    assert "Thông tin cho người dân" not in text  # no placeholder for the residents' pages that do not exist
    links = re.findall(r'href="(/[^"]*)"', response.get_data(as_text=True))
    targets = {h for h in links if not h.startswith("/admin/static") and not h.endswith(".css")}
    assert {"/register", "/login", "/api/v1/keys", "/api/v1/openapi.json"} <= targets
    for href in targets:
        answer = client.get(href)
        # Every link leads somewhere real: the page itself, or (the brand's back office) to the login page.
        assert answer.status_code == 200 or (answer.status_code == 302 and "/login" in answer.location), href


def test_home_in_english_and_for_a_signed_in_user(app, as_user):
    client = app.test_client()
    english(client)
    text = text_of(client.get("/"))
    assert "COVID-19 safe operation portal of Ho Chi Minh City" in text and "Register an organization" in text
    page = as_user("inspector.q1").get("/").get_data(as_text=True)
    assert 'id="home-backoffice"' in page and 'id="home-login"' not in page
