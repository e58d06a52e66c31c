"""Imports run by the task queue's worker (BACKOFFICE_JOBS_IN_QUEUE): the web process only queues them. With no
worker running an upload waits in the queue, untouched; a worker started later previews it, and the apply it
queues next lands every row once."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import ImportRecord, Organization
from factories import tax_codes
from imports_support import ORG_HEADER, org_row, xlsx
from queue_support import queue, start_worker, stop_worker, until
from test_imports_wizard import BASE, record_url, upload


@pytest.fixture
def queued(app, monkeypatch):
    monkeypatch.setitem(app.config, "BACKOFFICE_JOBS_IN_QUEUE", True)
    monkeypatch.setitem(app.config, "IMPORT_SYNC_WAIT_SECONDS", 1)
    return queue()


def _state(record_id: int) -> str:
    db.session.expire_all()
    return db.session.get(ImportRecord, record_id).state


def test_an_import_queued_by_the_web_runs_in_the_worker(app, ctx, as_user, queued, tmp_path):
    admin = as_user("admin")
    codes = tax_codes(3)
    url = record_url(upload(admin, BASE, xlsx([ORG_HEADER, *[org_row(code) for code in codes]])))
    record_id = int(url.rstrip("/").split("/")[-1])
    time.sleep(1.5)
    assert _state(record_id) == "reading" and queued.pending_count() == 1  # queued, and nobody else ran it
    log = tmp_path / "worker.log"
    worker = start_worker(app, log)
    try:
        assert until(lambda: _state(record_id) == "previewed"), log.read_text()[-3000:]
        page = admin.get(url).get_data(as_text=True)
        assert all(code in page for code in codes)
        response = admin.post_form(url + "confirm", {"mode": "block"}, token_from=url)
        assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
        assert until(lambda: _state(record_id) == "applied"), log.read_text()[-3000:]
    finally:
        stop_worker(worker)
    imported = db.session.scalars(select(Organization.tax_code).where(Organization.tax_code.in_(codes))).all()
    assert sorted(imported) == sorted(codes)
    assert queued.pending_count() == 0
