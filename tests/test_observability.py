"""What an operator sees: a request id on every response and log line, Prometheus metrics for the host's
monitoring only (loopback or token), and readiness that names each shared service."""
from __future__ import annotations

import io
import logging

from prometheus_client.parser import text_string_to_metric_families

from backoffice.extensions import db
from backoffice.observability import metrics
from backoffice.observability.request_ids import LOG_FORMAT
from backoffice.scanning.payload import issue_personal_payload
from conftest import post_json
from factories import checkpoint, new_person
from production.harness import REDIS_SERVER

OUTSIDE = {"REMOTE_ADDR": "203.0.113.5"}


def sample(client, name: str, **labels: str) -> float:
    """The value of one series on the metrics page (0 when it is not there yet)."""
    page = client.get("/metrics")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    for family in text_string_to_metric_families(page.get_data(as_text=True)):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


# --- request ids -----------------------------------------------------------------------------------

def test_every_response_carries_a_request_id_of_its_own(app):
    client = app.test_client()
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert app.test_client().get("/no/such/page").headers["X-Request-ID"]  # errors too


def test_the_proxys_request_id_is_kept_and_a_malformed_one_replaced(app):
    client = app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c01"}).headers["X-Request-ID"] == "lb-7f3a9c01"
    for bad in ("short", "has space in it", "x" * 65, "a\u00e9bcdefghij", "<script>alert(1)</script>"):
        given = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert given != bad and len(given) == 32


def test_log_lines_carry_the_request_id(app):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log = logging.getLogger("backoffice.test_observability")
    log.addHandler(handler)
    try:
        with app.test_request_context("/", headers={"X-Request-ID": "req-0123456789"}):
            app.preprocess_request()
            log.warning("inside a request")
        log.warning("outside any request")
        logging.getLogger("some.library").handlers[:] = [handler]
        logging.getLogger("some.library").warning("a library's line")
    finally:
        log.removeHandler(handler)
        logging.getLogger("some.library").handlers[:] = []
    lines = out.getvalue().splitlines()
    assert "[req-0123456789] backoffice.test_observability: inside a request" in lines[0]
    assert "[-] backoffice.test_observability: outside any request" in lines[1]
    assert "[-] some.library: a library's line" in lines[2]


# --- metrics ----------------------------------------------------------------------------------------

def test_requests_are_counted_by_endpoint_and_status(app):
    client = app.test_client()
    before = sample(client, "backoffice_http_requests_total", endpoint="health.healthz", status="200", method="GET")
    for _ in range(3):
        client.get("/healthz")
    after = sample(client, "backoffice_http_requests_total", endpoint="health.healthz", status="200", method="GET")
    assert after - before == 3
    assert sample(client, "backoffice_http_request_duration_seconds_count", endpoint="health.healthz") >= 3


def test_paths_with_ids_make_no_series_of_their_own(app):
    client = app.test_client()
    before = sample(client, "backoffice_http_requests_total", endpoint="unmatched", status="404")
    client.get("/no/such/page/12345")
    client.get("/no/such/page/67890")
    page = client.get("/metrics").get_data(as_text=True)
    # In no label (a sample's value may hold the digits: a latency of 0.0146367890… s).
    labels = {value for family in text_string_to_metric_families(page) for sample in family.samples
              for value in sample.labels.values()}
    assert not any("12345" in value or "67890" in value for value in labels)
    assert sample(client, "backoffice_http_requests_total", endpoint="unmatched", status="404") - before == 2


def test_scans_are_counted_by_result(app, as_user):
    staff = as_user("org1.staff")
    probe = app.test_client()
    with app.app_context():
        cp = checkpoint().id
        text = issue_personal_payload(new_person())
    green_before = sample(probe, "backoffice_scans_total", result="green", reason="check_in")
    refused_before = sample(probe, "backoffice_scans_total", result="refused", reason="unknown_prefix")
    assert post_json(staff, "/reception/scan", {"text": text, "checkpoint": cp}).status_code in (200, 201)
    refused = post_json(staff, "/reception/scan", {"text": "not a qr code at all", "checkpoint": cp})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "unknown_prefix"
    assert sample(probe, "backoffice_scans_total", result="green", reason="check_in") - green_before == 1
    assert sample(probe, "backoffice_scans_total", result="refused", reason="unknown_prefix") - refused_before == 1


def test_database_connections_in_use_follow_the_pool(app):
    with app.app_context():
        base = metrics.DB_IN_USE._value.get()
        connection = db.engine.connect()
        assert metrics.DB_IN_USE._value.get() == base + 1
        connection.close()
        assert metrics.DB_IN_USE._value.get() == base


def test_metrics_are_not_for_the_public(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    # A proxy on the same host forwards the public: a forwarded request is not the loopback's.
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404
    app.config["BACKOFFICE_METRICS_TOKEN"] = "s3cret-scrape-token"
    try:
        assert client.get("/metrics", environ_base=OUTSIDE,
                          headers={"Authorization": "Bearer s3cret-scrape-token"}).status_code == 200
        assert client.get("/metrics", environ_base=OUTSIDE,
                          headers={"Authorization": "Bearer wrong"}).status_code == 404
    finally:
        app.config.pop("BACKOFFICE_METRICS_TOKEN")


# --- readiness --------------------------------------------------------------------------------------

def test_ready_names_each_service(app):
    client = app.test_client()
    uri = app.config["RATELIMIT_STORAGE_URI"]
    try:
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
        body = client.get("/readyz").get_json()
        assert body == {"status": "ready",
                        "checks": {"database": "up", "redis": "not configured", "queue": "not configured"}}
        app.config["RATELIMIT_STORAGE_URI"] = f"redis://{REDIS_SERVER}/13"
        response = client.get("/readyz")
        assert response.status_code == 200 and response.get_json()["checks"]["redis"] == "up"
        app.config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:1/0"  # nothing listens there
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable",
                                       "checks": {"database": "up", "redis": "down", "queue": "not configured"}}
    finally:
        app.config["RATELIMIT_STORAGE_URI"] = uri


def test_ready_checks_the_queue_a_host_hands_work_to(app, monkeypatch):
    """With BACKOFFICE_JOBS_IN_QUEUE the queue's storage is checked: the embedded SQLite one here, and a Redis
    one through BACKOFFICE_QUEUE_URL (up when it answers, 503 when nothing listens)."""
    monkeypatch.setitem(app.config, "BACKOFFICE_JOBS_IN_QUEUE", True)
    client = app.test_client()
    assert client.get("/readyz").get_json()["checks"]["queue"] == "up"
    monkeypatch.setenv("BACKOFFICE_QUEUE_URL", f"redis://{REDIS_SERVER}/12")
    assert client.get("/readyz").get_json()["checks"]["queue"] == "up"
    monkeypatch.setenv("BACKOFFICE_QUEUE_URL", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["queue"] == "down"
