"""Huey tasks: each one an application context around an operation (the operation owns its transaction)."""
from __future__ import annotations

from flask import Flask, current_app, has_app_context
from huey import crontab

from backoffice.jobs.queue import huey

_app: Flask | None = None


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
