"""How the application uses its connections (backoffice.database): no connection crosses a fork, pooled
connections are pinged only after being idle, SQLite's writers queue across processes, a device's scan runs on
an autocommit connection of its own on PostgreSQL and leaves no pooled connection in autocommit."""
from __future__ import annotations

import multiprocessing
import time

import pytest
from sqlalchemy import bindparam, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from backoffice import database
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn
from backoffice.models.base import utcnow
from backoffice.scanning import devices
from backoffice.scanning.payload import issue_personal_payload
from conftest import get_user
from pages_support import dedicated_app
from factories import checkpoint, new_person

_fork = multiprocessing.get_context("fork")


def _on_postgresql(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def _identity(connection) -> object:
    """Which server connection this is: the backend's pid on PostgreSQL, the DBAPI object on SQLite."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()
    return id(connection.connection.dbapi_connection)


def _child_identity(app, queue) -> None:
    with app.app_context():
        with db.engine.connect() as connection:
            queue.put(_identity(connection))


def test_a_pooled_connection_is_never_used_across_a_fork(app):
    """gunicorn preloads the app in its master: a connection opened there, used by two workers at once, mixed
    their replies (found by the scan benchmark: "bind message supplies 18 parameters", "DuplicatePrepared…")."""
    # A pool of one connection: the child would be handed exactly the parent's.
    with dedicated_app(app, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0}) as single, \
            single.app_context():
        with db.engine.connect() as connection:
            parent = _identity(connection)  # back in the pool, opened by this process
        queue = _fork.SimpleQueue()
        child = _fork.Process(target=_child_identity, args=(single, queue))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert queue.get() != parent
        with db.engine.connect() as connection:  # the parent's connection still works after the child is gone
            assert _identity(connection) == parent
            assert connection.execute(text("SELECT 1")).scalar() == 1


def _terminate(url: str, pid: int) -> None:
    """End a server connection from outside the application's pool."""
    outside = create_engine(url)
    try:
        with outside.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        outside.dispose()
    time.sleep(0.2)


def test_an_idle_connection_that_died_is_replaced_before_use(app):
    if not _on_postgresql(app):
        pytest.skip("SQLite has no server to lose")
    with dedicated_app(app, DATABASE_PING_IDLE_SECONDS=0) as pinging, pinging.app_context():
        with db.engine.connect() as connection:
            doomed = _identity(connection)
        _terminate(pinging.config["SQLALCHEMY_DATABASE_URI"], doomed)
        with db.engine.connect() as connection:  # the ping finds it dead; the pool connects anew
            assert _identity(connection) != doomed


def test_a_recently_used_connection_is_trusted_and_a_dead_one_fails_one_request(app):
    """Within DATABASE_PING_IDLE_SECONDS a connection is used without a ping: when it died anyway, its request
    answers 503 (database unavailable), the pool is renewed, and the next request succeeds."""
    if not _on_postgresql(app):
        pytest.skip("SQLite has no server to lose")
    with dedicated_app(app, DATABASE_PING_IDLE_SECONDS=3600) as trusting:
        with trusting.app_context(), db.engine.connect() as connection:
            doomed = _identity(connection)
        _terminate(trusting.config["SQLALCHEMY_DATABASE_URI"], doomed)
        client = trusting.test_client()
        first = client.get("/healthz")
        assert first.status_code == 503 and first.get_json()["database"] == "down"
        assert client.get("/healthz").status_code == 200


def _hold_writer(app, started, release) -> None:
    with app.app_context(), database.serialized_writes():
        started.set()
        release.wait(10)


def test_sqlite_writers_queue_across_processes(app):
    if _on_postgresql(app):
        pytest.skip("PostgreSQL locks rows, not the database")
    started, release = _fork.Event(), _fork.Event()
    holder = _fork.Process(target=_hold_writer, args=(app, started, release))
    holder.start()
    try:
        assert started.wait(10)
        with app.app_context():
            begin = time.monotonic()
            timer = _fork.Process(target=lambda: (time.sleep(0.4), release.set()))
            timer.start()
            with database.serialized_writes():
                waited = time.monotonic() - begin
            timer.join(10)
        assert waited >= 0.3, waited  # it went on only when the other process let go
    finally:
        release.set()
        holder.join(10)


def _hold_maintenance_lock(app, started, release, done) -> None:
    with app.app_context():
        with database.one_at_a_time(4242):
            db.session.execute(select(1))
            started.set()
            release.wait(10)
            db.session.commit()
        db.session.execute(select(1))  # the same pooled connection, open, in a transaction of its own
        done.wait(20)
        db.session.rollback()


def test_maintenance_transactions_run_one_at_a_time_and_only_for_the_transaction(app):
    """A second `one_at_a_time` waits for the first one's transaction, and only for it: on PostgreSQL the lock
    ends with the commit while the holder's connection stays open (behind PgBouncer a session-level lock would
    stay held by the server connection after the commit, for whichever client gets it next)."""
    started, release, done = _fork.Event(), _fork.Event(), _fork.Event()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # no connection of the parent's crosses the fork
    holder = _fork.Process(target=_hold_maintenance_lock, args=(app, started, release, done))
    holder.start()
    try:
        assert started.wait(10)
        with app.app_context():
            timer = _fork.Process(target=lambda: (time.sleep(0.4), release.set()))
            begin = time.monotonic()
            timer.start()
            with database.one_at_a_time(4242):
                db.session.execute(select(1))
                waited = time.monotonic() - begin
                db.session.commit()
            timer.join(10)
        assert 0.3 <= waited < 10, waited  # went on when the holder committed, its connection still open
        assert holder.is_alive()
    finally:
        release.set()
        done.set()
        holder.join(30)


def _device(app) -> str:
    with app.app_context():
        return devices.create_device_token(checkpoint().id, "máy thử kết nối", user=get_user("org1.admin"))[1]


def test_a_device_scan_autocommits_on_postgresql_and_leaves_no_connection_in_autocommit(app):
    secret = _device(app)
    with app.app_context():
        texts = [issue_personal_payload(new_person()) for _ in range(3)]
    statuses = []

    def after(connection, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        # The scan's own statements (the signing keys, cached, are read through the ORM session now and then).
        if statement.startswith(("SELECT device_tokens.", "INSERT INTO checkins", "UPDATE device_tokens")):
            dbapi = connection.connection.dbapi_connection
            statuses.append(dbapi.info.transaction_status.name if hasattr(dbapi, "info") else dbapi.in_transaction)

    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", after)
    try:
        client = app.test_client()
        for scan_text in texts * 3:
            response = client.post("/api/v1/scans", json={"payload": scan_text},
                                   headers={"Authorization": f"Bearer {secret}"})
            assert response.status_code in (200, 201), response.get_json()
    finally:
        with app.app_context():
            event.remove(db.engine, "after_cursor_execute", after)
    if _on_postgresql(app):
        assert statuses and set(statuses) == {"IDLE"}, statuses  # no transaction was ever open: no BEGIN/COMMIT
    # Every pooled connection is transactional again: a flushed row rolled back is gone.
    with app.app_context():
        for _ in range(8):
            entry = AuditLog(at=utcnow(), action="test.rollback", entity="test", entity_id="x", actor_name="test")
            db.session.add(entry)
            db.session.flush()
            entry_id = entry.id
            db.session.rollback()
            assert db.session.get(AuditLog, entry_id) is None
            db.session.remove()


def test_the_person_read_along_with_the_token_counts_only_for_the_verified_payload(app):
    """The device path reads the person named by the (not yet verified) text together with the token. A forged
    text naming a real person is refused as forged and records nothing."""
    secret = _device(app)
    with app.app_context():
        victim = new_person()
        genuine = issue_personal_payload(victim)
        forged = genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BA")
        before = db.session.scalar(select(CheckIn.id).where(CheckIn.person_id == victim.id))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    refused = client.post("/api/v1/scans", json={"payload": forged}, headers=auth)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] in ("bad_signature", "malformed")
    with app.app_context():
        assert db.session.scalar(select(CheckIn.id).where(CheckIn.person_id == victim.id)) == before is None
    accepted = client.post("/api/v1/scans", json={"payload": genuine}, headers=auth).get_json()
    assert accepted["name"] == victim.full_name and accepted["colour"] == "green"


def test_cookie_less_requests_get_no_session_cookie(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_the_rate_limiter_checks_only_decorated_routes(app):
    from backoffice.extensions import limiter
    hooks = app.before_request_funcs.get(None, [])
    assert all(getattr(hook, "__self__", None) is not limiter for hook in hooks)
    assert limiter.limit_manager.default_limits == [] and limiter.limit_manager.application_limits == []


def test_a_hot_statement_reads_what_sqlalchemy_reads_and_fails_as_sqlalchemy_does(app):
    """HotStatement runs on psycopg's cursor on PostgreSQL: the rows must equal SQLAlchemy's (types included),
    and errors must arrive as SQLAlchemy's exceptions (the scan retries on IntegrityError, answers 503 on
    OperationalError)."""
    from sqlalchemy import insert, literal

    from backoffice.models import Person

    p = Person.__table__
    statement = select(p.c.id, p.c.full_name, p.c.birth_date, p.c.created_at, (p.c.id > 0).label("positive")) \
        .where(p.c.id <= bindparam("last")).order_by(p.c.id)
    hot = database.HotStatement(statement)
    with app.app_context(), db.engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(statement, {"last": 50}).all()]
        got = hot.rows(connection, {"last": 50})
        assert [tuple(row) for row in got] == expected and got[0].full_name == expected[0][1]
        assert got[0].created_at.tzinfo is not None and type(got[0].birth_date) is type(expected[0][2])
        if connection.dialect.name == "postgresql":  # SQLite answers NULL
            with pytest.raises(DBAPIError):
                database.HotStatement(select((literal(1) / literal(0)).label("x"))).rows(connection, {})
            connection.rollback()
        existing = connection.execute(select(p.c.id_number, p.c.qr_ref).limit(1)).one()
        keys = ["id_number", "id_type", "full_name", "address", "qr_ref", "declared_at_checkpoint", "created_at",
                "updated_at"]
        duplicate = database.HotStatement(insert(p).returning(p.c.id), keys)
        with pytest.raises(IntegrityError):
            duplicate.rows(connection, {"id_number": existing.id_number, "id_type": "cccd", "full_name": "Trùng lặp",
                                        "address": "", "qr_ref": existing.qr_ref, "declared_at_checkpoint": False,
                                        "created_at": utcnow(), "updated_at": utcnow()})
        connection.rollback()
        if connection.dialect.name == "postgresql":  # a default SQLAlchemy would compute is refused, not skipped
            with pytest.raises(ValueError, match="Python-side column defaults"):
                database.HotStatement(insert(p).returning(p.c.id), ["id_number", "full_name", "qr_ref"]).rows(
                    connection, {"id_number": "x", "full_name": "x", "qr_ref": "x"})
