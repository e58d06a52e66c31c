"""Fixtures: one application and one real database per test run (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), seeded with a small demo data set; logged-in clients for the demo accounts."""
from __future__ import annotations

import os
import re
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice import create_app
from backoffice.extensions import db as _db
from backoffice.timeutil import local_today

DEMO_PASSWORD = "demo-2021"
DEMO_USERS = ["admin", "inspector.q1", "inspector.q3", "ward.bennghe", "org1.admin", "org2.admin", "org1.staff"]
_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def database_url(tmp_dir: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite3'}"


def test_config(url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret-key",
        "LOGIN_LIMIT_PER_IP": "100000 per minute",
        "LOGIN_LIMIT_PER_USERNAME": "100000 per minute",
        # The whole suite shares one app and comes from one address: limits are tested with their own values.
        "SELF_CHECKIN_LIMIT_PER_IP": "100000 per minute",
        "SELF_CHECKIN_LIMIT_PER_QR": "100000 per minute",
        "SCAN_LIMIT_PER_DEVICE": "100000 per minute",
        "SCAN_LIMIT_PER_USER": "100000 per minute",
        "SCAN_LIMIT_PER_IP": "100000 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "BACKOFFICE_DEMO_PASSWORD": DEMO_PASSWORD,
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def seed_day() -> date:
    """The day the demo residents' histories count back from ("one dose 9 days ago" is 9 days before it)."""
    return local_today()


def demo_days_ago(days: int, seed_day: date) -> int:
    """How many days ago, now, is what the seed put `days` before `seed_day`: a run that crosses midnight in Ho
    Chi Minh City finds every demo history one day older than when it was seeded."""
    return days + (local_today() - seed_day).days


@pytest.fixture(scope="session")
def app(tmp_path_factory, seed_day):
    instance = tmp_path_factory.mktemp("instance")
    os.environ["BACKOFFICE_INSTANCE"] = str(instance)
    application = create_app(test_config(database_url(instance)))
    with application.app_context():
        _db.drop_all()
        _db.create_all()
        from backoffice.demo.seed import seed_demo
        seed_demo(organizations=40, residents=120, password=DEMO_PASSWORD, today=seed_day)
    yield application
    with application.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _no_import_outlives_its_test():
    """An import's child process writes to the test database; one a test started and did not wait for would hold
    SQLite's write lock while later tests run (seen as a 503 "database is locked" in an unrelated test). Each test
    ends when the imports it started have: their watcher threads (named "import-<id>", imports/jobs.py) end with
    their child."""
    yield
    for thread in threading.enumerate():
        if thread.name.startswith("import-") and thread is not threading.current_thread():
            thread.join(timeout=180)


@pytest.fixture()
def ctx(app):
    """An application context with a clean session, for calling operations directly."""
    with app.app_context():
        yield
        _db.session.rollback()
        _db.session.remove()


def csrf_token(client, path: str = "/admin/") -> str:
    """A CSRF token for the client's current session, read from a page as a browser would."""
    response = client.get(path)
    match = _CSRF_RE.search(response.get_data(as_text=True))
    if not match:
        response = client.get("/login")
        match = _CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {path}"
    return match.group(1) or match.group(2)


def post_json(browser, url: str, body: dict):
    """A JSON POST from a logged-in browser, with the CSRF header the page's script sends."""
    token = csrf_token(browser.client, "/admin/")
    return browser.client.post(url, json=body, headers={"X-CSRFToken": token})


def login(client, username: str, password: str = DEMO_PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


class Browser:
    """A test client that behaves like a logged-in browser: `post_form` adds the CSRF token.

    Each request runs in an app context of its own: Flask would otherwise reuse one already pushed (the
    `ctx` fixture's) and with it `g`, where Flask-Login caches the user, so two browsers in one test would
    both act as whoever asked first."""

    def __init__(self, client, username: str):
        self.client, self.username = client, username

    def _isolated(self, method, *args, **kwargs):
        with self.client.application.app_context():
            response = method(*args, **kwargs)
            response.get_data()  # read streamed bodies while the context lives
            return response

    def get(self, *args, **kwargs):
        return self._isolated(self.client.get, *args, **kwargs)

    def post(self, *args, **kwargs):
        return self._isolated(self.client.post, *args, **kwargs)

    def post_form(self, url: str, data: dict | None = None, token_from: str = "/admin/", **kwargs):
        data = dict(data or {})
        if "csrf_token" not in data:
            with self.client.application.app_context():
                data["csrf_token"] = csrf_token(self.client, token_from)
        return self.post(url, data=data, **kwargs)


@pytest.fixture(scope="session")
def _sessions(app):
    """Log each demo user in once per run (argon2 is deliberately slow) and remember the cookie."""
    cookies = {}
    for username in DEMO_USERS:
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302, f"demo login failed for {username}"
        cookies[username] = client.get_cookie("bo_session").value
    return cookies


@pytest.fixture()
def as_user(app, _sessions):
    """`as_user("org1.admin")` → a Browser logged in as that demo user."""

    def make(username: str) -> Browser:
        client = app.test_client()
        client.set_cookie("bo_session", _sessions[username])
        return Browser(client, username)

    return make


@pytest.fixture()
def fresh_login(app):
    """A Browser with a login of its own, for tests that log out or change passwords."""

    def make(username: str, password: str = DEMO_PASSWORD) -> Browser:
        client = app.test_client()
        assert login(client, username, password).status_code == 302
        return Browser(client, username)

    return make


def get_user(username: str):
    from backoffice.models import User
    return _db.session.scalar(select(User).where(User.username == username))


@pytest.fixture(scope="module")
def report_data(app) -> dict:
    """The reports tests' own organizations, check-ins and assessments (`reports_support.make_report_data`),
    made once per module."""
    from reports_support import make_report_data
    with app.app_context():
        data = make_report_data()
        _db.session.remove()
    return data
