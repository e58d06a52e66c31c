"""Work done away from the request: the task queue (Huey), its worker, and the periodic jobs.

- `queue`: the Huey instance, Redis storage when BACKOFFICE_QUEUE_URL names a Redis, else SQLite storage in the
  instance folder (the embedded default, one host).
- `periodic`: which jobs run how often, and the claim that lets exactly one scheduler run each period of a job
  however many hosts schedule it.
- `tasks`: the Huey tasks, thin: an application context around an operation.
- `cli`: `flask jobs worker | run-due | runs`.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backoffice.jobs import cli
    cli.init_app(app)
