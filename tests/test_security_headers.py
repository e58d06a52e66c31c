"""CSRF on every state-changing request, security headers, cookie flags and the request size limit."""
from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import AuditLog, Location, Organization, User, UserSession
from conftest import DEMO_PASSWORD, csrf_token, get_user
from pages_support import Isolated, dedicated_app, vi


@pytest.fixture()
def as_user(app, as_user):
    return lambda username: Isolated(app, as_user(username))


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _csrf_refused(response) -> None:
    assert response.status_code == 400
    assert vi("The form has expired or was not sent from this site. Reload the page and try again.") in \
        response.get_data(as_text=True)


# --- CSRF ---------------------------------------------------------------------------------------------
def test_login_without_token_is_refused_and_logs_nobody_in(app, ctx):
    client = Isolated(app, app.test_client())
    sessions = _count(UserSession)
    _csrf_refused(client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD}))
    assert _count(UserSession) == sessions
    assert client.get("/admin/").status_code == 302
    # A token from another session does not do either.
    other = app.test_client()
    token = csrf_token(other, "/login")
    _csrf_refused(client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD, "csrf_token": token}))


def test_logout_without_token_is_refused_and_the_session_lives(app, fresh_login, ctx):
    browser = Isolated(app, fresh_login("inspector.q3"))
    _csrf_refused(browser.post("/logout"))
    assert browser.get("/admin/").status_code == 200


def test_admin_writes_without_token_change_nothing(as_user, ctx):
    browser = as_user("admin")
    org = db.session.scalar(select(Organization).order_by(Organization.id.desc()))
    name = f"Không token {secrets.token_hex(3)}"
    _csrf_refused(browser.post("/admin/location/new/", data={"organization": org.id, "name": name}))
    assert _count(Location, Location.name == name) == 0
    before = org.name
    _csrf_refused(browser.post(f"/admin/organization/edit/?id={org.id}", data={"name": name}))
    _csrf_refused(browser.post("/admin/organization/delete/", data={"id": org.id}))
    _csrf_refused(browser.post("/admin/organization/action/", data={"action": "delete", "rowid": [org.id]}))
    db.session.expire_all()
    assert db.session.get(Organization, org.id).name == before
    # A wrong token is no better than none.
    _csrf_refused(browser.post("/admin/location/new/", data={"organization": org.id, "name": name,
                                                           "csrf_token": "forged"}))
    assert _count(Location, Location.name == name) == 0
    assert _count(AuditLog, AuditLog.action == "request.csrf_failed") > 0


def test_registration_without_token_creates_nothing(app, ctx):
    client = Isolated(app, app.test_client())
    name = f"Đăng ký không token {secrets.token_hex(3)}"
    _csrf_refused(client.post("/register", data={"name": name, "tax_code": "0100047516"}))
    assert _count(Organization, Organization.name == name) == 0


def test_forms_carry_a_token(as_user):
    for url in ("/admin/organization/new/", "/admin/location/", "/admin/user/new/"):
        html = as_user("admin").get(url).get_data(as_text=True)
        assert 'name="csrf_token"' in html, url


# --- headers and cookies ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login", "/register", "/admin/", "/admin/organization/",
                                  "/admin/registration_admin/", "/admin/location/new/", "/healthz"])
def test_security_headers(app, as_user, path):
    anonymous = path in ("/login", "/register")
    browser = Isolated(app, app.test_client()) if anonymous else as_user("admin")
    response = browser.get(path)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    if response.mimetype == "text/html":
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce, csp
        html = response.get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts), scripts
        # Inline handlers are blocked by this CSP: a button relying on one silently does nothing. (Flask-Admin's
        # filter links keep an inert `onclick="return false;"`; their behaviour is bound by filters.js.)
        handlers = [h for h in re.findall(r"\son[a-z]+=\"[^\"]*\"", html) if h.strip() != 'onclick="return false;"']
        assert handlers == [], handlers[:3]
        # A fresh nonce per response.
        again = browser.get(path).headers["Content-Security-Policy"]
        assert re.search(r"'nonce-([^']+)'", again).group(1) != nonce.group(1)


def _login_cookie(app) -> str:
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "inspector.q3", "password": DEMO_PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("bo_session=")]
    assert cookies
    return cookies[-1]


def test_session_cookie_flags(app):
    with app.app_context():
        header = _login_cookie(app)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # plain-HTTP default for `make run`


def test_session_cookie_is_secure_when_configured(app, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    with dedicated_app(app) as secure_app:  # read from the environment, as in production
        assert secure_app.config["SESSION_COOKIE_SECURE"] is True
        with secure_app.app_context():
            header = _login_cookie(secure_app)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_request_size_limit(app, ctx):
    assert app.config["MAX_CONTENT_LENGTH"] > 0
    with dedicated_app(app, MAX_CONTENT_LENGTH=4096) as small:
        with small.app_context():
            client = small.test_client()
            token = csrf_token(client, "/login")
            response = client.post("/login", data={"username": "x" * 10_000, "password": "y",
                                                   "csrf_token": token})
            assert response.status_code == 413
            assert vi("The upload is too large.") in response.get_data(as_text=True)
            ok = client.post("/login", data={"username": "nobody", "password": "y", "csrf_token": token})
            assert ok.status_code == 200


def test_admin_session_user_row_is_the_cookie_digest_only(app, ctx):
    """The cookie secret itself is never stored: a database leak gives no live session."""
    with app.app_context():
        header = _login_cookie(app)
    user = get_user("inspector.q3")
    rows = db.session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)).all()
    assert rows and all(len(r) == 64 for r in rows)
    assert not any(r in header for r in rows)
    assert isinstance(user, User)


def test_admin_list_actions_work_without_inline_script(as_user):
    """Bulk actions and delete confirmations are bound by a nonce'd script, not inline handlers."""
    browser = as_user("admin")
    html = browser.get("/admin/registration_admin/").get_data(as_text=True)
    assert 'data-bo-action="approve"' in html and 'data-bo-action="reject"' in html
    html = browser.get("/admin/location/").get_data(as_text=True)
    assert 'data-bo-action="delete"' in html and "data-bo-confirm=" in html
    script = re.search(r'<script nonce="[^"]+" src="(/admin/bo-static/bo_admin\.js[^"]*)"', html)
    assert script, "bo_admin.js is not loaded with the nonce"
    response = browser.get(script.group(1))
    assert response.status_code == 200 and "data-bo-action" in response.get_data(as_text=True)
