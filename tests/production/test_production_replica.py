"""The reports replica (`REPORTS_DATABASE_URL`, backoffice/replica.py) against a real streaming standby: a private
primary and a hot standby of it made with `pg_basebackup -R` (harness.streaming_pair), the application on the
primary reading its reports there.

Which database a read went to is shown by the data, not by instrumenting the code: replay is paused on the
standby (`pg_wal_replay_pause()`), a row is written on the primary, and the reading work does not see it until
replay resumes, while the page says how far behind its data are. Runs in the SQLite pass (its own clusters).
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from backoffice import replica
from backoffice.extensions import db
from backoffice.models import AuditLog, Organization, Person
import conftest as suite
from conftest import DEMO_PASSWORD, Browser, get_user, login
from factories import build_organization
from pages_support import own_app, read_csv

from . import harness
from .conftest import fault_pass

pytestmark = pytest.mark.production

AS_OF = re.compile(r'id="data-as-of">\s*Dữ liệu tính đến (\d\d:\d\d:\d\d \d\d/\d\d/\d{4}) \(bản sao chậm ([^)]*) so')


@dataclass
class City:
    app: Flask
    primary: harness.PrivatePostgres
    standby: harness.PrivatePostgres
    on_primary: Engine  # the application's database, straight
    on_standby: Engine

    def lsn(self) -> str:
        with self.on_primary.connect() as conn:
            return conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()

    def _standby_at(self, function: str, lsn: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception), self.on_standby.connect() as conn:
                if conn.execute(text(f"SELECT {function}() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}).scalar():
                    return
            assert time.monotonic() < deadline, f"the standby did not reach {lsn} ({function})"
            time.sleep(0.05)

    def replayed(self) -> None:
        """Wait until the standby has replayed everything the primary wrote so far."""
        self._standby_at("pg_last_wal_replay_lsn", self.lsn())

    def received(self) -> None:
        self._standby_at("pg_last_wal_receive_lsn", self.lsn())

    @contextlib.contextmanager
    def replay_paused(self) -> Iterator[None]:
        self.replayed()
        with self.on_standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))
        try:
            yield
        finally:
            with self.on_standby.connect() as conn:
                conn.execute(text("SELECT pg_wal_replay_resume()"))
            self.replayed()

    def add_organization(self, name: str) -> None:
        """An organization written through the application, on the primary (outside any reading work)."""
        with self.app.app_context():
            db.session.add(build_organization(name))
            db.session.commit()
            db.session.remove()

    def browser(self, username: str) -> Browser:
        client = self.app.test_client()
        assert login(client, username, DEMO_PASSWORD).status_code == 302
        return Browser(client, username)

    def audit_count(self, engine: Engine, action: str) -> int:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == action))


@pytest.fixture(scope="module")
def city() -> Iterator[City]:
    fault_pass()
    base = Path(tempfile.mkdtemp(prefix="bo_replica_"))
    try:
        primary, standby = harness.streaming_pair(base)
    except FileNotFoundError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(str(exc))
    try:
        admin = create_engine(primary.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE backoffice"))
        admin.dispose()
        primary_url = make_url(primary.url).set(database="backoffice").render_as_string(hide_password=False)
        standby_url = make_url(standby.url).set(database="backoffice").render_as_string(hide_password=False)
        config = suite.test_config(primary_url, REPORTS_DATABASE_URL=standby_url, REPORTS_REPLICA_RETRY_SECONDS=1)
        with own_app(config) as app:
            with app.app_context():
                db.create_all()
                from backoffice.demo.seed import seed_demo
                seed_demo(organizations=6, residents=30, password=DEMO_PASSWORD)
                db.session.remove()
            city = City(app, primary, standby, create_engine(primary_url), create_engine(standby_url))
            try:
                yield city
            finally:
                city.on_primary.dispose()
                city.on_standby.dispose()
                app.extensions[replica.EXTENSION].engine.dispose()
    finally:
        for server in (standby, primary):
            if server.running():
                server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def _as_of(html: str) -> tuple[str, str] | None:
    match = AS_OF.search(html)
    return (match.group(1), match.group(2)) if match else None


def _export_names(browser: Browser, app: Flask) -> set[str]:
    view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "model", None) is Organization)
    response = browser.get(f"{view.url}/export/csv/")
    assert response.status_code == 200
    return {cell for row in read_csv(response.data)[1:] for cell in row}


def _city_organizations(app: Flask) -> int:
    from backoffice.reports import service
    with app.test_request_context():
        report = service.build_city_report(get_user("admin"))
        db.session.remove()
        return report.counts["organizations"]


def test_reports_dashboards_and_exports_read_the_replica_and_say_how_current(city: City):
    admin = city.browser("admin")
    city.replayed()
    page = admin.get("/admin/reports/").get_data(as_text=True)
    assert _as_of(page) is not None and _as_of(page)[1] == "0 giây", "a caught-up replica: current"
    before = _city_organizations(city.app)
    probe = f"Công ty Bản sao {time.monotonic_ns()}"

    with city.replay_paused():
        city.add_organization(probe)
        city.received()  # on the standby, not replayed: it lags
        time.sleep(1.2)
        reports_before = city.audit_count(city.on_primary, "report.city")

        assert _city_organizations(city.app) == before, "the workbook read the primary"
        assert probe not in _export_names(admin, city.app), "the export read the primary"
        for path in ("/admin/reports/", "/admin/"):
            as_of = _as_of(admin.get(path).get_data(as_text=True))
            assert as_of is not None, f"{path} does not say how current its data are"
            assert as_of[1] != "0 giây", f"{path}: a paused replica shown as current"
        # The reads' audit rows are on the primary (and not yet on the paused standby).
        assert city.audit_count(city.on_primary, "report.city") == reports_before + 1
        assert city.audit_count(city.on_standby, "report.city") < reports_before + 1
        assert city.audit_count(city.on_primary, "organizations.export") >= 1

    assert _city_organizations(city.app) == before + 1
    assert probe in _export_names(admin, city.app)


def test_a_user_who_just_wrote_reads_the_primary_until_the_replica_has_it(city: City):
    writer, other = city.browser("admin"), city.browser("admin")
    with city.app.app_context():
        id_number = db.session.scalar(select(Person.id_number).order_by(Person.id).limit(1))
    with city.replay_paused():
        response = writer.post_form("/admin/tracing/new", {
            "id_number": id_number, "confirmed_at": "2021-10-20T09:00", "window_days": "14",
            "margin_minutes": "30", "reason": "Người nhà F0, triệu chứng rõ, chưa có kết quả xét nghiệm"},
            token_from="/admin/tracing/")
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        assert writer.client.get_cookie(replica.COOKIE) is not None
        case_page = response.headers["Location"]
        city.received()
        # The writer sees the case it opened (from the primary: the page says nothing of a replica)…
        page = writer.get(case_page)
        assert page.status_code == 200
        assert _as_of(page.get_data(as_text=True)) is None
        # …someone else reads the replica, which has not replayed it yet.
        assert other.get(case_page).status_code == 404
        # Reading (audit only) is not writing: no new position for the reader.
        assert other.client.get_cookie(replica.COOKIE) is None
    page = writer.get(case_page)
    assert page.status_code == 200 and _as_of(page.get_data(as_text=True)) is not None
    assert writer.client.get_cookie(replica.COOKIE) is None, "caught up: the cookie is dropped"
    assert other.get(case_page).status_code == 200


def test_a_stopped_replica_leaves_the_pages_to_the_primary(city: City):
    admin = city.browser("admin")
    probe = f"Công ty Dự phòng {time.monotonic_ns()}"
    city.add_organization(probe)
    with city.app.test_request_context():
        with replica.reading() as route:
            assert route.replica
            db.session.scalar(select(func.count()).select_from(Organization))
            city.standby.stop("fast")  # lost in the middle of the reading work: that request fails…
            with pytest.raises(DBAPIError):
                db.session.scalar(select(func.count()).select_from(Organization))
        db.session.rollback()
        db.session.remove()
    # …and the requests after it go straight to the primary, without trying the replica each time.
    assert city.app.extensions[replica.EXTENSION].down_until > time.monotonic()
    try:
        page = admin.get("/admin/reports/")
        assert page.status_code == 200 and _as_of(page.get_data(as_text=True)) is None
        assert admin.get("/admin/").status_code == 200
        assert probe in _export_names(admin, city.app)
    finally:
        city.standby.start("hot_standby=on")
        harness.wait_streaming(city.standby)
    time.sleep(1.1)  # REPORTS_REPLICA_RETRY_SECONDS: the replica is tried again
    city.replayed()
    assert _as_of(admin.get("/admin/reports/").get_data(as_text=True)) is not None


def test_reading_work_refuses_to_change_anything(city: City):
    with city.app.test_request_context():
        with replica.reading() as route:
            assert route.replica
            assert db.session.scalar(select(func.pg_is_in_recovery())) is True  # it reads the standby
            with pytest.raises(replica.WriteWhileReading):
                db.session.execute(update(Organization).values(name="x"))
            org = db.session.scalars(select(Organization).limit(1)).one()
            org.name = f"{org.name}!"
            with pytest.raises(replica.WriteWhileReading):
                db.session.flush()
        db.session.rollback()
        db.session.remove()


def test_gunicorn_with_the_replica_configured(city: City, tmp_path):
    """The production server (gunicorn, preloaded, forked workers) configured as the README says: its pages read the
    standby, which each worker reaches on connections of its own."""
    from .test_production_setup import PROXY, cookies_of, post_login
    primary_url = city.on_primary.url.render_as_string(hide_password=False)
    standby_url = city.on_standby.url.render_as_string(hide_password=False) + "?" + harness.PG_TIMEOUTS
    port = harness.free_port()
    env = harness.production_env(primary_url, port=port, instance=tmp_path, redis="memory://",
                                 signing_keys=harness.new_signing_key(), workers=2, REPORTS_DATABASE_URL=standby_url,
                                 BACKOFFICE_DEMO_PASSWORD=DEMO_PASSWORD)
    view = next(v for v in city.app.extensions["admin"][0]._views if getattr(v, "model", None) is Organization)
    with harness.Gunicorn(env, tmp_path / "gunicorn.log"):
        status, headers, _ = post_login(port, "admin", DEMO_PASSWORD, "203.0.113.9")
        assert status == 302
        browser = {**PROXY, "Cookie": f"bo_session={cookies_of(headers)['bo_session']}"}

        def get(path: str) -> str:
            status, _, body = harness.request(port, "GET", path, headers=browser)
            assert status == 200, path
            return body.decode()

        city.replayed()
        for _ in range(4):  # both workers, most likely
            assert _as_of(get("/admin/reports/")) is not None
        probe = f"Công ty Máy chủ {time.monotonic_ns()}"
        with city.replay_paused():
            city.add_organization(probe)
            city.received()
            assert probe not in get(f"{view.url}/export/csv/")
        assert probe in get(f"{view.url}/export/csv/")
