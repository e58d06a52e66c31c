"""Workbooks prepared by the task queue's worker (BACKOFFICE_JOBS_IN_QUEUE): the report page asks, a real worker
writes the file with its progress, and only the user who asked takes it; a request outside the user's reports
is refused before anything is queued; a run whose worker was killed reads as failed and is retired."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from backoffice.errors import OutOfScope
from backoffice.extensions import db
from backoffice.models import AuditLog, ReportFile
from conftest import get_user
from pages_support import vi
from queue_support import queue, start_worker, stop_worker, until

BASE = "/admin/reports/"


@pytest.fixture
def queued(app, monkeypatch):
    monkeypatch.setitem(app.config, "BACKOFFICE_JOBS_IN_QUEUE", True)
    return queue()


def _files() -> int:
    return db.session.scalar(select(func.count()).select_from(ReportFile))


def test_a_workbook_asked_for_is_written_by_the_worker_for_its_requester_only(app, ctx, as_user, queued, tmp_path):
    inspector = as_user("inspector.q1")
    page = inspector.get(BASE).get_data(as_text=True)
    assert 'id="prepare-city"' in page and 'id="download-city"' not in page
    response = inspector.post_form(BASE + "files?kind=district&district=760", token_from=BASE)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    url = response.headers["Location"]
    file_id = int(url.rstrip("/").split("/")[-1])
    assert inspector.get(url + "/status").get_json()["state"] == "queued" and queued.pending_count() == 1
    assert "backoffice_queue_pending 1.0" in app.test_client().get("/metrics").get_data(as_text=True)
    log, metrics_dir = tmp_path / "worker.log", tmp_path / "metrics"
    metrics_dir.mkdir()
    worker = start_worker(app, log, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    try:
        assert until(lambda: inspector.get(url + "/status").get_json()["state"] == "done"), log.read_text()[-3000:]
    finally:
        stop_worker(worker)
    status = inspector.get(url + "/status").get_json()
    assert status["done"] == status["total"] > 0
    assert "backoffice_queue_pending 0.0" in app.test_client().get("/metrics").get_data(as_text=True)
    # The worker timed its task where the host's /metrics sums every process's files.
    from prometheus_client import CollectorRegistry, multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    counts = {(s.labels["task"], s.labels["outcome"]): s.value for family in registry.collect()
              if family.name == "backoffice_job_duration_seconds" for s in family.samples
              if s.name.endswith("_count")}
    assert counts == {("reports.workbook", "complete"): 1.0}
    page = inspector.get(url).get_data(as_text=True)
    assert 'id="download-file"' in page
    download = inspector.get(url + ".xlsx")
    assert download.status_code == 200
    book = load_workbook(io.BytesIO(download.data), read_only=True)
    assert book.sheetnames
    # Nobody else takes it, not even a user who may read the same district's reports.
    for other in ("admin", "inspector.q3"):
        assert as_user(other).get(url).status_code == 404
        assert as_user(other).get(url + ".xlsx").status_code == 404
    actions = db.session.scalars(select(AuditLog.action).where(
        AuditLog.action.in_(["report.requested", "report.district", "report.downloaded"]),
        AuditLog.actor_id == get_user("inspector.q1").id).order_by(AuditLog.id.desc()).limit(3)).all()
    assert sorted(actions) == ["report.district", "report.downloaded", "report.requested"]
    assert db.session.get(ReportFile, file_id).filename.endswith(".xlsx")


def test_a_request_outside_the_users_reports_queues_nothing(app, ctx, as_user, queued):
    inspector = as_user("inspector.q1")
    before = _files()
    assert inspector.post_form(BASE + "files?kind=district&district=770", token_from=BASE).status_code == 404
    assert inspector.post_form(BASE + "files?kind=district", token_from=BASE).status_code == 422
    assert inspector.post_form(BASE + "files?kind=everything", token_from=BASE).status_code == 422
    assert as_user("org1.admin").post_form(BASE + "files?kind=city", token_from="/admin/").status_code in (403, 404)
    assert inspector.post(BASE + "files?kind=city").status_code == 400  # no CSRF token
    assert _files() == before and queued.pending_count() == 0


def test_a_run_whose_worker_was_killed_reads_as_failed_and_is_retired(app, ctx):
    from backoffice.reports import files
    from backoffice.timeutil import local_today, now_utc
    user = get_user("inspector.q1")
    now = now_utc()
    stalled = ReportFile(kind="city", as_of=local_today(), requested_by_id=user.id, requested_at=now,
                         started_at=now - timedelta(hours=1), state="running", done=3, total=9, filename="",
                         message="")
    old = ReportFile(kind="city", as_of=local_today(), requested_by_id=user.id, requested_at=now - timedelta(days=8),
                     state="done", done=9, total=9, filename="old.xlsx", message="", content=b"x")
    db.session.add_all([stalled, old])
    db.session.commit()
    stalled_id, old_id = stalled.id, old.id
    assert files.state_of(stalled) == "failed"
    with pytest.raises(OutOfScope):
        files.take(user, stalled_id)  # not done: nothing to take
    assert files.build(stalled_id) == "not queued"  # a second run of the job does nothing
    assert files.retire(now) == "stalled 1, removed 1"
    db.session.expire_all()
    assert db.session.get(ReportFile, old_id) is None
    retired = db.session.get(ReportFile, stalled_id)
    assert (retired.state, retired.message) == (
        "failed", vi("The worker stopped before the workbook was written. Please ask again."))
