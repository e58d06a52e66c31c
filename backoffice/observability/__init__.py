"""What an operator sees of a running host: a request id on every response and log line (request_ids), and
Prometheus metrics at `/metrics` (metrics). The probes `/healthz` and `/readyz` live in backoffice/liveness.py."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backoffice.observability import metrics, request_ids
    request_ids.init_app(app)
    metrics.init_app(app)
