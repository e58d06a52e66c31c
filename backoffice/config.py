"""Configuration read from the environment.

Every setting has a safe default for the embedded SQLite setup that `make run` starts; production sets
`DATABASE_URL`, `SECRET_KEY`, `RATELIMIT_STORAGE_URI` and `SESSION_COOKIE_SECURE=1` (see README, Deployment).
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _development() -> bool:
    """`flask run --debug`, FLASK_DEBUG=1 or BACKOFFICE_ENV=development|testing: plain HTTP on 127.0.0.1."""
    return _bool("FLASK_DEBUG", False) or os.environ.get("BACKOFFICE_ENV", "").lower() in {"development", "testing"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# Settings owned by the capability packages: taken from the environment only when set there (each package
# keeps its own default otherwise). Without this, production could not give e.g. the signing keys, which the
# key ring reads from the app config, through the environment like every other setting.
# SCAN_LIMIT_PER_DEVICE / _PER_USER / _PER_IP: the scan endpoints' rate limits, by default 90/min and 3,000/h per
# device token and per staff user, 600/min and 20,000/h per address — several times a busy checkpoint (one person
# every 2–3 s: 20–30 a minute, 1,800 an hour); the figures and why in backoffice/scanning/limits.py.
PASSED_THROUGH = (
    "BACKOFFICE_SIGNING_KEYS", "BACKOFFICE_SIGNING_KEYS_FILE", "BACKOFFICE_KEY_CACHE_SECONDS",
    "BACKOFFICE_KEY_ACTIVATION_SECONDS",
    "BACKOFFICE_QR_STATUS_HOURS", "BACKOFFICE_CHECKIN_DEDUP_MINUTES", "BACKOFFICE_AUTO_CHECKOUT_HOURS",
    "BACKOFFICE_CHECKIN_RETENTION_DAYS", "BACKOFFICE_TRACE_MAX_STAY_HOURS", "SELF_CHECKIN_LIMIT_PER_IP",
    "SELF_CHECKIN_LIMIT_PER_QR", "SCAN_LIMIT_PER_DEVICE", "SCAN_LIMIT_PER_USER", "SCAN_LIMIT_PER_IP",
    "IMPORT_STAGING_DIR", "REPORTS_CHART_TTL", "REPORT_FILE_STALL_SECONDS", "CRITERIA_OVERDUE_DAYS",
    # Upload bounds (scanning/decode.py, imports/reader.py and jobs.py keep the defaults and say why).
    "QR_DECODE_MAX_PIXELS", "QR_DECODE_CONCURRENCY", "QR_DECODE_WAIT_SECONDS", "IMPORT_WORKER_MEMORY_MB",
    "IMPORT_SYNC_WAIT_SECONDS",
    "DATABASE_PING_IDLE_SECONDS",
    # How long an unreachable reports replica is left alone, its reading work sent to the primary (replica.py).
    "REPORTS_REPLICA_RETRY_SECONDS",
    # Plausible dates (backoffice.date_bounds) and the first self-assessment's grace period (criteria.overdue).
    "BACKOFFICE_EARLIEST_VACCINATION", "BACKOFFICE_MAX_AGE_YEARS", "BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS",
    # Periodic jobs (backoffice.jobs.periodic): "name=seconds,…" periods, and how often schedulers look.
    "BACKOFFICE_PERIODIC_SECONDS", "BACKOFFICE_SCHEDULER_SECONDS",
)


def _typed(value: str) -> int | float | str:
    """Numbers as numbers (the packages compare and add them), anything else as given."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def from_environment(instance_path: str) -> dict:
    """Build the Flask config mapping from environment variables."""
    sqlite_default = f"sqlite:///{Path(instance_path) / 'backoffice.sqlite3'}"
    passed = {name: _typed(os.environ[name]) for name in PASSED_THROUGH if os.environ.get(name)}
    return passed | {
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", sqlite_default),
        # Pooled connections are pinged only after DATABASE_PING_IDLE_SECONDS idle (backoffice.database).
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # A streaming replica of DATABASE_URL for reports, dashboards, exports and tracing (backoffice.replica);
        # unset: everything reads the primary.
        "REPORTS_DATABASE_URL": os.environ.get("REPORTS_DATABASE_URL", ""),
        # "pgbouncer" behind PgBouncer in transaction mode: no server-side prepared statements (backoffice.database).
        "BACKOFFICE_DATABASE_POOLER": os.environ.get("BACKOFFICE_DATABASE_POOLER", ""),
        "BACKOFFICE_RULES_DIR": os.environ.get("BACKOFFICE_RULES_DIR", str(PROJECT_ROOT / "rules")),
        "BACKOFFICE_DEMO_PASSWORD": os.environ.get("BACKOFFICE_DEMO_PASSWORD", "demo-2021"),
        # The address visitors' phones open from a location QR poster. No default: outside development posters
        # are refused until it is set (a default pointed every poster at 127.0.0.1); in development it is taken
        # from the request (printing.locations.public_url).
        "BACKOFFICE_PUBLIC_URL": os.environ.get("BACKOFFICE_PUBLIC_URL", ""),
        # True under BACKOFFICE_ENV=development|testing or FLASK_DEBUG; None: the app's debug/testing flags decide.
        "BACKOFFICE_DEVELOPMENT": True if _development() else None,
        # Sessions: server-side records (auth.sessions); the cookie only carries an opaque id.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure unless said otherwise or in development (create_app also drops it for TESTING/debug when the
        # variable is unset): a production that forgets the variable must not send the cookie over plain HTTP.
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not _development()),
        "SESSION_COOKIE_NAME": "bo_session",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not _development()),
        "IDLE_TIMEOUT": timedelta(minutes=_int("IDLE_TIMEOUT_MINUTES", 30)),
        # A session dies this long after its login even while in use (a stolen cookie does not live forever).
        "SESSION_ABSOLUTE_LIFETIME": timedelta(hours=_int("SESSION_ABSOLUTE_HOURS", 12)),
        # X-Forwarded-* is read only from these peers (addresses or CIDRs), BACKOFFICE_PROXY_COUNT entries deep.
        "BACKOFFICE_TRUSTED_PROXIES": os.environ.get("BACKOFFICE_TRUSTED_PROXIES", "127.0.0.1,::1"),
        "BACKOFFICE_PROXY_COUNT": _int("BACKOFFICE_PROXY_COUNT", 0),
        # zxcvbn's score (0-4) a new password needs (auth.passwords).
        "PASSWORD_MIN_SCORE": _int("PASSWORD_MIN_SCORE", 3),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 32 * 1024 * 1024),
        # Rate limits: Redis when configured (several processes share it), memory otherwise.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Long jobs (imports) go to the task queue's workers (backoffice.jobs) rather than children of the web
        # process: set in production and by `make run`, which start the workers.
        "BACKOFFICE_JOBS_IN_QUEUE": _bool("BACKOFFICE_JOBS_IN_QUEUE", False),
        "RATELIMIT_HEADERS_ENABLED": True,
        # This host's name in rule_hosts (rules_in_force); the machine's name when unset.
        "BACKOFFICE_HOST_NAME": os.environ.get("BACKOFFICE_HOST_NAME", ""),
        # Who may read /metrics besides the loopback (observability.metrics): a scraper sending this bearer token.
        "BACKOFFICE_METRICS_TOKEN": os.environ.get("BACKOFFICE_METRICS_TOKEN", ""),
        # Failed logins: tight per (username, address), so an attacker elsewhere cannot lock a user out; looser per
        # address (NAT) and per username (slows a distributed guess; never applied from where the user logged in).
        "LOGIN_LIMIT_PER_USER_ADDRESS": os.environ.get("LOGIN_LIMIT_PER_USER_ADDRESS", "5 per minute"),
        "LOGIN_LIMIT_PER_IP": os.environ.get("LOGIN_LIMIT_PER_IP", "60 per minute"),
        "LOGIN_LIMIT_PER_USERNAME": os.environ.get("LOGIN_LIMIT_PER_USERNAME", "30 per minute"),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the (idle-limited) session
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        "LANGUAGES": {"vi": "Tiếng Việt", "en": "English"},
        "FLASK_ADMIN_SWATCH": "default",
        "ADMIN_PAGE_SIZE": _int("ADMIN_PAGE_SIZE", 20),
    }
