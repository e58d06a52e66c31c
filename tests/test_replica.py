"""Reading work without a reports replica (the embedded setup, and the whole suite): everything reads the
primary, pages say nothing of a replica, and reading work still refuses to change anything. The replica itself is
tested against a real standby in tests/production/test_production_replica.py."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from backoffice import audit, replica
from backoffice.extensions import db
from backoffice.models import AuditLog, Organization
from conftest import get_user


def test_without_a_replica_reading_work_reads_the_primary(app, ctx):
    assert replica.configured() is None
    with replica.reading() as route:
        assert route == replica.PRIMARY and not route.replica
        assert db.session.get_bind(clause=select(Organization.id)) is db.engine
        assert db.session.scalar(select(func.count()).select_from(Organization)) > 0
    assert replica.current() is None


@pytest.mark.parametrize("how", ["statement", "orm", "delete"])
def test_reading_work_refuses_updates_and_deletes(app, ctx, how):
    org = db.session.scalars(select(Organization).order_by(Organization.id).limit(1)).one()
    name = org.name
    with replica.reading(), pytest.raises(replica.WriteWhileReading):
        if how == "statement":
            db.session.execute(update(Organization).where(Organization.id == org.id).values(name="changed"))
        elif how == "orm":
            org.name = "changed"
            db.session.flush()
        else:
            db.session.delete(org)
            db.session.flush()
    db.session.rollback()
    assert db.session.get(Organization, org.id).name == name


def test_reading_work_may_audit_and_commit(app, ctx):
    """Reads are audited inside the reading work (a report's entry is added to the session and committed)."""
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    with replica.reading():
        db.session.scalar(select(func.count()).select_from(Organization))
        audit.record("report.city", entity_name="report", entity_id="city", actor=get_user("admin"))
        db.session.commit()
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == before + 1


def test_changes_made_before_the_reading_work_are_not_its_changes(app, ctx):
    org = db.session.scalars(select(Organization).order_by(Organization.id.desc()).limit(1)).one()
    address = org.address
    org.address = f"{address} "
    with replica.reading():  # flushed on the way in, not refused
        db.session.scalar(select(func.count()).select_from(Organization))
    db.session.rollback()
    assert db.session.get(Organization, org.id).address == address


def test_pages_say_nothing_of_a_replica_and_set_no_cookie(app, as_user):
    admin = as_user("admin")
    for path in ("/admin/reports/", "/admin/", "/admin/tracing/"):
        response = admin.get(path)
        assert response.status_code == 200, path
        assert 'id="data-as-of"' not in response.get_data(as_text=True), path
        assert admin.client.get_cookie(replica.COOKIE) is None


def test_wal_positions_compare_as_numbers():
    assert replica.lsn_value("0/3000000") < replica.lsn_value("0/30000A0") < replica.lsn_value("1/0")
    for bad in ("", None, "3000000", "0/zz", "0/3000000; DROP", "123456789/0"):
        assert replica.lsn_value(bad) is None
