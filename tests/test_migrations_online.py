"""Index builds in migrations do not stop scans from writing check-ins (PostgreSQL): while migration 0002 builds
its index, a transaction that writes check-ins is open and another one starts; both go on. A plain CREATE INDEX
would queue behind the open writer for its SHARE lock, and every later writer would queue behind it."""
from __future__ import annotations

import os
import threading
import time

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from backoffice.extensions import db
from pages_support import dedicated_app
from production.harness import own_database

SERVER = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not SERVER.startswith("postgresql"),
                                reason="concurrent index builds are PostgreSQL's; SQLite serializes its writers")


@pytest.fixture
def database():
    with own_database(SERVER, prefix="bo_online") as url:
        yield url


def _index(engine, name: str) -> tuple[bool, bool] | None:
    """(exists, valid) of index `name`, or None when there is none."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                "WHERE c.relname = :name"), {"name": name}).first()
    return None if row is None else (True, row[0])


def _wait_for_the_build(engine, build: threading.Thread, failures: list[BaseException],
                        timeout: float = 60.0) -> None:
    """Until the migration waits on a lock: a concurrent build on the open writer's transaction to end
    (virtualxid), a plain one on the table (relation). A migration that ended instead is reported with its error."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if not build.is_alive():
                raise AssertionError(f"the migration ended without waiting on the open writer: {failures}")
            # A new transaction each time: PostgreSQL shows a transaction one snapshot of pg_stat_activity, taken
            # at its first read, and a migration that connected after it would never appear.
            conn.rollback()
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar()
            if waiting:
                return
            time.sleep(0.05)
        seen = conn.execute(text("SELECT query, wait_event_type, wait_event, state FROM pg_stat_activity "
                                 "WHERE datname = current_database()")).all()
    raise AssertionError(f"the index build never started waiting on the open writer: {seen}")


def test_the_check_ins_index_builds_while_scans_write(app, database):
    engine = create_engine(database)
    with dedicated_app(app, SQLALCHEMY_DATABASE_URI=database) as migrating:
        with migrating.app_context():
            upgrade(revision="0001")
            db.engine.dispose()
        writer = engine.connect()
        writing = writer.begin()
        # An open transaction that has written check-ins (the lock every INSERT takes).
        writer.execute(text("LOCK TABLE checkins IN ROW EXCLUSIVE MODE"))
        failures: list[BaseException] = []

        def migrate() -> None:
            try:
                with migrating.app_context():
                    upgrade(revision="0002")
            except BaseException as error:  # reported by the test's thread
                failures.append(error)

        build = threading.Thread(target=migrate)
        build.start()
        try:
            _wait_for_the_build(engine, build, failures)
            # A new scan's transaction, begun while the index builds, is not made to wait.
            with engine.connect() as scan:
                with scan.begin():
                    scan.execute(text("SET LOCAL lock_timeout = '2s'"))
                    scan.execute(text("LOCK TABLE checkins IN ROW EXCLUSIVE MODE"))
        finally:
            writing.commit()
            writer.close()
            build.join(60)
        assert not build.is_alive() and not failures, failures
        assert _index(engine, "ix_checkins_org_time_colour") == (True, True)
        assert _index(engine, "ix_checkins_org_time") is None
    engine.dispose()


def test_an_index_left_invalid_by_a_failed_build_is_built_again(app, database):
    engine = create_engine(database, isolation_level="AUTOCOMMIT")
    with dedicated_app(app, SQLALCHEMY_DATABASE_URI=database) as migrating:
        with migrating.app_context():
            upgrade(revision="0001")
        with engine.connect() as conn:
            # What a cancelled CREATE INDEX CONCURRENTLY leaves behind.
            conn.execute(text("CREATE INDEX ix_checkins_org_time_colour ON checkins (organization_id)"))
            conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                              "'ix_checkins_org_time_colour'::regclass"))
        assert _index(engine, "ix_checkins_org_time_colour") == (True, False)
        with migrating.app_context():
            upgrade(revision="0002")
        assert _index(engine, "ix_checkins_org_time_colour") == (True, True)
        with engine.connect() as conn:
            columns = conn.execute(text(
                "SELECT pg_get_indexdef('ix_checkins_org_time_colour'::regclass)")).scalar()
        assert "organization_id, checked_in_at, status_colour" in columns
    engine.dispose()
