"""Huey tasks: each one an application context around an operation (the operation owns its transaction)."""
from __future__ import annotations

import time

from flask import Flask, current_app, has_app_context
from huey import crontab
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_EXECUTING, SIGNAL_INTERRUPTED

from backoffice.jobs.queue import huey
from backoffice.observability.metrics import JOB_DURATION

_app: Flask | None = None
_started: dict[str, float] = {}  # task id → when its execution began, in this worker process


@huey.signal(SIGNAL_EXECUTING)
def _executing(signal: str, task) -> None:
    _started[task.id] = time.perf_counter()


@huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_INTERRUPTED)
def _finished(signal: str, task, *args) -> None:
    began = _started.pop(task.id, None)
    if began is not None:
        JOB_DURATION.labels(task=task.name, outcome=signal).observe(time.perf_counter() - began)


def use_app(app: Flask) -> None:
    """The application the worker's tasks run in (the worker command passes its own)."""
    global _app
    _app = app


def _application() -> Flask:
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from backoffice import create_app
        _app = create_app()
    return _app


@huey.periodic_task(crontab(), name="jobs.tick")
def tick() -> list[str]:
    """Each minute, on every worker's scheduler: run the periodic jobs nobody has run this period."""
    from backoffice.jobs.periodic import run_due
    with _application().app_context():
        return run_due()


@huey.task(name="imports.run")
def import_job(action: str, record_id: int, user_id: int, locale: str) -> int:
    """An import's preview or apply, in a memory-limited child of this worker (backoffice.imports.jobs); no
    retry: a worker killed mid-job may leave its child finishing, and the import's stall check marks a job
    that stopped reporting progress as failed."""
    from backoffice.imports import jobs
    app = _application()
    with app.app_context():
        job = jobs.start(app, action, record_id, user_id, locale)
        job.wait(None)
        return job.process.exitcode


@huey.task(name="reports.workbook")
def report_job(file_id: int) -> str:
    """A workbook a user asked for on the report page (backoffice.reports.files); a second run does nothing."""
    from backoffice.reports import files
    with _application().app_context():
        return files.build(file_id)


@huey.task(name="tracing.positive_tests")
def trace_job(test_ids: list[int], actor_id: int | None) -> int:
    """Positive test results recorded and committed: trace them (backoffice.tracing.hooks)."""
    from backoffice.tracing.hooks import trace_tests
    with _application().app_context():
        return trace_tests(test_ids, actor_id)
