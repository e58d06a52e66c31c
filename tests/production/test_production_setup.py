"""The production setup, for real: gunicorn with 3 workers serving `wsgi:app` on PostgreSQL, migrated with
`flask db upgrade`, seeded; rate limits in Redis; signing keys from configuration; behind a (simulated) TLS proxy
(`BACKOFFICE_PROXY_COUNT=1`, `SESSION_COOKIE_SECURE=1`). See the README (Deployment)."""
from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import create_engine, text

from . import harness

pytestmark = [pytest.mark.production, pytest.mark.slow]

# What the TLS proxy adds. A browser on https sends a same-origin Referer (Flask-WTF checks it on https).
PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "backoffice.example.vn",
         "Referer": "https://backoffice.example.vn/login"}
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
KNOWN_GREEN = "079090000001"  # Nguyễn Văn An, two doses (backoffice.demo.seed.KNOWN_RESIDENTS)


def query(url: str, sql: str, **params):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def cookies_of(headers) -> dict[str, str]:
    jar = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or []:
        jar.load(value)
    return {k: m.value for k, m in jar.items()}


def login_form(port: int, forwarded_for: str, timeout: float = 10) -> tuple[str, str]:
    """(csrf token, session cookie) from GET /login, as a browser behind the proxy gets them."""
    status, headers, body = harness.request(port, "GET", "/login", headers={**PROXY, "X-Forwarded-For": forwarded_for},
                                            timeout=timeout)
    assert status == 200
    return _CSRF.search(body.decode()).group(1), cookies_of(headers)["bo_session"]


def post_login(port: int, username: str, password: str, forwarded_for: str, timeout: float = 10):
    token, cookie = login_form(port, forwarded_for, timeout)
    form = f"username={username}&password={password}&csrf_token={token}"
    return harness.request(port, "POST", "/login", form, {
        **PROXY, "X-Forwarded-For": forwarded_for, "Cookie": f"bo_session={cookie}",
        "Content-Type": "application/x-www-form-urlencoded"}, timeout=timeout)


def test_migrated_with_flask_db_upgrade(production):
    heads = harness.migration_heads()
    versions = {row[0] for row in query(production.database_url, "SELECT version_num FROM alembic_version")}
    assert versions == set(heads), "flask db upgrade heads left the database behind the migrations"
    tables = {row[0] for row in query(production.database_url,
                                      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"checkins", "device_tokens", "signing_keys", "user_sessions", "persons", "organizations"} <= tables
    assert query(production.database_url, "SELECT count(*) FROM persons")[0][0] >= 600  # seeded


def test_healthz_answers_from_every_worker(production):
    assert len(production.server.worker_pids()) == 3
    for _ in range(6):
        status, headers, body = harness.request(production.port, "GET", "/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok", "database": "up"}


def test_metrics_sum_every_worker_and_requests_carry_their_id(production):
    from prometheus_client.parser import text_string_to_metric_families

    def healthz_count() -> float:
        status, _headers, body = harness.request(production.port, "GET", "/metrics")
        assert status == 200
        return sum(s.value for family in text_string_to_metric_families(body.decode())
                   for s in family.samples if s.name == "backoffice_http_requests_total"
                   and s.labels.get("endpoint") == "health.healthz" and s.labels.get("status") == "200")

    before = healthz_count()
    ids = set()
    for _ in range(30):
        status, headers, _body = harness.request(production.port, "GET", "/healthz")
        assert status == 200
        ids.add(headers["X-Request-ID"])
    # Each worker counts in its own file; the page sums them, whichever worker answers it.
    assert [healthz_count() - before for _ in range(3)] == [30, 30, 30]
    assert len(ids) == 30
    files = list((production.instance / "metrics").glob("*.db"))
    assert len({f.stem.rsplit("_", 1)[-1] for f in files}) >= 2, files  # more than one worker counted
    # The access log names the id each response carried.
    log = (production.instance / "access.log").read_text()
    assert sum(request_id in log for request_id in ids) == 30
    # And the page is not for the public: the balancer forwards clients, who are refused.
    assert harness.request(production.port, "GET", "/metrics", headers={"X-Forwarded-For": "198.51.100.7"})[0] == 404


def test_ready_checks_the_database_and_redis(production):
    status, _headers, body = harness.request(production.port, "GET", "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready", "checks": {
        "database": "up", "redis": "up", "queue": "not configured"}}


def test_signing_key_comes_from_configuration(production):
    status, _, body = harness.request(production.port, "GET", "/api/v1/keys")
    assert status == 200
    keys = json.loads(body)["keys"]
    assert [(k["kid"], k["signing"]) for k in keys] == [(production.kid, True)]
    # The database holds the public half only: the private key lives in the configuration.
    rows = query(production.database_url, "SELECT kid, private_key IS NULL, signing FROM signing_keys")
    assert rows == [(production.kid, True, True)]


def test_login_behind_the_tls_proxy(production):
    sessions_before = query(production.database_url, "SELECT count(*) FROM user_sessions")[0][0]
    status, headers, _ = post_login(production.port, "org1.admin", harness.DEMO_PASSWORD, "203.0.113.8")
    assert status == 302
    cookie = next(v for v in headers.get_all("Set-Cookie") if v.startswith("bo_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=lax"} <= flags
    session = cookies_of(headers)["bo_session"]
    status, _, body = harness.request(production.port, "GET", "/admin/",
                                      headers={**PROXY, "Cookie": f"bo_session={session}"})
    assert status == 200 and 'name="password"' not in body.decode()  # the admin home, not the login page
    # Server-side session in PostgreSQL: any worker (or host) finds it.
    assert query(production.database_url, "SELECT count(*) FROM user_sessions")[0][0] == sessions_before + 1
    audit = query(production.database_url, "SELECT ip FROM audit_log WHERE action = 'login.success' ORDER BY id DESC "
                                           "LIMIT 1")
    assert audit and audit[0][0] == "203.0.113.8"  # the client as the proxy saw it (ProxyFix)


def test_scan_through_the_api_with_a_device_token(production):
    person = next(p for p in production.fixture.people if p["id_number"] == KNOWN_GREEN)
    token = production.fixture.tokens[-1]
    stay = "SELECT id, scan_count FROM checkins WHERE person_id = :p AND location_id = :l AND checked_out_at IS NULL"
    open_before = query(production.database_url, stay, p=person["id"], l=token["location"])  # the load may run first
    body = json.dumps({"payload": person["signed"], "checkpoint": token["checkpoint"]})
    status, _, raw = harness.request(production.port, "POST", "/api/v1/scans", body, {
        "Content-Type": "application/json", "Authorization": f"Bearer {token['token']}"})
    assert status == (200 if open_before else 201), raw
    answer = json.loads(raw)
    assert (answer["colour"], answer["name"], answer["signed"], answer["action"]) == (
        "green", "Nguyễn Văn An", True, "extended" if open_before else "check_in")
    assert answer["id_masked"] == "*" * (len(answer["id_masked"]) - 4) + answer["id_masked"][-4:]
    row = query(production.database_url, "SELECT person_id, location_id, method, scan_count FROM checkins "
                                         "WHERE id = :id", id=answer["checkin_id"])
    assert row == [(person["id"], token["location"], "device", open_before[0][1] + 1 if open_before else 1)]
    # A wrong token is refused with a JSON error, nothing recorded.
    status, _, raw = harness.request(production.port, "POST", "/api/v1/scans", body, {
        "Content-Type": "application/json", "Authorization": "Bearer bod_not-a-token"})
    assert status in (401, 403) and json.loads(raw)["error"]["code"] == "bad_token"


def _access_log_pids(production, forwarded_for: set[str]) -> dict[str, str]:
    """Which worker answered each POST /login, by the X-Forwarded-For the attempt carried (gunicorn's log)."""
    pids = {}
    for line in (production.instance / "access.log").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] in forwarded_for and '"POST /login' in line:
            pids[fields[0]] = re.search(r"<(\d+)>", line).group(1)
    return pids


IN_FLIGHT = 3 * 2  # the production fixture's gunicorn workers (conftest.py) × their threads (gunicorn.conf.py)


def test_login_limit_holds_across_workers_through_redis(production):
    """LOGIN_LIMIT_PER_USERNAME (30 a minute by default) attempts pass, and no more: that many and twelve more at
    once, each from its own address (so only the per-username limit applies) on its own connection, land on
    several workers. Were the counters per worker, each worker would let the limit through."""
    import redis
    from limits import parse

    from backoffice import config
    allowed = parse(production.env.get("LOGIN_LIMIT_PER_USERNAME")
                    or config.from_environment(str(production.instance))["LOGIN_LIMIT_PER_USERNAME"]).amount
    for attempt in range(3):  # the kernel spreads connections over workers; all on one proves nothing: again
        username = f"nobody.{secrets.token_hex(4)}"
        addresses = [f"198.51.{attempt}.{i + 1}" for i in range(allowed + 12)]
        statuses: dict[str, int] = {}

        def one(address: str) -> None:
            # Forty-two logins queue for six threads, each checking a password hash: on a loaded machine the last
            # wait well past the usual 10 s, and an attempt that timed out would go uncounted.
            statuses[address] = post_login(production.port, username, "wrong-password", address, timeout=120)[0]

        threads = [threading.Thread(target=one, args=(a,)) for a in addresses]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        # A failed login is counted once answered (deduct_when), so requests in flight at once may pass beside
        # the last counted one; per-worker counters would let every attempt through.
        passed = sum(1 for status in statuses.values() if status == 200)
        assert set(statuses.values()) <= {200, 429} and allowed <= passed < allowed + IN_FLIGHT, statuses
        workers = set(_access_log_pids(production, set(addresses)).values())
        if len(workers) >= 2:
            break
    assert len(workers) >= 2, "every attempt went to one worker three times over"
    keys = redis.Redis.from_url(production.redis).keys("*")
    assert any(username.encode() in key for key in keys), "the counter is not in Redis"


def test_backup_restores_into_a_working_database(production, tmp_path):
    """The backup of the README (Deployment): `pg_dump -Fc`, restored with `pg_restore` into an empty database, holds
    everything (migration version, check-ins, the key ring's public keys) and serves: a QR signed before the backup
    verifies against the restored key ring."""
    import shutil
    import subprocess
    from sqlalchemy.engine import make_url
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed")
    dump = tmp_path / "backoffice.dump"
    source = make_url(production.database_url)
    subprocess.run(["pg_dump", "-Fc", "-h", source.host, "-p", str(source.port or 5432), "-U", source.username,
                    "-f", str(dump), source.database], check=True, timeout=120)
    tables = ("alembic_version", "checkins", "persons", "signing_keys", "device_tokens", "users", "audit_log")
    counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    with harness.own_database(production.database_url, prefix="bo_restore") as restored:
        target = make_url(restored)
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "-h", target.host, "-p",
                        str(target.port or 5432), "-U", target.username, "-d", target.database, str(dump)],
                       check=True, timeout=120)
        assert query(restored, counts) == query(production.database_url, counts)
        person = next(p for p in production.fixture.people if p["id_number"] == KNOWN_GREEN)
        check = ("from backoffice import create_app\nfrom backoffice.scanning.payload import parse_scan_text\n"
                 "app = create_app()\nwith app.app_context():\n"
                 f"    print(parse_scan_text({person['signed']!r}).signed)\n")
        env = dict(production.env, DATABASE_URL=restored)
        result = subprocess.run([sys.executable, "-c", check], cwd=harness.ROOT, env=env, capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0 and result.stdout.strip().endswith("True"), result.stderr[-2000:]
