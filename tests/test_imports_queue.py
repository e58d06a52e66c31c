"""Imports run by the task queue's worker (BACKOFFICE_JOBS_IN_QUEUE): the web process only queues them. With no
worker running an upload waits in the queue, untouched; a worker started later previews it, and the apply it
queues next lands every row once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import ImportRecord, Organization
from factories import tax_codes
from imports_support import ORG_HEADER, org_row, xlsx
from test_imports_wizard import BASE, record_url, upload

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def queued(app, monkeypatch):
    monkeypatch.setitem(app.config, "BACKOFFICE_JOBS_IN_QUEUE", True)
    monkeypatch.setitem(app.config, "IMPORT_SYNC_WAIT_SECONDS", 1)
    from backoffice.jobs.queue import huey
    huey.flush()
    return huey


def _worker(app, queue_file: str, log: Path) -> subprocess.Popen:
    """The queue's worker as production runs it, on the suite's database and this process's queue."""
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
           "BACKOFFICE_INSTANCE": str(Path(queue_file).parent), "IMPORT_STAGING_DIR": _staging(app)}
    for name in ("BACKOFFICE_QUEUE_URL", "BACKOFFICE_QUEUE_NAME", "TEST_DATABASE_URL"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "backoffice", "jobs", "worker", "--workers", "1",
                             "--no-periodic"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _staging(app) -> str:
    from backoffice.imports import staging
    with app.app_context():
        return str(staging.directory())


def _state(record_id: int) -> str:
    db.session.expire_all()
    return db.session.get(ImportRecord, record_id).state


def _until(predicate, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_an_import_queued_by_the_web_runs_in_the_worker(app, ctx, as_user, queued, tmp_path):
    if not hasattr(queued.storage, "filename"):
        pytest.skip("the suite's queue is not the embedded SQLite one (BACKOFFICE_QUEUE_URL is set)")
    admin = as_user("admin")
    codes = tax_codes(3)
    url = record_url(upload(admin, BASE, xlsx([ORG_HEADER, *[org_row(code) for code in codes]])))
    record_id = int(url.rstrip("/").split("/")[-1])
    time.sleep(1.5)
    assert _state(record_id) == "reading" and queued.pending_count() == 1  # queued, and nobody else ran it
    worker = _worker(app, queued.storage.filename, tmp_path / "worker.log")
    try:
        assert _until(lambda: _state(record_id) == "previewed"), (tmp_path / "worker.log").read_text()[-3000:]
        page = admin.get(url).get_data(as_text=True)
        assert all(code in page for code in codes)
        response = admin.post_form(url + "confirm", {"mode": "block"}, token_from=url)
        assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
        assert _until(lambda: _state(record_id) == "applied"), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    imported = db.session.scalars(select(Organization.tax_code).where(Organization.tax_code.in_(codes))).all()
    assert sorted(imported) == sorted(codes)
    assert queued.pending_count() == 0
