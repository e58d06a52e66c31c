"""Login attempts are limited per IP address and per username; with Redis storage the limit holds across
application processes."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import csrf_token
from pages_support import dedicated_app, vi
from production.harness import REDIS_SERVER

REDIS_URI = f"redis://{REDIS_SERVER}/15"
LIMITS = {"LOGIN_LIMIT_PER_USERNAME": "3 per minute", "LOGIN_LIMIT_PER_IP": "5 per minute"}


def attempt(app, username: str, ip: str, password: str = "wrong-password"):
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/login")
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": ip})


def test_login_limited_per_username(app):
    username = f"target.{secrets.token_hex(3)}"
    with dedicated_app(app, **LIMITS) as limited:
        codes = [attempt(limited, username, f"10.1.0.{i}").status_code for i in range(1, 5)]
        assert codes == [200, 200, 200, 429]  # four addresses, one username
        response = attempt(limited, username, "10.1.0.99")
        assert response.status_code == 429
        assert vi("Too many attempts. Please wait a moment and try again.") in response.get_data(as_text=True)
        # Another username from the same address is not affected.
        assert attempt(limited, f"other.{secrets.token_hex(3)}", "10.1.0.99").status_code == 200


def test_login_limited_per_ip(app):
    ip = f"10.2.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    with dedicated_app(app, **LIMITS) as limited:
        codes = [attempt(limited, f"user{i}.{secrets.token_hex(2)}", ip).status_code for i in range(6)]
        assert codes == [200] * 5 + [429]
        # Even the right password is refused while the address is blocked.
        assert attempt(limited, "admin", ip, password=app.config["BACKOFFICE_DEMO_PASSWORD"]).status_code == 429
        assert attempt(limited, "admin", "10.3.0.1", password=app.config["BACKOFFICE_DEMO_PASSWORD"]) \
            .status_code == 302


def test_login_page_itself_is_not_limited(app):
    with dedicated_app(app, **LIMITS) as limited, limited.app_context():
        client = limited.test_client()
        assert all(client.get("/login").status_code == 200 for _ in range(10))


def _redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URI)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis is not running on {REDIS_SERVER}")
    return client


_OTHER_PROCESS = textwrap.dedent("""
    import json, sys
    from backoffice import create_app
    sys.path.insert(0, "tests")
    from conftest import csrf_token
    config = json.loads(sys.argv[1])
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/login")
        response = client.post("/login", data={"username": sys.argv[2], "password": "wrong", "csrf_token": token},
                               environ_base={"REMOTE_ADDR": "10.9.9.9"})
        print(response.status_code)
""")


def test_limit_is_shared_through_redis_across_processes(app, tmp_path):
    redis = _redis()
    redis.flushdb()
    username = f"shared.{secrets.token_hex(3)}"
    config = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING")}
    config.update(LIMITS, RATELIMIT_STORAGE_URI=REDIS_URI)
    try:
        with dedicated_app(app, **LIMITS, RATELIMIT_STORAGE_URI=REDIS_URI) as first:
            codes = [attempt(first, username, f"10.4.0.{i}").status_code for i in range(1, 4)]
            assert codes == [200, 200, 200]
        assert any(username.encode() in key for key in redis.keys("*")), "no counter in Redis"
        # A second application process, sharing only Redis, sees the three attempts.
        root = Path(__file__).resolve().parent.parent
        env = dict(os.environ, BACKOFFICE_INSTANCE=str(tmp_path))
        result = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, json.dumps(config), username], cwd=root,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1] == "429"
    finally:
        redis.flushdb()
