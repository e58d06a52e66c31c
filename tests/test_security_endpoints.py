"""Security as tests: every endpoint of `app.url_map` × every demo role (and anonymous, and a device).

- The expectation table below names who may use each endpoint that is not a standard Flask-Admin model-view
  endpoint (those are exercised action by action in test_access_matrix, from each view's `access`). An endpoint
  the table does not name fails `test_every_endpoint_has_an_expectation`: nobody adds a route silently.
- Every endpoint is requested as every role with harmless arguments (ids that do not exist, empty forms with a
  valid CSRF token): a role outside the table answers 403, anonymous is sent to the login page (the API: 401),
  a role inside never gets 403 or a login redirect, and nobody ever gets a 5xx.
- The same requests with hostile arguments (ids beyond 64 bits, path traversal, NUL, 4,000-character names)
  answer 4xx, never 5xx.
- Every HTML page any role is shown carries the CSP with a fresh nonce, no 'unsafe-inline' for scripts, every
  <script> with that nonce and no inline event handler.

Sessions dead after logout, password change, deactivation: tests/test_auth_sessions.py. The login limit across
processes through Redis: tests/test_auth_ratelimit.py. CSRF on every state-changing form:
tests/test_security_headers.py.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import select

from backoffice.admin import admin_for
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import Location, Organization
from conftest import DEMO_USERS, csrf_token, login
from pages_support import Isolated

A, I, W, O, S = (Role.CITY_ADMIN.value, Role.INSPECTOR.value, Role.WARD_OFFICER.value, Role.ORG_ADMIN.value,
                 Role.CHECKPOINT_STAFF.value)
ROLE_OF = {"admin": A, "inspector.q1": I, "inspector.q3": I, "ward.bennghe": W, "org1.admin": O, "org2.admin": O,
           "org1.staff": S}
EVERYONE = frozenset({A, I, W, O, S})
PUBLIC = "public"  # anonymous included
DEVICE = "device"  # the device API: a device token, never a cookie session
LOGGED_IN = EVERYONE
NOT_CRAWLED = "not crawled"  # in the table, exercised by the tests named beside it

# Standard model-view endpoints, tested action by action (and out of scope) in test_access_matrix.
MODEL_ENDPOINTS = {"index_view", "details_view", "create_view", "edit_view", "delete_view", "export"}

EXPECT: dict[str, object] = {
    # public pages and files
    "static": PUBLIC, "admin.static": PUBLIC, "bo_admin.static": PUBLIC, "reception.static": PUBLIC,
    "public.home": PUBLIC, "auth.login": PUBLIC, "registration.register": PUBLIC, "health.healthz": PUBLIC,
    "health.readyz": PUBLIC, "metrics.metrics_page": NOT_CRAWLED,  # test_observability: loopback or token only
    "selfcheckin.page": PUBLIC, "selfcheckin.submit": PUBLIC,
    # the JSON API for devices
    "api_v1.scans": DEVICE, "api_v1.scan_image": DEVICE, "api_v1.keys": PUBLIC, "api_v1.openapi": PUBLIC,
    # account
    "auth.logout": NOT_CRAWLED,  # test_auth_sessions (dead cookie), test_security_headers (CSRF)
    "auth.set_language": NOT_CRAWLED,  # test_i18n; would change the shared sessions' language
    "auth.change_password": LOGGED_IN,
    "guide.show": LOGGED_IN, "guide.for_role": LOGGED_IN,
    "admin.index": LOGGED_IN,
    # reception (checkpoint staff and their organization's admin)
    "reception.page": {S, O}, "reception.scan": {S, O}, "reception.scan_image": {S, O},
    "reception.recent": {S, O}, "reception.checkout": {S, O},
    # device tokens (model view extras; creating one is the view's own create_view)
    "devicetoken.revoke_view": {O, A},
    # posters and cards
    "qr_posters.index": {A, I, O}, "qr_posters.all_posters": {A, I, O}, "qr_posters.org_poster": {A, I, O},
    "qr_posters.location_poster": {A, I, O}, "qr_posters.location_qr": {A, I, O}, "qr_posters.org_qr": {A, I, O},
    "qr_posters.rotate_org": {A, O}, "qr_posters.rotate_location": {A, O},
    "qr_cards.index": {W, A}, "qr_cards.register": {W, A}, "qr_cards.print_cards": {W, A},
    # criteria
    "assessment.index": {O, I, A}, "assessment.result": {O, I, A}, "assessment.edit": {O, I, A},
    "assessment.start": {O, I, A}, "assessment.pdf": {O, I, A}, "assessment.follow_up_step": {O, I, A},
    "criteria.static": PUBLIC,
    "compliance.index_view": {I, A}, "compliance.export": {I, A}, "compliance.organization": {I, A},
    "criteria_sets.index": {O, I, A}, "criteria_sets.detail": {O, I, A},
    # imports
    **{f"import_organizations.{e}": {A, I} for e in
       ("index", "show", "cancel", "confirm", "credentials", "errors", "progress", "template", "upload")},
    **{f"import_staff.{e}": {O} for e in
       ("index", "show", "cancel", "confirm", "credentials", "errors", "progress", "template", "upload")},
    **{f"import_residents.{e}": {W} for e in
       ("index", "show", "cancel", "confirm", "credentials", "errors", "progress", "template", "upload")},
    # reports
    "reports_admin.index": {A, I}, "reports_admin.city_workbook": {A, I}, "reports_admin.district_workbook": {A, I},
    **{f"reports_admin.{e}": {A, I} for e in ("request_file", "file", "file_status", "file_download")},
    "reports.chart": {A, I},  # with name=levels; ward-status / org-checkins: their own role (below)
    # tracing
    "tracing_admin.index": {A, I}, "tracing_admin.case": {A, I}, "tracing_admin.export": {A, I},
    "tracing_admin.rerun": {A, I}, "tracing_admin.new": {A, I},
    "tracing_admin.approve": {A, I}, "tracing_admin.acknowledge_referral": {A, I},
    "tracing.acknowledge": {O},
    # staff links (backoffice.staff): the organization's linked staff's health, the ward officer's queue
    "staff_health.index": {O}, "staff_links.index": {W}, "staff_links.confirm": {W}, "staff_links.reject": {W},
    # registrations: the detail page's approve/reject buttons (an empty form answers 400)
    "registration_admin.decide_view": {A, I},
    # signing keys of personal QR codes (city admins)
    "signing_keys.index": {A}, "signing_keys.retire": {A},
    "signing_keys.rotate": NOT_CRAWLED,  # test_lists_forms; a crawl would rotate the shared key ring
}
# Model-view extras, judged from the view's own `access` like test_access_matrix does.
MODEL_EXTRAS = {"action_view": "delete", "ajax_update": "edit", "ajax_lookup": None}

NOWHERE = 987654321  # an id no table reaches
ARGUMENTS = {"fmt": "pdf", "export_type": "csv", "name": "levels", "code": 760, "filename": "backoffice.css",
             "role": "org_admin", "set_id": "no-such-set", "version": "1.0.0", "token": "no-such-token"}
FMT = {"reports.chart": "png", "tracing_admin.export": "xlsx", "qr_posters.location_qr": "png",
       "qr_posters.org_qr": "png"}
STATIC_FILES = {"static": "backoffice.css", "admin.static": "admin/css/bootstrap4/admin.css",
                "bo_admin.static": "bo_admin.js", "reception.static": "reception.js",
                "criteria.static": "compliance.js"}


def _app_rules(app):
    return [r for r in app.url_map.iter_rules()]


def _model_views(app) -> dict[str, ModelView]:
    return {v.endpoint: v for v in admin_for(app)._views if isinstance(v, ModelView)}


def _split(endpoint: str) -> tuple[str, str]:
    blueprint, _, name = endpoint.rpartition(".")
    return blueprint, name


def _expected(app, endpoint: str):
    """The roles allowed at `endpoint` (a set), PUBLIC, DEVICE, NOT_CRAWLED, or "model" (test_access_matrix)."""
    if endpoint in EXPECT:
        return EXPECT[endpoint]
    view, name = _split(endpoint)
    views = _model_views(app)
    if view in views and name in MODEL_ENDPOINTS:
        return "model"
    if view in views and name in MODEL_EXTRAS:
        needed = MODEL_EXTRAS[name]
        access = views[view].access
        return {r.value for r, actions in access.items()
                if (needed in actions if needed else actions & {"list", "details"})}
    return None


def test_every_endpoint_has_an_expectation(app):
    missing = sorted({r.endpoint for r in _app_rules(app) if _expected(app, r.endpoint) is None})
    assert missing == [], f"endpoints with no expectation (add them to EXPECT in {__name__}): {missing}"
    stale = sorted(set(EXPECT) - {r.endpoint for r in _app_rules(app)})
    assert stale == [], f"EXPECT names endpoints that no longer exist: {stale}"


# --- requests ---------------------------------------------------------------------------------------------
def _url(app, rule, hostile: str | None = None) -> str:
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        if hostile is not None:
            values[arg] = hostile
        elif rule.endpoint in STATIC_FILES:
            values[arg] = STATIC_FILES[rule.endpoint]
        elif converter == "IntegerConverter":
            values[arg] = NOWHERE
        else:
            values[arg] = FMT.get(rule.endpoint, ARGUMENTS.get(arg)) if arg == "fmt" else \
                ARGUMENTS.get(arg, str(NOWHERE))
    if hostile is not None:
        # Built by hand: url_for would refuse what is not an int for an int argument.
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(r"<(?:[^:<>]+:)?%s>" % re.escape(arg), hostile, path)
        return path
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **values)


class _Crashed:
    """An exception that escaped the app (the test client propagates them): what a browser sees as a 500."""

    status_code, mimetype, headers = 500, "", {}

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def _request(client, rule, url: str, token: str | None):
    methods = rule.methods - {"HEAD", "OPTIONS"}
    data = {"csrf_token": token} if token else {}
    if rule.endpoint.endswith(".action_view"):
        data.update(action="delete", rowid=str(NOWHERE))
    try:
        return client.get(url) if "GET" in methods else client.post(url, data=data)
    except Exception as exc:  # noqa: BLE001 — reported as the 500 it would be
        return _Crashed(exc)


@pytest.fixture(scope="module")
def clients(app):
    """A login of its own per role (the crawl must not touch the sessions other tests share)."""
    made = {}
    for username in DEMO_USERS + ["anonymous"]:
        client = Isolated(app, app.test_client())
        if username != "anonymous":
            assert login(client, username).status_code == 302
        made[username] = (client, csrf_token(client, "/login" if username == "anonymous" else "/admin/"))
    return made


def _to_login(response) -> bool:
    return response.status_code in (301, 302, 303) and "/login" in response.headers.get("Location", "")


_HANDLER = re.compile(r"\son[a-z]+=\"[^\"]*\"")


def _check_csp(url: str, response, seen_nonces: set) -> list[str]:
    if response.mimetype != "text/html":
        return []
    problems = []
    csp = response.headers.get("Content-Security-Policy", "")
    script_src = csp.split("script-src", 1)[1].split(";")[0] if "script-src" in csp else ""
    if not script_src or "unsafe-inline" in script_src or "unsafe-eval" in script_src:
        problems.append(f"{url}: script-src {script_src!r}")
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    nonce = re.search(r"'nonce-([^']+)'", script_src)
    if scripts and not nonce:
        problems.append(f"{url}: scripts but no nonce in the CSP")
    elif nonce:
        if nonce.group(1) in seen_nonces:
            problems.append(f"{url}: nonce reused")
        seen_nonces.add(nonce.group(1))
        bad = [tag for tag in scripts if f'nonce="{nonce.group(1)}"' not in tag]
        if bad:
            problems.append(f"{url}: script without the nonce {bad[:2]}")
    handlers = [h for h in _HANDLER.findall(html) if h.strip() != 'onclick="return false;"']
    if handlers:
        problems.append(f"{url}: inline handlers {handlers[:2]}")
    return problems


def _judge(endpoint: str, expected, role: str | None, response) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if expected == PUBLIC:
        return None if status not in (401, 403) and not _to_login(response) else f"{status} on a public endpoint"
    if expected == DEVICE:
        return None if status == 401 else f"{status}: the API answered a cookie session or no token"
    if role is None:
        return None if _to_login(response) or status == 401 else f"{status} to anonymous"
    if role in expected:
        return f"{status} to an allowed role" if status == 403 or _to_login(response) else None
    return None if status == 403 else f"{status} to a role outside {sorted(expected)}"


@pytest.mark.parametrize("username", DEMO_USERS + ["anonymous"])
def test_role_endpoint_matrix_and_csp(app, clients, username):
    client, token = clients[username]
    role = ROLE_OF.get(username)
    failures, nonces, pages = [], set(), 0
    for rule in sorted(_app_rules(app), key=lambda r: r.rule):
        expected = _expected(app, rule.endpoint)
        if expected in ("model", NOT_CRAWLED):
            continue
        url = _url(app, rule)
        response = _request(client, rule, url, token)
        verdict = _judge(rule.endpoint, expected, role, response)
        if verdict:
            failures.append(f"{rule.endpoint} {url}: {verdict} {getattr(response, 'exc', '')!r}")
        failures += _check_csp(url, response, nonces)
        pages += response.mimetype == "text/html"
    # The model views' pages this role reaches (their access is test_access_matrix's; here: the CSP).
    if role is not None:
        for view in _model_views(app).values():
            actions = view.access.get(Role(role), ())
            for action, path in (("list", "/"), ("create", "/new/")):
                if action in actions:
                    response = client.get(view.url + path)
                    assert response.status_code == 200, (view.url + path, response.status_code)
                    failures += _check_csp(view.url + path, response, nonces)
                    pages += 1
    assert failures == [], "\n".join(failures)
    assert pages > 3


# Hostile path arguments: none of them may reach a file path, a query or a 500.
HOSTILE = ["99999999999999999999999", "-1", "..%2F..%2F..%2Fetc%2Fpasswd", "%2E%2E", "a%00b", "x" * 4000,
           quote("Đ;'\"<>", safe="")]


@pytest.mark.parametrize("username", ["admin", "org1.staff", "anonymous"])
def test_hostile_path_arguments_never_answer_5xx(app, clients, username):
    client, token = clients[username]
    failures = []
    for rule in _app_rules(app):
        if not rule.arguments or _expected(app, rule.endpoint) == NOT_CRAWLED:
            continue
        for hostile in HOSTILE:
            url = _url(app, rule, hostile)
            response = _request(client, rule, url, token)
            if response.status_code >= 500:
                failures.append(f"{rule.endpoint} {url[:120]}: {getattr(response, 'exc', response.status_code)!r}")
            elif rule.endpoint.endswith("static") and response.status_code == 200 and "passwd" in url:
                failures.append(f"{rule.endpoint} {url}: served")
    assert failures == [], "\n".join(failures)


HOSTILE_QUERIES = ["id=99999999999999999999999", "id=-1", "id=%00", "page=99999999999999999999", "page=-5",
                   "district=99999999999999999999", "ward=99999999999999999999", "date=9999-12-31",
                   "date=0001-01-01", "org=99999999999999999999", "checkpoint=99999999999999999999",
                   "sector=%00", "status=..%2F..", "q=" + "x" * 3000]


@pytest.mark.parametrize("username", ["admin", "org1.admin", "ward.bennghe"])
def test_hostile_query_arguments_never_answer_5xx(app, clients, username):
    client, _token = clients[username]
    failures = []
    urls = {"/admin/", "/reception/recent", "/admin/reports/", "/reports/charts/levels.png",
            "/admin/reports/city.xlsx", "/admin/reports/district/760.xlsx", "/admin/compliance/",
            "/admin/compliance/export", "/admin/qr-posters/", "/admin/qr-cards/", "/admin/tracing/",
            "/admin/imports/organizations/", "/admin/imports/staff/", "/admin/imports/residents/"}
    for view in _model_views(app).values():
        urls |= {view.url + "/", view.url + "/details/", view.url + "/edit/"}
    for url in sorted(urls):
        for query in HOSTILE_QUERIES:
            try:
                status = client.get(f"{url}?{query}").status_code
            except Exception as exc:  # noqa: BLE001 — reported as the 500 it would be
                status = repr(exc)[:160]
            if not isinstance(status, int) or status >= 500:
                failures.append(f"{url}?{query[:60]}: {status}")
    assert failures == [], "\n".join(failures)


def test_own_charts_are_for_their_own_role(app, clients):
    for username, chart, allowed in (("ward.bennghe", "ward-status", True), ("org1.admin", "org-checkins", True),
                                     ("org1.admin", "ward-status", False), ("admin", "org-checkins", False),
                                     ("org1.staff", "org-checkins", False)):
        client, _token = clients[username]
        response = client.get(f"/reports/charts/{chart}.png")
        assert response.status_code == (200 if allowed else 403), (username, chart, response.status_code)
