"""A positive test result starts a trace, whichever way it is recorded through the ORM (admin form, import,
API).

`after_flush` notes the positive results written. With the task queue in use (BACKOFFICE_JOBS_IN_QUEUE) the
results' ids are handed to it after the commit (`after_commit`), and a worker traces them (`trace_tests`): the
trace, which reads every check-in of the window, never holds the transaction that recorded the result, and a result
rolled back is never traced. Without the queue (the embedded default), `before_commit` traces in the result's own
transaction: the result and its case commit together or not at all.

Either way the system traces (no tracing role is needed to record a test); a person already traced with a
confirmation inside the window is not traced again; a case of theirs still waiting for a second officer's approval
opens, the test being its basis.
"""
from __future__ import annotations

from datetime import timedelta

import logging

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from backoffice.domain import TestOutcome
from backoffice.models import TestResult, TraceCase

log = logging.getLogger(__name__)
_KEY = "backoffice.tracing.positive_tests"
_QUEUED = "backoffice.tracing.queued_tests"
_installed = False


def _after_flush(session: Session, flush_context) -> None:  # noqa: ARG001
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, TestResult) and obj.result == TestOutcome.POSITIVE.value and obj.id is not None:
            if obj not in session.new and not inspect(obj).attrs.result.history.has_changes():
                continue  # an edit of another field of a result already positive
            session.info.setdefault(_KEY, {})[obj.id] = (obj.person_id, obj.tested_at)


def _in_queue() -> bool:
    from flask import current_app, has_app_context
    return has_app_context() and bool(current_app.config.get("BACKOFFICE_JOBS_IN_QUEUE"))


def _before_commit(session: Session) -> None:
    if session.new or session.dirty:
        session.flush()  # results added since the last flush are noted by _after_flush
    pending = session.info.pop(_KEY, None)
    if not pending:
        return
    from flask_login import current_user
    actor = current_user._get_current_object() if _has_user() else None
    if _in_queue():
        session.info[_QUEUED] = (sorted(pending), getattr(actor, "id", None))
        return
    for test_id, (person_id, tested_at) in pending.items():
        _trace_test(session, test_id, person_id, tested_at, actor)


def _trace_test(session: Session, test_id: int, person_id: int, tested_at, actor) -> None:
    from backoffice.tracing import service
    confirmed = service.confirmed_at_from_test(tested_at)
    recent = session.scalars(select(TraceCase).where(
        TraceCase.person_id == person_id,
        TraceCase.confirmed_at >= confirmed - timedelta(days=service.DEFAULT_WINDOW_DAYS))).all()
    if recent:
        waiting = [case for case in recent if case.pending]
        if waiting and len(waiting) == len(recent):
            service.open_by_test(waiting[0], test_id, actor=actor)
        return
    try:
        service.open_case(None, person_id, confirmed_at=confirmed, source="test", commit=False, actor=actor)
    except service.TraceError as exc:  # e.g. a test dated in the future: the result stands, untraced
        log.warning("positive test of person %s not traced: %s", person_id, exc.code)


def _after_commit(session: Session) -> None:
    queued = session.info.pop(_QUEUED, None)
    if queued:
        from backoffice.jobs.tasks import trace_job
        trace_job(*queued)


def trace_tests(test_ids: list[int], actor_id: int | None) -> int:
    """Trace the positive results `test_ids` (the queue's job): each still positive is traced as `before_commit`
    would have, in one transaction; a second run finds them traced and changes nothing. Returns how many were."""
    from backoffice.extensions import db
    from backoffice.models import User
    session = db.session
    actor = session.get(User, actor_id) if actor_id is not None else None
    results = session.scalars(select(TestResult).where(TestResult.id.in_(test_ids),
                                                       TestResult.result == TestOutcome.POSITIVE.value)).all()
    for result in results:
        _trace_test(session, result.id, result.person_id, result.tested_at, actor)
    session.info.pop(_KEY, None)  # traced here: the commit below hands nothing to the queue again
    session.commit()
    return len(results)


def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_QUEUED, None)


def _has_user() -> bool:
    from flask import has_request_context
    from flask_login import current_user
    return has_request_context() and getattr(current_user, "is_authenticated", False)


def install() -> None:
    """Listen on every ORM session once per process (several apps in one process share the listeners)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True
