"""The access matrix: every scoped admin model view × every demo role (and anonymous) × every action.

Views are discovered from the running Admin, so views other packages add later are covered without
editing this file. The expectation comes from each view's own `access` map:
allowed → 200/302, role not allowed → 403, anonymous → redirect to the login page. Every allowed action
is also tried on a row outside the user's scope (IDOR), which must answer 404 and change nothing.
"""
from __future__ import annotations

import itertools
import secrets
from datetime import date

import pytest
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect

from backoffice import audit, create_app
from backoffice.admin import admin_for
from backoffice.admin.base import ScopedModelView
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import (
    AuditLog, Checkpoint, Location, Organization, Person, Recovery, Staff, User, Vaccination,
)
from backoffice.models import TestResult as _TestResult
from backoffice.models.base import utcnow
import conftest
from conftest import DEMO_USERS, csrf_token, get_user
from factories import build_organization, build_person, new_id_number
from pages_support import Isolated, as_multidict, first_hidden, ids_visible, model_form, primary_key

ACTIONS = ["list", "details", "create_get", "create_post", "edit_get", "edit_post", "delete", "export_csv",
           "export_xlsx"]
NEEDS = {"list": "list", "details": "details", "create_get": "create", "create_post": "create",
         "edit_get": "edit", "edit_post": "edit", "delete": "delete", "export_csv": "export",
         "export_xlsx": "export"}
ROLES = DEMO_USERS + ["anonymous"]


def _discover_endpoints() -> list[str]:
    """Endpoints of every model view the app registers (a throwaway app, only to read the registry)."""
    app = create_app(conftest.test_config("sqlite://"))
    return [v.endpoint for v in admin_for(app)._views if isinstance(v, ModelView)]


ENDPOINTS = _discover_endpoints()
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}{next(_counter)}"


# --- disposable rows in a user's scope, modelled on a row the user can already reach -----------------
def _new_org(t: Organization):
    return build_organization(unique("Matrix org"), sector=t.sector, ward_code=t.ward_code,
                              district_code=t.district_code)


def _new_person(t: Person):
    return build_person(unique("Matrix"), t.ward_code, id_type="cccd", id_number=new_id_number("0799"))


FACTORIES = {
    Organization: _new_org,
    Location: lambda t: Location(organization_id=t.organization_id, name=unique("Khu matrix")),
    Checkpoint: lambda t: Checkpoint(organization_id=t.organization_id, location_id=t.location_id,
                                     name=unique("Cổng matrix"), direction="entry"),
    Staff: lambda t: Staff(organization_id=t.organization_id, full_name=unique("Nhân viên matrix")),
    Person: _new_person,
    Vaccination: lambda t: Vaccination(person_id=t.person_id, vaccine="pfizer", dose_number=10,
                                       vaccinated_on=date(2021, 10, 1)),
    _TestResult: lambda t: _TestResult(person_id=t.person_id, kind="pcr", result="negative", tested_at=utcnow()),
    Recovery: lambda t: Recovery(person_id=t.person_id, recovered_on=date(2021, 9, 1)),
    User: lambda t: User(username=unique("matrix").replace(" ", "."), role=Role.CHECKPOINT_STAFF.value,
                         organization_id=t.organization_id or get_user("org1.admin").organization_id,
                         password_hash="!", active=True),
}


@pytest.fixture(scope="module")
def clients(app, _sessions):
    """One client (and its CSRF token) per role for the whole matrix."""
    made = {}
    for username in ROLES:
        client = app.test_client()
        if username != "anonymous":
            client.set_cookie("bo_session", _sessions[username])
        client = Isolated(app, client)
        made[username] = (client, csrf_token(client, "/login" if username == "anonymous" else "/admin/"))
    return made


@pytest.fixture(scope="module")
def edit_targets(app, _sessions):
    """Users the matrix may edit freely (never a demo account whose session other tests share)."""
    with app.app_context():
        org1 = get_user("org1.admin").organization_id
        user = User(username=unique("matrix.target").replace(" ", "."), role=Role.CHECKPOINT_STAFF.value,
                    organization_id=org1, password_hash="!", active=True, full_name="Matrix target")
        db.session.add(user)
        db.session.commit()
        return {User: user.id}


def _view(app, endpoint: str) -> ScopedModelView:
    return next(v for v in admin_for(app)._views if v.endpoint == endpoint)


def _exists(model, key) -> bool:
    db.session.expire_all()
    return db.session.execute(select(primary_key(model)).where(primary_key(model) == key)).first() is not None


def _snapshot(model, key) -> dict:
    db.session.expire_all()
    obj = db.session.get(model, key)
    return {k: v for k, v in audit.snapshot(obj).items() if k != "updated_at"}


def _count(model) -> int:
    stmt = select(func.count()).select_from(model)
    if model is AuditLog:  # a refused request is itself audited; count everything else
        stmt = stmt.where(~AuditLog.action.like("request.%"))
    return db.session.scalar(stmt)


def _target(app, view, user, edit_targets) -> object | None:
    """A row the view shows this user (a dedicated one when the model has one), or None."""
    visible = ids_visible(app, view, user)
    dedicated = edit_targets.get(view.model)
    if dedicated in visible:
        return dedicated
    return visible[0] if visible else None


def test_every_admin_model_view_is_scoped(app):
    """A model view that is not a ScopedModelView would list every row of its table."""
    unscoped = [v.endpoint for v in admin_for(app)._views
                if isinstance(v, ModelView) and not isinstance(v, ScopedModelView)]
    assert unscoped == []
    assert {"organization", "location", "checkpoint", "staff", "person", "user", "auditlog"} <= set(ENDPOINTS)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("username", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_access(app, ctx, clients, edit_targets, endpoint, username, action):
    view = _view(app, endpoint)
    client, token = clients[username]
    base = view.url
    model = view.model
    user = get_user(username) if username != "anonymous" else None
    allowed = user is not None and NEEDS[action] in view.access.get(Role(user.role), ())

    # Rows: one the user can reach through this view, one it cannot.
    inside = _target(app, view, user, edit_targets) if user else None
    outside = first_hidden(app, view, user) if user else None
    any_row = db.session.scalar(select(primary_key(model)).order_by(primary_key(model)))
    # A role that may not act is refused before any row is read; one that may is shown only its rows.
    probe = inside if (allowed or inside is not None) else any_row

    def check(response, *, expect_ok=(200, 302)):
        if user is None:
            assert response.status_code == 302, response.status_code
            assert "/login" in response.headers["Location"]
        elif not allowed:
            assert response.status_code == 403, (response.status_code, response.get_data(as_text=True)[:300])
        else:
            assert response.status_code in expect_ok, (response.status_code,
                                                       response.get_data(as_text=True)[:500])
        return response

    def foreign(response):
        # An allowed action on a row outside the user's scope: 404 whatever the URL says.
        assert response.status_code == 404, (response.status_code, response.get_data(as_text=True)[:300])

    if action == "list":
        check(client.get(f"{base}/"), expect_ok=(200,))
    elif action == "details":
        if probe is not None:
            check(client.get(f"{base}/details/?id={probe}"), expect_ok=(200,))
        if allowed and outside is not None:
            foreign(client.get(f"{base}/details/?id={outside}"))
    elif action == "create_get":
        check(client.get(f"{base}/new/"), expect_ok=(200,))
    elif action == "create_post":
        before = _count(model)
        response = check(client.post(f"{base}/new/", data={"csrf_token": token}))
        if response.status_code != 302 or not allowed:
            assert _count(model) == before, "an empty or refused create stored a row"
    elif action == "edit_get":
        if probe is not None:
            check(client.get(f"{base}/edit/?id={probe}"), expect_ok=(200,))
        if allowed and outside is not None:
            foreign(client.get(f"{base}/edit/?id={outside}"))
    elif action == "edit_post":
        if allowed and inside is not None:
            # A browser's round trip: the edit form as rendered, submitted unchanged.
            page = client.get(f"{base}/edit/?id={inside}")
            assert page.status_code == 200
            data = as_multidict(model_form(page.get_data(as_text=True))["fields"])
            # Resubmitting a stored record unchanged must save (an error here means the form rejects
            # data the application itself stored, or the page lost a value).
            before = _snapshot(model, inside)
            check(client.post(f"{base}/edit/?id={inside}", data=data), expect_ok=(302,))
            assert _snapshot(model, inside) == before, "an unchanged round trip changed the record"
        elif probe is not None:
            before = _snapshot(model, probe)
            check(client.post(f"{base}/edit/?id={probe}", data={"csrf_token": token}))
            assert _snapshot(model, probe) == before
        if allowed and outside is not None:
            before = _snapshot(model, outside)
            foreign(client.post(f"{base}/edit/?id={outside}", data={"csrf_token": token}))
            assert _snapshot(model, outside) == before
    elif action == "delete":
        victim = None
        factory = FACTORIES.get(model)
        if allowed and inside is not None and factory is not None:
            victim_row = factory(db.session.get(model, inside))
            db.session.add(victim_row)
            db.session.commit()
            victim = sa_inspect(victim_row).identity[0]
            assert victim in ids_visible(app, view, user), "the disposable row is not in the user's scope"
        target = victim if victim is not None else probe
        if target is not None:
            check(client.post(f"{base}/delete/", data={"csrf_token": token, "id": target}),
                             expect_ok=(302,))
            if victim is not None:
                assert not _exists(model, victim), "allowed delete left the row"
            elif not allowed or user is None:
                assert _exists(model, target), "refused delete removed the row"
        if allowed and outside is not None:
            foreign(client.post(f"{base}/delete/", data={"csrf_token": token, "id": outside}))
            assert _exists(model, outside)
    elif action in ("export_csv", "export_xlsx"):
        kind = action.split("_")[1]
        response = check(client.get(f"{base}/export/{kind}/"), expect_ok=(200,))
        if allowed:
            expected = "text/csv" if kind == "csv" else "spreadsheetml"
            assert expected in response.headers["Content-Type"]
            assert "attachment" in response.headers["Content-Disposition"]


# --- widening: a write, a scan or a check-in never makes a resident readable ----------------------
PERSON_ENDPOINTS = ["person", "vaccination", "testresult", "recovery"]


@pytest.fixture(scope="module")
def widened(app, clients):
    """org1.admin lists a resident as staff (form and import), the resident's national text is scanned at org1's
    checkpoint, the resident checks in there by themselves and visits it: every way the old scope widened."""
    from backoffice.scanning.self_checkin import national_text
    from backoffice.scanning.payload import issue_personal_payload
    from backoffice.scanning.service import record_scan
    from factories import checkpoint
    with app.app_context():
        resident = _new_person(db.session.scalar(select(Person).order_by(Person.id)))
        resident.birth_date = date(1990, 1, 1)
        db.session.add(resident)
        db.session.flush()
        db.session.add(Vaccination(person_id=resident.id, vaccine="pfizer", dose_number=1,
                                   vaccinated_on=date(2021, 9, 1)))
        db.session.commit()
        client, token = clients["org1.admin"]
        org1 = get_user("org1.admin").organization_id
        assert client.post("/admin/staff/new/", data={"csrf_token": token, "organization": org1,
                                                     "full_name": "Matrix widening", "id_number": resident.id_number}
                           ).status_code == 302
        gate = checkpoint()
        record_scan(national_text(resident), checkpoint=gate, method="scanner", user=get_user("org1.staff"))
        record_scan(issue_personal_payload(resident), location=gate.location, method="self")
        return {"person": resident.id,
                "vaccination": db.session.scalar(select(Vaccination.id).where(Vaccination.person_id == resident.id))}


@pytest.mark.parametrize("username", ["org1.admin", "org1.staff"])
@pytest.mark.parametrize("endpoint", PERSON_ENDPOINTS)
def test_widening_writes_scans_and_checkins_open_no_resident(app, ctx, clients, widened, endpoint, username):
    client, _token = clients[username]
    record = widened["vaccination"] if endpoint == "vaccination" else widened["person"]
    for path in ("/", f"/details/?id={record}", f"/edit/?id={record}", "/export/csv/", "/export/xlsx/"):
        response = client.get(f"/admin/{endpoint}{path}")
        assert response.status_code in (403, 404), (path, response.status_code)
    if endpoint != "person":
        lookup = client.get(f"/admin/{endpoint}/ajax/lookup/", query_string={"name": "person", "query": "0"})
        assert lookup.status_code in (403, 404)
    from backoffice.auth.scope import in_scope
    assert not in_scope(Person, widened["person"], get_user(username))
    staff = db.session.scalar(select(Staff).where(Staff.full_name == "Matrix widening"))
    assert staff is not None and staff.person_id is None
