"""A positive test result starts a trace, whichever way it is recorded through the ORM (admin form, import,
API), in the same transaction as the result itself: the result and its case commit together or not at all.

`after_flush` notes the positive results written; `before_commit` opens a case for each (the system traces:
no tracing role is needed to record a test). A person already traced with a confirmation inside the window
is not traced again; a case of theirs still waiting for a second officer's approval opens, the test being its
basis.
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
_installed = False


def _after_flush(session: Session, flush_context) -> None:  # noqa: ARG001
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, TestResult) and obj.result == TestOutcome.POSITIVE.value and obj.id is not None:
            if obj not in session.new and not inspect(obj).attrs.result.history.has_changes():
                continue  # an edit of another field of a result already positive
            session.info.setdefault(_KEY, {})[obj.id] = (obj.person_id, obj.tested_at)


def _before_commit(session: Session) -> None:
    if session.new or session.dirty:
        session.flush()  # results added since the last flush are noted by _after_flush
    pending = session.info.pop(_KEY, None)
    if not pending:
        return
    from flask_login import current_user

    from backoffice.tracing import service
    actor = current_user._get_current_object() if _has_user() else None
    for test_id, (person_id, tested_at) in pending.items():
        confirmed = service.confirmed_at_from_test(tested_at)
        recent = session.scalars(select(TraceCase).where(
            TraceCase.person_id == person_id,
            TraceCase.confirmed_at >= confirmed - timedelta(days=service.DEFAULT_WINDOW_DAYS))).all()
        if recent:
            waiting = [case for case in recent if case.pending]
            if waiting and len(waiting) == len(recent):
                service.open_by_test(waiting[0], test_id, actor=actor)
            continue
        try:
            service.open_case(None, person_id, confirmed_at=confirmed, source="test", commit=False, actor=actor)
        except service.TraceError as exc:  # e.g. a test dated in the future: the result stands, untraced
            log.warning("positive test of person %s not traced: %s", person_id, exc.code)


def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)


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
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True
