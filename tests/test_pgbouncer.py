"""The application through PgBouncer in transaction mode (BACKOFFICE_DATABASE_POOLER=pgbouncer): device scans
(the hot path, on psycopg's cursor) and ordinary pages, each run more often than psycopg's prepare threshold (5),
from several threads through a pool of two server connections; and the same work without the setting fails
on prepared statements, which is what the setting is for. PostgreSQL only, with Debian's pgbouncer (1.18).

A private PgBouncer (tests/pgbouncer_support.py) runs on a free port in front of the test database."""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import CheckIn
from backoffice.scanning import devices
from backoffice.scanning.payload import issue_personal_payload
from conftest import get_user, login
from factories import checkpoint, new_person
from pages_support import dedicated_app
from pgbouncer_support import available, running_pgbouncer

pytestmark = [
    pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                       reason="PgBouncer pools PostgreSQL connections: set TEST_DATABASE_URL to a PostgreSQL one"),
    pytest.mark.skipif(not available(), reason="pgbouncer is not installed (apt-get install pgbouncer)"),
]

THREADS = 4
SCANS_PER_THREAD = 30  # well above psycopg's prepare_threshold (5) on every connection; 8 did not always fail
PAGES = ("/admin/", "/admin/organization/", "/admin/checkin/", "/admin/person/", "/admin/devicetoken/")


@pytest.fixture(scope="module")
def bouncer(app):
    with running_pgbouncer(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=2) as running:
        yield running


def _pooled(app, bouncer, pooler: str):
    return dedicated_app(app, SQLALCHEMY_DATABASE_URI=bouncer.url, BACKOFFICE_DATABASE_POOLER=pooler,
                         SCAN_LIMIT_PER_DEVICE="100000 per minute", SCAN_LIMIT_PER_IP="100000 per minute")


def _scanning_work(app, count: int) -> tuple[str, list[str]]:
    """A new device token at an entry checkpoint and `count` residents' personal QR texts."""
    with app.app_context():
        secret = devices.create_device_token(checkpoint().id, "máy quét qua PgBouncer",
                                             user=get_user("org1.admin"))[1]
        texts = [issue_personal_payload(new_person()) for _ in range(count)]
    return secret, texts


def _scan_in_threads(pooled, secret: str, texts: list[str]) -> tuple[list[int], list[BaseException]]:
    """Each thread scans its share of `texts` through its own client: (statuses, exceptions)."""
    statuses, failures, lock = [], [], threading.Lock()
    barrier = threading.Barrier(THREADS)

    def scanner(share: list[str]) -> None:
        client = pooled.test_client()
        barrier.wait(10)
        for text in share:
            try:
                response = client.post("/api/v1/scans", json={"payload": text},
                                       headers={"Authorization": f"Bearer {secret}"})
                with lock:
                    statuses.append(response.status_code)
            except Exception as exc:  # noqa: BLE001 - collected, and asserted on by the caller
                with lock:
                    failures.append(exc)

    threads = [threading.Thread(target=scanner, args=(texts[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses, failures


def _checkins_by_person(app, secret: str) -> Counter:
    """The check-ins this token's scans recorded, per person."""
    with app.app_context():
        token = devices.authenticate_device(secret)
        rows = db.session.execute(select(CheckIn.person_id, func.count()).where(
            CheckIn.device_token_id == token.id).group_by(CheckIn.person_id)).all()
    return Counter({person: n for person, n in rows})


def test_concurrent_device_scans_through_a_pool_of_two_are_each_recorded_once(app, bouncer):
    secret, texts = _scanning_work(app, THREADS * SCANS_PER_THREAD)
    with _pooled(app, bouncer, "pgbouncer") as pooled:
        statuses, failures = _scan_in_threads(pooled, secret, texts)
    assert failures == []
    assert statuses == [201] * len(texts)
    recorded = _checkins_by_person(app, secret)
    assert len(recorded) == len(texts) and set(recorded.values()) == {1}


def test_pages_and_a_login_through_pgbouncer(app, bouncer):
    """The ORM session's statements (login, server-side session records, admin lists), each page loaded more
    often than the prepare threshold, while another thread's scans take the server connections in turn."""
    secret, texts = _scanning_work(app, 12)
    with _pooled(app, bouncer, "pgbouncer") as pooled:
        client = pooled.test_client()
        assert login(client, "admin").status_code == 302
        scans = threading.Thread(target=lambda: _scan_in_threads(pooled, secret, texts))
        scans.start()
        for _ in range(7):
            for page in PAGES:
                response = client.get(page)
                assert response.status_code == 200, (page, response.status_code)
        scans.join(120)
    assert sum(_checkins_by_person(app, secret).values()) == len(texts)


def test_without_the_setting_prepared_statements_break_through_transaction_pooling(app, bouncer, caplog):
    """What BACKOFFICE_DATABASE_POOLER=pgbouncer is for: psycopg's own server-side prepared statements, made after
    five runs, are missing or another client's on the next transaction's server connection ("prepared statement
    "_pg3_0" already exists" raised; "bind message supplies 32 parameters, but prepared statement "_pg3_5"
    requires 3" answered 503)."""
    secret, texts = _scanning_work(app, THREADS * SCANS_PER_THREAD)
    with _pooled(app, bouncer, "") as pooled:
        statuses, failures = _scan_in_threads(pooled, secret, texts)
    errors = [str(exc) for exc in failures] + [record.getMessage() for record in caplog.records]
    assert any("prepared statement" in error for error in errors), (statuses, failures)
    assert statuses.count(201) < len(texts)


def test_an_unknown_pooler_is_refused_at_startup(app):
    with pytest.raises(ValueError, match="BACKOFFICE_DATABASE_POOLER"):
        with dedicated_app(app, BACKOFFICE_DATABASE_POOLER="pgpool"):
            pass
