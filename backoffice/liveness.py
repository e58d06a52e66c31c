"""The load balancer's probes. `GET /healthz` (liveness): 200 when this host's database answers, 503 otherwise.
`GET /readyz` (readiness): the database and every shared service this host is configured to use (Redis for rate
limits, the task queue), each named with "up", "down" or "not configured"; 503 when one that is configured is down,
so the balancer sends no traffic to a host that would fail it."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backoffice.extensions import db

bp = Blueprint("health", __name__)

# A probe must answer within the balancer's timeout even when a service hangs.
_REDIS_TIMEOUT_SECONDS = 1.0


def _database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return "down"
    return "up"


def _redis(uri: str | None = None) -> str:
    uri = uri if uri is not None else current_app.config.get("RATELIMIT_STORAGE_URI") or ""
    if not uri.startswith(("redis://", "rediss://", "unix://")):
        return "not configured"
    import redis
    client = redis.Redis.from_url(uri, socket_timeout=_REDIS_TIMEOUT_SECONDS,
                                  socket_connect_timeout=_REDIS_TIMEOUT_SECONDS)
    try:
        client.ping()
    except (redis.RedisError, OSError):
        return "down"
    finally:
        client.close()
    return "up"


def _queue() -> str:
    """The task queue's storage, when this host hands work to it: its Redis answers, or its SQLite file reads."""
    if not current_app.config.get("BACKOFFICE_JOBS_IN_QUEUE"):
        return "not configured"
    from backoffice.jobs.queue import huey, queue_url
    if queue_url():
        return _redis(queue_url())
    try:
        huey.pending_count()
    except Exception:  # noqa: BLE001  (whatever the storage raised, it cannot take work)
        return "down"
    return "up"


@bp.get("/healthz")
def healthz():
    if _database() == "down":
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up")


@bp.get("/readyz")
def readyz():
    checks = {"database": _database(), "redis": _redis(), "queue": _queue()}
    ready = "down" not in checks.values()
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503
