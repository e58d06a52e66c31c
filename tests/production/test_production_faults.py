"""Faults: the database goes away under load, or its disk is read-only or full. Requests fail cleanly (503 with a JSON
error for the API, the error page for pages; never a 500, never a hang), the service recovers by itself when the
database is back, and nothing is half-written.

(b), an import process killed mid-way, is `tests/test_imports_organizations.py::test_killed_process_leaves_nothing`
(the imports engineer's: SIGKILL while the apply transaction has written rows; nothing imported, the record shown
as failed); not repeated here.

These run in the SQLite pass of CI (see conftest): they bring their own databases.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from pages_support import own_app

from . import harness
from .conftest import fault_pass

pytestmark = [pytest.mark.production, pytest.mark.slow]

TIMEOUT = 10.0  # per request: an answer (even 503) must come within this
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# --- (a) PostgreSQL stopped and started during a scan load ------------------------------------------

def _login_page_while(port: int) -> tuple[int, str, str]:
    """POST /login (it reads the users table) as a browser: (status, content type, body)."""
    status, headers, body = harness.request(port, "GET", "/login")
    token = _CSRF.search(body.decode()).group(1)
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    form = f"username=org1.admin&password=x&csrf_token={token}"
    status, headers, body = harness.request(port, "POST", "/login", form, {
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    return status, headers.get_content_type(), body.decode(errors="replace")


def test_postgresql_stopped_and_started_during_scan_load(capsys):
    fault_pass()
    base = Path(tempfile.mkdtemp(prefix="bo_pgfault_"))
    try:
        pg = harness.PrivatePostgres(base)
    except FileNotFoundError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(str(exc))
    instance = base / "instance"
    instance.mkdir()
    server = None
    try:
        pg.init()
        pg.start()
        port = harness.free_port()
        env = harness.production_env(pg.url, port=port, instance=instance,
                                     redis=harness.redis_uri(13) or "memory://",
                                     signing_keys=harness.new_signing_key(), workers=2, **harness.LOAD_SCAN_LIMITS)
        fixture = harness.prepare(env, organizations=10, residents=200, device_orgs=3)
        server = harness.Gunicorn(env, base / "gunicorn.log").start()
        engine = create_engine(pg.url)
        locations = {t["location"] for t in fixture.tokens}
        before = harness.snapshot_checkins(engine, locations)
        engine.dispose()

        begin = time.monotonic()
        clock = lambda: time.monotonic() - begin  # noqa: E731
        results: list[harness.LoadResult] = []
        load = threading.Thread(target=lambda: results.append(harness.run_load(
            port, fixture, clients=16, seconds=16, timeout=TIMEOUT, begin=begin)))
        load.start()
        time.sleep(3)
        stopping = clock()
        pg.stop("fast")
        stopped = clock()
        time.sleep(1)
        health = harness.request(port, "GET", "/healthz", timeout=TIMEOUT)
        page = _login_page_while(port)
        time.sleep(max(0.0, stopped + 4 - clock()))
        starting = clock()
        pg.start()
        started = clock()
        load.join(timeout=16 + TIMEOUT + 60)
        result = results[0]

        engine = create_engine(pg.url)
        after = harness.snapshot_checkins(engine, locations)
        engine.dispose()
    finally:
        if server is not None:
            server.stop()
        with contextlib.suppress(Exception):
            if pg.running():
                pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)

    failed = [o for o in result.outcomes if o.status not in (200, 201)]
    books = harness.account(before, after, result, in_doubt=len(failed))
    during = [o for o in result.outcomes if o.started > stopped and o.started + o.latency_ms / 1000 < starting]
    recovered = next((o.started for o in result.outcomes if o.started > starting and o.status in (200, 201)), None)
    with capsys.disabled():
        print(f"\n[fault: PostgreSQL stopped at {stopping:.1f}-{stopped:.1f} s, started at {starting:.1f}-"
              f"{started:.1f} s] {result.summary()}")
        print(f"[fault] {len(during)} requests during the outage: {sorted({o.status for o in during})}; first success "
              f"after restart at {recovered} s; slowest answer {max(o.latency_ms for o in result.outcomes):.0f} ms; "
              f"{books.accepted} accepted scans, {books.scans_in_rows} in rows "
              f"({books.scans_in_rows - books.accepted} committed but answered 503)")

    # Clean failures: 503 with the JSON error, never a 500, never a dropped connection or a timeout.
    assert {o.status for o in result.outcomes} <= {200, 201, 503}, result.by_status()
    assert all(o.error == "database_unavailable" for o in failed), {o.error for o in failed}
    assert during and all(o.status == 503 for o in during)
    assert health[0] == 503 and json.loads(health[2])["database"] == "down"
    assert page[0] == 503 and page[1] == "text/html" and "<html" in page[2].lower()
    # Before the stop everything went through; after the restart it does again, by itself.
    assert all(o.status in (200, 201) for o in result.outcomes if o.started + o.latency_ms / 1000 < stopping)
    assert recovered is not None and recovered - started < 5
    tail = [o for o in result.outcomes if o.started > recovered + 1]
    assert tail and all(o.status in (200, 201) for o in tail)
    # Nothing half-written: every row complete, every accepted scan in its row, dedup held.
    assert books.problems == [], books.problems[:10]
    assert books.duplicate_open_stays == 0


# --- (c) SQLite read-only or full ----------------------------------------------------------------------

def sqlite_app(url: str) -> contextlib.AbstractContextManager:
    """The application on a SQLite database, as `make run` serves it (not TESTING: errors as in production)."""
    return own_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "fault-tests", "RATELIMIT_STORAGE_URI": "memory://",
                    "BACKOFFICE_DEMO_PASSWORD": harness.DEMO_PASSWORD})


@pytest.fixture(scope="module")
def sqlite_seed(tmp_path_factory) -> dict:
    """A seeded SQLite database file with a device token, QR texts and a few check-ins, checkpointed (no WAL)."""
    fault_pass()
    folder = tmp_path_factory.mktemp("sqlite_seed")
    os.environ.setdefault("BACKOFFICE_INSTANCE", str(folder))
    path = folder / "backoffice.sqlite3"
    from sqlalchemy import select
    from backoffice.demo.seed import KNOWN_ORGS, seed_demo
    from backoffice.extensions import db
    from backoffice.models import Checkpoint, Organization, Person, User
    from backoffice.scanning.devices import create_device_token
    from backoffice.scanning.payload import issue_personal_payload
    with sqlite_app(f"sqlite:///{path}") as app, app.app_context():
        db.create_all()
        seed_demo(organizations=3, residents=60, password=harness.DEMO_PASSWORD)
        org = db.session.scalar(select(Organization).where(Organization.tax_code == KNOWN_ORGS["org1"]["tax_code"]))
        admin = db.session.scalar(select(User).where(User.username == "org1.admin"))
        checkpoint = db.session.scalar(select(Checkpoint).where(Checkpoint.organization_id == org.id,
                                                                Checkpoint.direction == "entry"))
        # Every scan here must write a check-in (the faults hit writes): the organization admits black visitors,
        # whose scans would otherwise be closed door scans answered 200 (tests/test_scanning_reception.py).
        org.admit_black = True
        db.session.commit()
        token = create_device_token(checkpoint.id, "fault tests", user=admin)[1]
        payloads = [issue_personal_payload(p) for p in db.session.scalars(select(Person).order_by(Person.id))]
        client = app.test_client()
        for payload in payloads[:5]:
            assert scan(client, token, payload).status_code == 201
        db.session.remove()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return {"path": path, "token": token, "payloads": payloads, "data": table_data(path)}


def scan(client, token: str, payload: str):
    return client.post("/api/v1/scans", json={"payload": payload}, headers={"Authorization": f"Bearer {token}"})


def table_data(path: Path, max_checkin: int | None = None) -> dict:
    """Everything the tests compare: check-ins (up to an id), persons, users, organizations, audit entries."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        limit = f" WHERE id <= {int(max_checkin)}" if max_checkin is not None else ""
        return {"checkins": conn.execute(f"SELECT * FROM checkins{limit} ORDER BY id").fetchall(),
                **{t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("persons", "users", "organizations", "device_tokens")}}
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


class SmallDisk:
    """A tiny filesystem of its own (tmpfs, as root) to make read-only or fill up. Without root, SQLite's own
    limits stand in: `mode=ro` for a read-only file, `PRAGMA max_page_count` for a full disk."""

    def __init__(self, folder: Path, size_kb: int) -> None:
        self.folder = folder
        self.mounted = False
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs",
                                           str(folder)], capture_output=True).returncode == 0

    def remount_read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.folder)], check=True)

    def fill(self) -> int:
        written = 0
        with (self.folder / "filler").open("wb", buffering=0) as handle:  # unbuffered: close() has nothing left
            chunk = b"\0" * 4096
            try:
                while True:
                    written += handle.write(chunk)
            except OSError:
                pass
        return written

    def free(self) -> None:
        (self.folder / "filler").unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)


def _page_error(client) -> tuple[int, str, str]:
    """A correct login (it writes a session and an audit entry): the error page, in Vietnamese."""
    token = _CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": "org1.admin", "password": harness.DEMO_PASSWORD,
                                           "csrf_token": token})
    return response.status_code, response.mimetype, response.get_data(as_text=True)


UNAVAILABLE_VI = "tạm thời"  # "Dịch vụ tạm thời không khả dụng…": the 503 message of backoffice/translations


def test_read_only_sqlite_answers_503_and_stays_intact(sqlite_seed, tmp_path):
    disk = SmallDisk(tmp_path / "ro", size_kb=8192)
    try:
        path = disk.folder / "backoffice.sqlite3"
        shutil.copy(sqlite_seed["path"], path)
        if disk.mounted:
            disk.remount_read_only()
            url = f"sqlite:///{path}"
        else:
            url = f"sqlite:///file:{path}?mode=ro&uri=true"
        with sqlite_app(url) as app:
            client = app.test_client()
            response = scan(client, sqlite_seed["token"], sqlite_seed["payloads"][10])
            assert response.status_code == 503, response.get_data(as_text=True)[:500]
            assert response.get_json()["error"]["code"] == "database_unavailable"
            status, mimetype, body = _page_error(client)
            assert (status, mimetype) == (503, "text/html") and UNAVAILABLE_VI in body
            assert client.get("/healthz").status_code in (200, 503)  # reads may work (mode=ro) or not (ro mount)
        copy = tmp_path / "after.sqlite3"
        shutil.copy(path, copy)
    finally:
        disk.unmount()
    assert integrity(copy) == "ok"
    assert table_data(copy) == sqlite_seed["data"]


def test_full_disk_answers_503_then_recovers_without_corruption(sqlite_seed, tmp_path):
    size = sqlite_seed["path"].stat().st_size
    disk = SmallDisk(tmp_path / "full", size_kb=size // 1024 + 384)
    try:
        path = disk.folder / "backoffice.sqlite3"
        shutil.copy(sqlite_seed["path"], path)
        before = table_data(path)
        last_id = before["checkins"][-1][0]
        payloads, token = sqlite_seed["payloads"], sqlite_seed["token"]
        with sqlite_app(f"sqlite:///{path}") as app:
            client = app.test_client()
            assert scan(client, token, payloads[20]).status_code == 201  # writes work before the disk fills
            if disk.mounted:
                assert disk.fill() > 0
            else:
                from backoffice.extensions import db
                with app.app_context():
                    pages = db.session.connection().exec_driver_sql("PRAGMA page_count").scalar()
                    db.session.remove()
                    limit = lambda conn, _: conn.execute(f"PRAGMA max_page_count = {pages}")  # noqa: E731
                    event.listen(db.engine, "connect", limit)
                    db.engine.dispose()
            answers = [scan(client, token, p) for p in payloads[21:45]]
            codes = [r.status_code for r in answers]
            assert 503 in codes, codes
            first = codes.index(503)  # tmpfs: at once; max_page_count: once the free pages are used up
            assert set(codes[first:]) == {503} and set(codes[:first]) <= {201}, codes
            assert all(r.get_json()["error"]["code"] == "database_unavailable" for r in answers
                       if r.status_code == 503)
            status, mimetype, body = _page_error(client)
            assert (status, mimetype) == (503, "text/html") and UNAVAILABLE_VI in body
            # Space again: the same processes write again, no restart.
            if disk.mounted:
                disk.free()
            else:
                with app.app_context():
                    event.remove(db.engine, "connect", limit)
                    db.engine.dispose()
            again = scan(client, token, payloads[50])
            assert again.status_code == 201, again.get_data(as_text=True)[:300]
            accepted = [payloads[20], payloads[50]] + [p for p, r in zip(payloads[21:45], answers)
                                                        if r.status_code == 201]
        assert integrity(path) == "ok"
        after = table_data(path)
        assert table_data(path, max_checkin=last_id) == before  # earlier data intact
        # Exactly the accepted scans were added: one new stay each (they were new people), none for the refused.
        assert len(after["checkins"]) == len(before["checkins"]) + len(accepted)
    finally:
        disk.unmount()
