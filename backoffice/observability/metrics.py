"""Prometheus metrics at `/metrics`: requests by endpoint and status, their latency, scans by result, the
database connections in use, and with the task queue in use its depth and the workers' task durations.

Under gunicorn every worker is its own process; with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py clears it at
start and marks exited workers dead) the page sums what every worker counted, as prometheus-client's multiprocess
mode does. Without it (make run, tests) the page shows this process.

The page is for the host's monitoring, not the public: it answers a direct request from the loopback, or one
bearing `BACKOFFICE_METRICS_TOKEN`; anyone else gets 404, as if there were no such page."""
from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, REGISTRY,
                               generate_latest)
from prometheus_client import multiprocess
from sqlalchemy import event

from backoffice.errors import OutOfScope

bp = Blueprint("metrics", __name__)

# In multiprocess mode every process that loads the app (a CLI command too) writes its files there; the folder
# must exist before the first metric below is made.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUESTS = Counter("backoffice_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
# Buckets around what the pages cost: a scan answers in a few ms, a workbook in seconds.
LATENCY = Histogram("backoffice_http_request_duration_seconds", "Time to answer a request", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
# result: the colour shown, or "refused"; reason: what the scan did (check_in, extended, check_out…) or the
# refusal's code. Both come from fixed vocabularies, so the series stay few.
SCANS = Counter("backoffice_scans_total", "Scans answered, by result and reason", ["result", "reason"])
DB_IN_USE = Gauge("backoffice_db_connections_in_use", "Database connections checked out of the pool",
                  multiprocess_mode="livesum")
# Observed by the queue's workers (backoffice.jobs.tasks); a worker given the host's PROMETHEUS_MULTIPROC_DIR shows
# here. outcome: Huey's signal (complete, error, interrupted).
JOB_DURATION = Histogram("backoffice_job_duration_seconds", "Time a queued task ran in a worker", ["task", "outcome"],
                         buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))


def scan_counted(result: str, reason: str) -> None:
    """A scan was answered: `result` is the colour shown or "refused", `reason` what it did or why not."""
    SCANS.labels(result=result, reason=reason).inc()


def _endpoint() -> str:
    # The rule's endpoint, never the path: paths carry ids and tokens, and each would be a series of its own.
    return request.endpoint or "unmatched"


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        endpoint = _endpoint()
        REQUESTS.labels(method=request.method, endpoint=endpoint, status=str(response.status_code)).inc()
        LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    return response


def _watch_pool(engine) -> None:
    event.listen(engine, "checkout", lambda *args: DB_IN_USE.inc())
    event.listen(engine, "checkin", lambda *args: DB_IN_USE.dec())


def _may_read() -> bool:
    token = current_app.config.get("BACKOFFICE_METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    # The peer as the socket saw it, before any proxy header was applied, and not a forwarded request: behind a
    # proxy on the same host every client would otherwise look like the loopback.
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR") or request.remote_addr or ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    return loopback and "X-Forwarded-For" not in request.headers


@bp.get("/metrics")
def metrics_page() -> Response:
    if not _may_read():  # the same bare 404 as an address that does not exist: the endpoint stays hidden
        raise OutOfScope(code="metrics")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry) + generate_latest(_queue_registry()), mimetype=CONTENT_TYPE_LATEST)


class _QueueDepth:
    """Tasks waiting in the queue, read from its storage at each scrape (the same for every process)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        from backoffice.jobs.queue import huey
        yield GaugeMetricFamily("backoffice_queue_pending", "Tasks waiting in the task queue",
                                value=huey.pending_count())


def _queue_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if current_app.config.get("BACKOFFICE_JOBS_IN_QUEUE"):
        registry.register(_QueueDepth())
    return registry


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_count)
    app.register_blueprint(bp)
    from backoffice.extensions import db
    with app.app_context():
        _watch_pool(db.engine)
