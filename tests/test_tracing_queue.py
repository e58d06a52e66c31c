"""With the task queue in use (BACKOFFICE_JOBS_IN_QUEUE), a positive test result is traced by a worker after the
transaction that recorded it: the officer's request commits the result alone, one task is queued, and a real
worker opens the case (named after the officer, audited once); a result rolled back queues nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import AuditLog, TestResult, TraceCase
from conftest import get_user
from factories import add_person
from queue_support import queue, start_worker, stop_worker, until


@pytest.fixture
def queued(app, monkeypatch):
    monkeypatch.setitem(app.config, "BACKOFFICE_JOBS_IN_QUEUE", True)
    return queue()


def _cases(person_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(TraceCase).where(TraceCase.person_id == person_id))


def test_a_positive_result_is_traced_by_the_worker_after_its_commit(app, ctx, as_user, queued, tmp_path):
    person = add_person("Truy Vết Sau Khi Lưu")
    db.session.commit()
    person_id = person.id
    local_time = (datetime.now(timezone.utc) + timedelta(hours=5)).strftime("%Y-%m-%d %H:%M:%S")
    response = as_user("ward.bennghe").post_form(
        "/admin/testresult/new/", {"person": str(person_id), "kind": "pcr", "result": "positive",
                                   "tested_at": local_time}, token_from="/admin/testresult/new/")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    # The result is in; its trace is not: it waits in the queue.
    assert db.session.scalar(select(func.count()).select_from(TestResult).where(TestResult.person_id == person_id)) == 1
    assert _cases(person_id) == 0 and queued.pending_count() == 1
    log = tmp_path / "worker.log"
    worker = start_worker(app, log)
    try:
        assert until(lambda: _cases(person_id) == 1), log.read_text()[-3000:]
        assert until(lambda: queued.pending_count() == 0)
    finally:
        stop_worker(worker)
    case = db.session.scalar(select(TraceCase).where(TraceCase.person_id == person_id))
    assert case.source == "test" and case.created_by_id == get_user("ward.bennghe").id
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "trace.open", AuditLog.entity_id == str(case.id))) == 1
    # The job run again (a retry, a duplicate) changes nothing.
    from backoffice.tracing.hooks import trace_tests
    test_id = db.session.scalar(select(TestResult.id).where(TestResult.person_id == person_id))
    trace_tests([test_id], None)
    assert _cases(person_id) == 1 and queued.pending_count() == 0


def test_a_result_rolled_back_queues_nothing(app, ctx, queued):
    person = add_person("Kết Quả Bị Hủy")
    db.session.commit()
    db.session.add(TestResult(person_id=person.id, kind="pcr", result="positive",
                              tested_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert queued.pending_count() == 0 and _cases(person.id) == 0
