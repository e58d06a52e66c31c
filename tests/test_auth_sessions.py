"""Login, sessions and their end: one message for every failure, a new session on login, and a cookie
that stops working after logout, a password change, deactivation or idle time. Open redirects refused;
logins, failures and denials audited."""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backoffice.auth import service as accounts
from backoffice.extensions import db
from backoffice.models import AuditLog, UserSession
from backoffice.models.base import utcnow
from conftest import DEMO_PASSWORD, csrf_token, get_user
from factories import new_account
from pages_support import Isolated, alerts, vi

PASSWORD = "Kh0ng-doan-duoc-2021"


@pytest.fixture()
def account(app, ctx):
    """A checkpoint staff account of org1 of its own (tests here log it out, change its password…)."""
    return new_account(PASSWORD, "auth", "Auth test")


def client(app):
    return Isolated(app, app.test_client())


def login(browser, username: str, password: str = PASSWORD, next_url: str | None = None, **kwargs):
    token = csrf_token(browser, "/login")
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return browser.post(url, data={"username": username, "password": password, "csrf_token": token}, **kwargs)


def cookie(browser) -> str:
    return browser.get_cookie("bo_session").value


def replay(app, value: str):
    """A new browser presenting a copied cookie."""
    other = client(app)
    other.set_cookie("bo_session", value)
    return other


def _logged_out(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def _session_data(app, value: str) -> dict:
    return app.session_interface.get_signing_serializer(app).loads(value)


# --- one message ----------------------------------------------------------------------------------------
def test_unknown_user_and_wrong_password_get_the_same_answer(app, account):
    unknown = login(client(app), f"nobody.{secrets.token_hex(3)}", PASSWORD)
    wrong = login(client(app), account, PASSWORD + "x")
    assert unknown.status_code == wrong.status_code == 200
    assert alerts(unknown.get_data(as_text=True)) == alerts(wrong.get_data(as_text=True)) == [
        vi("Wrong username or password.")]
    # A deactivated account with the right password answers the same.
    user = get_user(account)
    accounts.set_active(user, False)
    db.session.commit()
    inactive = login(client(app), account, PASSWORD)
    assert alerts(inactive.get_data(as_text=True)) == [vi("Wrong username or password.")]


# --- a new session on login -------------------------------------------------------------------------------
def test_login_starts_a_new_session(app, account):
    browser = client(app)
    csrf_token(browser, "/login")
    # What an attacker may have planted in the victim's anonymous session (fixation) must not survive.
    planted = app.session_interface.get_signing_serializer(app).dumps({"planted": "x", "_user_id": "forged"})
    browser.set_cookie("bo_session", planted)
    before = cookie(browser)
    assert login(browser, account).status_code == 302
    after = cookie(browser)
    assert after != before
    data = _session_data(app, after)
    assert "planted" not in data and data["_user_id"] != "forged"
    # The server-side session is new and tied to this login.
    db.session.expire_all()
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == get_user(account).id))
    assert row is not None and row.revoked_at is None
    assert browser.get("/admin/").status_code == 200
    # Two logins: two different sessions.
    second = client(app)
    login(second, account)
    assert _session_data(app, cookie(second))["_user_id"] != data["_user_id"]


# --- the end of a session ----------------------------------------------------------------------------------
def test_cookie_is_dead_after_logout(app, account):
    browser = client(app)
    login(browser, account)
    copied = cookie(browser)
    token = csrf_token(browser, "/admin/")
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert _logged_out(browser.get("/admin/"))
    assert _logged_out(replay(app, copied).get("/admin/"))


def test_password_change_ends_the_other_sessions(app, account):
    current, other = client(app), client(app)
    login(current, account)
    login(other, account)
    assert other.get("/admin/").status_code == 200
    token = csrf_token(current, "/account/password")
    new = "M4t-khau-moi-2021"
    response = current.post("/account/password", data={"current": PASSWORD, "new": new, "confirm": new,
                                                      "csrf_token": token})
    assert response.status_code == 302
    assert current.get("/admin/").status_code == 200, "the session that changed the password survives"
    assert _logged_out(other.get("/admin/"))
    assert login(client(app), account, new).status_code == 302
    assert login(client(app), account, PASSWORD).status_code == 200


def test_deactivation_by_the_admin_ends_the_session(app, account, as_user):
    browser = client(app)
    login(browser, account)
    copied = cookie(browser)
    assert browser.get("/admin/").status_code == 200
    admin = Isolated(app, as_user("admin"))
    user_id = get_user(account).id
    page = admin.get(f"/admin/user/edit/?id={user_id}").get_data(as_text=True)
    from pages_support import as_multidict, model_form
    data = as_multidict(model_form(page)["fields"], active=None)  # untick "active"
    assert admin.post(f"/admin/user/edit/?id={user_id}", data=data).status_code == 302
    db.session.expire_all()
    assert get_user(account).active is False
    assert _logged_out(browser.get("/admin/"))
    assert _logged_out(replay(app, copied).get("/admin/"))


def test_idle_session_expires(app, account):
    browser = client(app)
    login(browser, account)
    assert browser.get("/admin/").status_code == 200
    user_id = get_user(account).id
    idle = app.config["IDLE_TIMEOUT"]
    db.session.execute(update(UserSession).where(UserSession.user_id == user_id)
                       .values(last_seen_at=utcnow() - idle - timedelta(minutes=1)))
    db.session.commit()
    assert _logged_out(browser.get("/admin/"))
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.revoked_at).where(UserSession.user_id == user_id)) is not None


def test_activity_keeps_a_session_alive(app, account):
    browser = client(app)
    login(browser, account)
    user_id = get_user(account).id
    idle = app.config["IDLE_TIMEOUT"]
    # Seen a little less than the timeout ago: still alive, and the visit moves last_seen_at forward.
    db.session.execute(update(UserSession).where(UserSession.user_id == user_id)
                       .values(last_seen_at=utcnow() - idle + timedelta(minutes=1)))
    db.session.commit()
    assert browser.get("/admin/").status_code == 200
    db.session.expire_all()
    seen = db.session.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == user_id))
    assert utcnow() - seen < timedelta(minutes=1)


# --- redirects after login -----------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
                                    "http:/evil.example", "javascript:alert(1)", "/%09/evil.example",
                                    "/\t/evil.example"])
def test_open_redirect_in_next_is_refused(app, account, target):
    response = login(client(app), account, next_url=None, query_string={"next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    # Same site whatever the browser makes of it: no other host, no scheme-relative or backslash path.
    assert parts.netloc in ("", "localhost") and parts.scheme in ("", "http"), location
    assert not parts.path.startswith("//") and "\\" not in location and "\t" not in location, location


def test_next_to_a_local_page_is_kept(app, account):
    response = login(client(app), account, query_string={"next": "/admin/checkpoint/?page=1"})
    assert response.headers["Location"].endswith("/admin/checkpoint/?page=1")


# --- audit -----------------------------------------------------------------------------------------------------
def test_logins_failures_and_denials_are_audited(app, account):
    def entries(action: str, **where):
        db.session.expire_all()
        stmt = select(AuditLog).where(AuditLog.action == action)
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditLog, key) == value)
        return db.session.scalars(stmt).all()

    login(client(app), account, PASSWORD + "x")
    failed = entries("login.failed", actor_name=account)
    assert failed and failed[-1].after == {"reason": "wrong_password"} and failed[-1].ip
    browser = client(app)
    login(browser, account)
    assert entries("login.success", entity_id=str(get_user(account).id))
    denied_before = len(entries("request.denied", actor_name=account))
    assert browser.get("/admin/organization/").status_code == 403  # checkpoint staff: not its page
    denied = entries("request.denied", actor_name=account)
    assert len(denied) == denied_before + 1 and denied[-1].entity_id == "/admin/organization/"
    token = csrf_token(browser, "/admin/")
    browser.post("/logout", data={"csrf_token": token})
    assert entries("logout", entity_id=str(get_user(account).id))


def test_demo_password_is_the_configured_one(app):
    assert app.config["BACKOFFICE_DEMO_PASSWORD"] == DEMO_PASSWORD
