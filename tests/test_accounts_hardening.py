"""Registration does not tell whether a username exists; an attacker elsewhere
cannot lock a user out; X-Forwarded-For only from trusted proxies; weak passwords refused (zxcvbn); "must change
password" holds on every request; sessions have an absolute lifetime and a Secure cookie outside development."""
from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backoffice.auth import service as accounts
from backoffice.config import from_environment
from backoffice.extensions import db
from backoffice.models import AuditLog, User, UserSession
from backoffice.models.base import utcnow
from conftest import csrf_token, get_user
from factories import new_account, new_tax_code
from pages_support import Isolated, dedicated_app, field_errors, vi

PASSWORD = "Kh0ng-doan-duoc-2021"
WEAK_MESSAGE = ("This password is too easy to guess (a common password, a name, a date or a simple pattern). "
                "Use a longer phrase of several unrelated words.")


@pytest.fixture()
def account(app, ctx):
    return new_account(PASSWORD, "acct", "Hardening test")


def client(app):
    return Isolated(app, app.test_client())


def login(browser, username: str, password: str = PASSWORD, ip: str = "127.0.0.1"):
    token = csrf_token(browser, "/login")
    return browser.post("/login", data={"username": username, "password": password, "csrf_token": token},
                        environ_base={"REMOTE_ADDR": ip})


# --- 1. registration -------------------------------------------------------------------------------------
def _register(app, username: str):
    from backoffice.models import Ward
    ward = db.session.scalar(select(Ward.code).where(Ward.district_code == 760).order_by(Ward.code))
    tag = secrets.token_hex(3)
    data = {"name": f"Cửa hàng Ẩn Danh {tag}", "tax_code": new_tax_code(), "sector": "supermarket",
            "address": "5 Lê Thánh Tôn", "ward": str(ward), "contact_name": "Trần Thị Mai", "phone": "0903 123 456",
            "email": f"mai.{tag}@example.vn", "username": username, "password": "Dang-ky-2021-manh",
            "confirm": "Dang-ky-2021-manh"}
    browser = client(app)
    data["csrf_token"] = csrf_token(browser, "/register")
    return browser.post("/register", data=data), data


def test_registration_answers_the_same_for_a_taken_and_a_free_username(app, ctx):
    before = get_user("org1.admin").password_hash
    taken, taken_data = _register(app, "org1.admin")
    free, _ = _register(app, f"moi.{secrets.token_hex(3)}")
    assert taken.status_code == free.status_code == 302
    assert taken.headers["Location"] == free.headers["Location"]
    # The existing account is untouched; the applicant's account has a derived name, given by the approver.
    db.session.expire_all()
    assert get_user("org1.admin").password_hash == before
    from backoffice.models import Organization
    org = db.session.scalar(select(Organization).where(Organization.tax_code == taken_data["tax_code"]))
    admin = db.session.scalar(select(User).where(User.organization_id == org.id))
    assert admin.username != "org1.admin" and admin.username.startswith("org1.admin.") and not admin.active
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "organization.register",
                                                     AuditLog.entity_id == str(org.id)))
    assert entry.after["requested_username"] == "org1.admin" and entry.after["admin_username"] == admin.username


def test_registration_refuses_a_weak_password_on_its_field(app, ctx):
    response, data = _register(app, f"yeu.{secrets.token_hex(3)}")
    assert response.status_code == 302
    from backoffice.models import Ward
    ward = db.session.scalar(select(Ward.code).where(Ward.district_code == 760).order_by(Ward.code))
    browser = client(app)
    form = dict(data, tax_code=new_tax_code(), username=f"yeu.{secrets.token_hex(3)}", password="12345678",
                confirm="12345678", ward=str(ward), csrf_token=csrf_token(browser, "/register"))
    page = browser.post("/register", data=form)
    assert page.status_code == 200
    assert field_errors(page.get_data(as_text=True)).get("password") == [vi(WEAK_MESSAGE)]


# --- 2. login limits ---------------------------------------------------------------------------------------
LIMITS = {"LOGIN_LIMIT_PER_USER_ADDRESS": "3 per minute", "LOGIN_LIMIT_PER_USERNAME": "6 per minute",
          "LOGIN_LIMIT_PER_IP": "1000 per minute"}


def test_an_attacker_elsewhere_cannot_lock_the_user_out(app, account):
    office = f"10.50.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    with dedicated_app(app, **LIMITS) as limited, limited.app_context():
        assert login(client(limited), account, ip=office).status_code == 302  # the user's usual place
        # From one address the attacker is stopped after 3 failures for this username...
        attacker = "10.60.0.1"
        codes = [login(client(limited), account, "wrong-guess", ip=attacker).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        # ...and from many addresses after the per-username limit.
        codes = [login(client(limited), account, "wrong-guess", ip=f"10.61.0.{i}").status_code for i in range(1, 6)]
        assert codes[-1] == 429
        assert login(client(limited), account, ip="10.62.0.1").status_code == 429  # a new place is slowed too
        # The user, from their own address, still logs in.
        assert login(client(limited), account, ip=office).status_code == 302


def test_successful_logins_do_not_count(app, account):
    with dedicated_app(app, **LIMITS) as limited, limited.app_context():
        codes = [login(client(limited), account, ip="10.63.0.1").status_code for _ in range(5)]
        assert codes == [302] * 5


# --- 3. X-Forwarded-For ------------------------------------------------------------------------------------
@pytest.fixture()
def proxied(app, monkeypatch):
    monkeypatch.setenv("BACKOFFICE_PROXY_COUNT", "1")
    monkeypatch.setenv("BACKOFFICE_TRUSTED_PROXIES", "10.0.0.5, 192.168.10.0/24")
    with dedicated_app(app) as proxied_app:
        from flask import request
        proxied_app.add_url_rule("/_test/address", "test_address", lambda: request.remote_addr or "")
        yield proxied_app


def test_forwarded_for_is_read_from_a_trusted_proxy(proxied):
    browser = proxied.test_client()
    for proxy in ("10.0.0.5", "192.168.10.77"):
        response = browser.get("/_test/address", headers={"X-Forwarded-For": "203.0.113.9"},
                               environ_base={"REMOTE_ADDR": proxy})
        assert response.get_data(as_text=True) == "203.0.113.9"


def test_forwarded_for_from_anyone_else_is_ignored(proxied):
    browser = proxied.test_client()
    response = browser.get("/_test/address", headers={"X-Forwarded-For": "203.0.113.9"},
                           environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.get_data(as_text=True) == "198.51.100.7"


# --- 4. weak passwords ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("weak", ["12345678", "password", "demo-2021", "covid-2021", "Password1", "qwertyuiop"])
def test_weak_passwords_are_refused(ctx, weak):
    with pytest.raises(accounts.AccountError) as refused:
        accounts.check_password_strength(weak, "someone")
    assert refused.value.field == "new"


def test_the_users_own_words_count_as_guesses(ctx):
    with pytest.raises(accounts.AccountError):
        accounts.check_password_strength("tranthimai1990", "mai.tran", "Trần Thị Mai", "tranthimai@example.vn")
    accounts.check_password_strength("Kh0ng-doan-duoc-2021", "mai.tran", "Trần Thị Mai")


def test_every_path_goes_through_the_policy(app, account, as_user):
    with pytest.raises(accounts.AccountError):
        accounts.create_user(f"weak.{secrets.token_hex(3)}", "password", "city_admin")
    with pytest.raises(accounts.AccountError):
        accounts.set_password(get_user(account), "12345678")
    db.session.rollback()
    # Own change of password: the page says why, in Vietnamese.
    browser = client(app)
    login(browser, account)
    token = csrf_token(browser, "/account/password")
    page = browser.post("/account/password", data={"current": PASSWORD, "new": "password1", "confirm": "password1",
                                                   "csrf_token": token})
    assert page.status_code == 200
    assert vi(WEAK_MESSAGE) in page.get_data(as_text=True)
    # An administrator creating a user in the admin.
    admin = Isolated(app, as_user("admin"))
    username = f"adm.{secrets.token_hex(3)}"
    response = admin.post_form("/admin/user/new/", data={"username": username, "full_name": "Yếu", "role": "city_admin",
                                                         "new_password": "demo-2021", "active": "y"},
                               token_from="/admin/user/new/")
    assert response.status_code == 200
    db.session.expire_all()
    assert get_user(username) is None


# --- 5. must change password --------------------------------------------------------------------------------
def test_must_change_password_holds_on_every_request(app, ctx):
    username = f"must.{secrets.token_hex(3)}"
    accounts.create_user(username, PASSWORD, "city_admin", must_change_password=True)
    browser = client(app)
    assert login(browser, username).headers["Location"].endswith("/account/password")
    for path in ("/admin/", "/admin/person/", "/admin/user/", "/guide/"):
        response = browser.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/password"), path
    api = browser.get("/reception/recent", headers={"Accept": "application/json"})
    assert api.status_code == 403
    assert api.get_json()["error"]["code"] == "password_change_required"
    assert api.get_json()["error"]["message"] == vi("You must change your password before you can continue.")
    assert browser.get("/static/backoffice.css").status_code == 200
    assert browser.get("/account/password").status_code == 200
    new = "M4t-khau-moi-that-dai"
    token = csrf_token(browser, "/account/password")
    assert browser.post("/account/password", data={"current": PASSWORD, "new": new, "confirm": new,
                                                   "csrf_token": token}).status_code == 302
    assert browser.get("/admin/").status_code == 200


def test_logout_is_allowed_before_the_change(app, ctx):
    username = f"must.{secrets.token_hex(3)}"
    accounts.create_user(username, PASSWORD, "city_admin", must_change_password=True)
    browser = client(app)
    login(browser, username)
    token = csrf_token(browser, "/account/password")
    response = browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- 6. sessions ---------------------------------------------------------------------------------------------
def test_a_session_ends_after_its_absolute_lifetime_even_if_active(app, account):
    browser = client(app)
    login(browser, account)
    assert browser.get("/admin/").status_code == 200
    user_id = get_user(account).id
    lifetime = app.config["SESSION_ABSOLUTE_LIFETIME"]
    assert lifetime == timedelta(hours=12)
    db.session.execute(update(UserSession).where(UserSession.user_id == user_id)
                       .values(created_at=utcnow() - lifetime - timedelta(minutes=1), last_seen_at=utcnow()))
    db.session.commit()
    response = browser.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_cookie_is_secure_by_default_outside_development(monkeypatch, tmp_path):
    for name in ("SESSION_COOKIE_SECURE", "FLASK_DEBUG", "BACKOFFICE_ENV"):
        monkeypatch.delenv(name, raising=False)
    config = from_environment(str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    monkeypatch.setenv("BACKOFFICE_ENV", "development")
    assert from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    monkeypatch.delenv("BACKOFFICE_ENV")
    assert from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is False


def test_a_production_app_sends_a_secure_cookie(app, monkeypatch):
    for name in ("SESSION_COOKIE_SECURE", "FLASK_DEBUG", "BACKOFFICE_ENV"):
        monkeypatch.delenv(name, raising=False)
    with dedicated_app(app, TESTING=False) as production, production.app_context():
        browser = production.test_client()
        from conftest import _CSRF_RE
        match = _CSRF_RE.search(browser.get("/login", base_url="https://localhost").get_data(as_text=True))
        token = match.group(1) or match.group(2)
        response = browser.post("/login", data={"username": "inspector.q3", "password": app.config[
            "BACKOFFICE_DEMO_PASSWORD"], "csrf_token": token}, base_url="https://localhost",
            headers={"Referer": "https://localhost/login"})  # Flask-WTF checks it over HTTPS
        cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("bo_session=")]
        assert cookies and "Secure" in cookies[-1] and "HttpOnly" in cookies[-1] and "SameSite=Lax" in cookies[-1]
