"""Every export of every Flask-Admin view downloads in full.

The views are discovered from the app's Admin, not listed here: for each model view the user's role may export,
the list page must offer each export type, and each download (csv, xlsx) must hold exactly the rows the list
counts — the export used to stop after its header (DetachedInstanceError from `str(Ward)` once the streamed CSV
ran after the session had closed). The audit entry is written after the file, with the rows it holds, and names
the residents an export of personal data disclosed. Exports are never cached.

Requests go through a bare test client, outside any app context: a test that pushes one (as the conftest
Browser does) keeps the request's session open past the response and hides exactly this failure."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from flask_admin.model import BaseModelView
from openpyxl import load_workbook
from sqlalchemy import func, select

from backoffice.admin import admin_for
from backoffice.admin.reads import person_attribute
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Location, Person
from backoffice.models.audit import PersonRead
from backoffice.timeutil import now_utc
from conftest import get_user
from pages_support import acting_as, read_csv

_COUNT_RE = re.compile(r'class="nav-link active">[^<]*?\((\d+)\)')


@pytest.fixture(scope="module")
def checkins(app):
    """A few check-ins at org1 (the seed has none), so the check-in export has rows to fail on."""
    with app.app_context():
        org_id = get_user("org1.admin").organization_id
        location = db.session.scalar(select(Location).where(Location.organization_id == org_id).limit(1))
        people = db.session.scalars(select(Person).order_by(Person.id).limit(3)).all()
        start = now_utc() - timedelta(hours=2)
        for i, person in enumerate(people):
            db.session.add(CheckIn(person_id=person.id, organization_id=org_id, location_id=location.id,
                                   checked_in_at=start + timedelta(minutes=i), last_seen_at=start + timedelta(minutes=i),
                                   checked_out_at=start + timedelta(minutes=30), checkout_reason="exit",
                                   status_colour="green", method="scanner"))  # closed: one open stay a person
        db.session.commit()
    return len(people)


def _raw_client(app, as_user, username: str):
    return as_user(username).client  # the bare werkzeug client, no app context of the test's own


def _may_export(view, role: Role) -> bool:
    # A view can switch exports off by replacing the role-driven property with False (scanning devices).
    if getattr(type(view), "can_export", None) is False:
        return False
    return "export" in getattr(view, "access", {}).get(role, ())


def _list_count(client, view) -> int | None:
    response = client.get(f"{view.url}/")
    if response.status_code != 200:
        return None
    match = _COUNT_RE.search(response.get_data(as_text=True))
    return int(match.group(1)) if match else 0  # Flask-Admin prints no count for an empty list


def _scoped_count(app, view, username: str) -> int:
    with app.app_context():
        with acting_as(app, get_user(username)):
            return view.get_count_query().scalar()


def _rows(response, kind: str) -> list[list]:
    data = response.get_data()
    if kind == "csv":
        return read_csv(data)[1:]
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]


def _last_entry(app, action: str, username: str) -> tuple[AuditLog | None, set[int]]:
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == action, AuditLog.actor_name == username)
                                  .order_by(AuditLog.id.desc()).limit(1))
        persons = set(db.session.scalars(select(PersonRead.person_id).where(PersonRead.audit_id == entry.id))) \
            if entry else set()
        return entry, persons


def _expected_persons(app, view, username: str) -> set[int]:
    attr = person_attribute(view.model)
    if attr is None:
        return set()
    with app.app_context():
        with acting_as(app, get_user(username)):
            return {v for (v,) in view.get_query().with_entities(getattr(view.model, attr)) if v is not None}


@pytest.mark.parametrize("username", ["admin", "org1.admin", "inspector.q1"])
def test_every_export_of_every_view_downloads_in_full(app, as_user, checkins, username):
    client = _raw_client(app, as_user, username)
    with app.app_context():
        role = Role(get_user(username).role)
    views = [v for v in admin_for(app)._views if isinstance(v, BaseModelView)]
    exportable = [v for v in views if _may_export(v, role)]
    assert exportable, f"{username} may export nothing: the discovery is broken"
    downloaded = []
    for view in views:
        count = _list_count(client, view)
        if not _may_export(view, role):
            response = client.get(f"{view.url}/export/csv/")
            assert response.status_code in (403, 404), (view.endpoint, response.status_code)
            continue
        for kind in view.export_types:
            count = _list_count(client, view)  # again: an export adds to the audit log it may be exporting
            assert count is not None, f"{view.endpoint}: exportable but its list does not open"
            assert count == _scoped_count(app, view, username), view.endpoint
            response = client.get(f"{view.url}/export/{kind}/")
            label = f"{username} {view.endpoint} {kind}"
            assert response.status_code == 200, (label, response.status_code)
            assert response.headers["Cache-Control"] == "no-store", label
            rows = _rows(response, kind)
            assert len(rows) == count, f"{label}: {len(rows)} rows, the list counts {count}"
            entry, persons = _last_entry(app, f"{view.model.__tablename__}.export", username)
            assert entry is not None, label
            assert entry.after["rows"] == count and entry.after["format"] == kind, (label, entry.after)
            assert persons == _expected_persons(app, view, username), label
            downloaded.append((view.endpoint, kind, count))
    assert {e for e, _k, _c in downloaded} == {v.endpoint for v in exportable}
    if username == "admin":
        # The views that failed after their header, and the check-ins created above, are really in the files.
        counts = {e: c for e, _k, c in downloaded}
        assert all(counts[e] > 0 for e in ("organization", "person", "user", "checkin")), counts
        assert counts["checkin"] >= checkins


def test_an_export_is_audited_once_with_its_rows(app, as_user):
    client = _raw_client(app, as_user, "admin")
    with app.app_context():
        before = db.session.scalar(select(func.max(AuditLog.id)))
    response = client.get("/admin/person/export/csv/?search=Nguy")
    assert response.status_code == 200
    rows = _rows(response, "csv")
    with app.app_context():
        entries = db.session.scalars(select(AuditLog).where(AuditLog.id > before)).all()
    assert [e.action for e in entries] == ["persons.export"]
    assert entries[0].after["rows"] == len(rows) > 0
    assert entries[0].after["search"] == "Nguy" and entries[0].after["why"] == "export"
