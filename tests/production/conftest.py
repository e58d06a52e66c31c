"""The production setup under test: gunicorn (3 workers, `wsgi:app`, `gunicorn.conf.py`) on a PostgreSQL database of
its own, rate limits in Redis, signing keys from configuration, migrated with `flask db upgrade` and seeded.

Which CI pass runs what (CI runs the suite twice: on SQLite, then with TEST_DATABASE_URL on PostgreSQL):
- the setup and load tests need PostgreSQL and Redis, and test the same system whichever database the rest of the
  suite uses: they run once, in the PostgreSQL pass, on the server of TEST_DATABASE_URL;
- the fault tests bring their own databases (a private PostgreSQL instance, SQLite files on a tiny filesystem), and
  the reports replica tests a private primary with a streaming standby of it: they run once, in the SQLite pass.
Running both in both passes would double about a minute of CI for nothing new. `BACKOFFICE_PRODUCTION_TESTS=all`
runs everything in any pass (the setup then uses postgresql://postgres@127.0.0.1:5432 when TEST_DATABASE_URL is not
PostgreSQL). Select them with `-m production`.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from . import harness

ALL = os.environ.get("BACKOFFICE_PRODUCTION_TESTS") == "all"
_TEST_URL = os.environ.get("TEST_DATABASE_URL", "")
POSTGRES_PASS = _TEST_URL.startswith("postgresql")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "production: the production setup, load and fault tests (tests/production)")


def setup_server() -> str:
    """The PostgreSQL server the setup and load tests create their database on (or skip, with the reason)."""
    if POSTGRES_PASS:
        return _TEST_URL
    if not ALL:
        pytest.skip("the production setup (gunicorn + PostgreSQL + Redis) runs in the PostgreSQL pass: set "
                    "TEST_DATABASE_URL, or BACKOFFICE_PRODUCTION_TESTS=all")
    return harness.DEFAULT_SERVER


def fault_pass() -> None:
    if POSTGRES_PASS and not ALL:
        pytest.skip("the fault tests use their own databases (a private PostgreSQL, SQLite files), not "
                    "TEST_DATABASE_URL: they run in the SQLite pass (or set BACKOFFICE_PRODUCTION_TESTS=all)")


def need_redis(db_number: int = harness.REDIS_DB) -> str:
    uri = harness.redis_uri(db_number)
    if uri is None:
        pytest.skip(f"Redis is not answering on {harness.REDIS_SERVER} (the production setup keeps rate limits there)")
    return uri


@dataclass
class Production:
    env: dict[str, str]
    database_url: str
    redis: str
    port: int
    fixture: harness.Fixture
    server: harness.Gunicorn
    instance: Path

    @property
    def kid(self) -> str:
        return self.env["BACKOFFICE_SIGNING_KEYS"].split("=", 1)[0]


@pytest.fixture(scope="session")
def production() -> Iterator[Production]:
    server_url = setup_server()
    if not harness.postgres_reachable(server_url):
        pytest.fail(f"PostgreSQL is not reachable at {server_url}")
    redis = need_redis()
    harness.flush_redis(redis)
    instance = Path(tempfile.mkdtemp(prefix="bo_prod_"))
    with harness.own_database(server_url) as url:
        port = harness.free_port()
        env = harness.production_env(url, port=port, instance=instance, redis=redis,
                                     signing_keys=harness.new_signing_key(), workers=3, **harness.LOAD_SCAN_LIMITS)
        fixture = harness.prepare(env, organizations=40, residents=600, device_orgs=8)
        server = harness.Gunicorn(env, instance / "gunicorn.log").start()
        try:
            yield Production(env, url, redis, port, fixture, server, instance)
        finally:
            server.stop()
            harness.flush_redis(redis)
            shutil.rmtree(instance, ignore_errors=True)
