"""The production setup as the tests and `bench/bench_production_load.py` run it: a PostgreSQL database of its own,
`flask db upgrade`, the demo seed, gunicorn (`wsgi:app` with `gunicorn.conf.py`) with several workers, rate limits
in Redis, signing keys from configuration — and a scan load of concurrent HTTP clients against it (127.0.0.1 only).

Everything here talks to the application the way production does: environment variables, the CLI, HTTP.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_DB = 14  # tests/test_auth_ratelimit.py uses 15
# The Redis the tests use; a second checkout running its tests at the same time points this at its own server.
REDIS_SERVER = os.environ.get("TEST_REDIS_SERVER", "127.0.0.1:6379")
DEMO_PASSWORD = "prod-demo-2021"
PG_TIMEOUTS = "connect_timeout=5&options=-c%20statement_timeout%3D30s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_uri(db_number: int = REDIS_DB) -> str | None:
    """The Redis URI the production setup uses, or None when no Redis answers on REDIS_SERVER."""
    try:
        import redis
        client = redis.Redis.from_url(f"redis://{REDIS_SERVER}/{db_number}", socket_connect_timeout=2)
        client.ping()
    except Exception:  # noqa: BLE001  (absent module or server: the caller skips with a reason)
        return None
    return f"redis://{REDIS_SERVER}/{db_number}"


def flush_redis(uri: str) -> None:
    import redis
    redis.Redis.from_url(uri).flushdb()


# --- PostgreSQL ------------------------------------------------------------------------------------

def postgres_reachable(server_url: str) -> bool:
    engine = create_engine(server_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def own_database(server_url: str, prefix: str = "bo_prod") -> Iterator[str]:
    """A database of its own on the server of `server_url`, dropped afterwards."""
    server = make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class PrivatePostgres:
    """A PostgreSQL instance of our own (initdb into a temporary folder, a free port), so a test may stop and
    start it without touching the machine's shared server. Run as the `postgres` OS user when we are root."""

    def __init__(self, base: Path) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            raise FileNotFoundError("no /usr/lib/postgresql/*/bin/pg_ctl (PostgreSQL server binaries not installed)")
        self.bin = bins[-1].parent
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.log = base / "postgres.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout, check=True,
                              cwd="/")

    def init(self) -> None:
        if self._as:
            subprocess.run(["chown", "postgres:postgres", str(self.base)], check=True)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")

    def start(self, *settings: str) -> None:
        # fsync off: the instance lives for one test and is only ever stopped cleanly (fast shutdown checkpoints).
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=60" + "".join(f" -c {s}" for s in settings))
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "-t", "60", "start", timeout=90)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", timeout=90)

    def running(self) -> bool:
        result = subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                                capture_output=True, text=True, cwd="/")
        return result.returncode == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


REPLICATION_USER = "replicator"


def streaming_pair(base: Path) -> tuple[PrivatePostgres, PrivatePostgres]:
    """A primary and a hot standby of it, streaming, as production would set one up: a replication role and its
    pg_hba entry on the primary, `pg_basebackup -R` (the standby's connection settings and standby.signal), the
    standby started on a port of its own. Both running when this returns; the caller stops them."""
    (base / "primary").mkdir()
    (base / "standby").mkdir()
    primary, standby = PrivatePostgres(base / "primary"), PrivatePostgres(base / "standby")
    if standby._as:  # the server runs as `postgres`: it must reach both folders
        subprocess.run(["chown", "postgres:postgres", str(base), str(standby.base)], check=True)
    primary.init()
    with (primary.data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host replication {REPLICATION_USER} 127.0.0.1/32 trust\n")
    primary.start("wal_level=replica", "max_wal_senders=4")
    engine = create_engine(primary.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE ROLE {REPLICATION_USER} REPLICATION LOGIN"))
    finally:
        engine.dispose()
    standby._run(str(standby.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U",
                 REPLICATION_USER, "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast", "--no-sync",
                 timeout=120)
    standby.start("hot_standby=on")
    wait_streaming(standby)
    return primary, standby


def wait_streaming(standby: PrivatePostgres, timeout: float = 30) -> None:
    engine = create_engine(standby.url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with contextlib.suppress(Exception), engine.connect() as conn:
                if conn.execute(text("SELECT status FROM pg_stat_wal_receiver")).scalar() == "streaming":
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby is not streaming after {timeout} s:\n"
                                   f"{standby.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
    finally:
        engine.dispose()


# --- configuration, CLI, seed ----------------------------------------------------------------------

def new_signing_key() -> str:
    """A `kid=<base64url seed>` entry for BACKOFFICE_SIGNING_KEYS, as an operator would generate it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
    from backoffice.scanning.keyring import kid_for
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kid = kid_for(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    return f"{kid}={base64.urlsafe_b64encode(seed).decode().rstrip('=')}"


# The load generator plays many checkpoints behind one address, each scanning at machine speed: the scan rate
# limits would rightly answer it 429 (no real device scans thousands a minute), so load runs raise them and
# measure the scan itself. The limits themselves are tested in tests/test_privacy_reception.py.
LOAD_SCAN_LIMITS = {"SCAN_LIMIT_PER_DEVICE": "100000000 per minute", "SCAN_LIMIT_PER_USER": "100000000 per minute",
                    "SCAN_LIMIT_PER_IP": "100000000 per minute"}


def production_env(database_url: str, *, port: int, instance: Path, redis: str, signing_keys: str,
                   workers: int = 3, **extra: str) -> dict[str, str]:
    """Exactly the environment the README (Deployment) prescribes (plus test-only bits: port, folders, log file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "FLASK_", "BACKOFFICE_", "GUNICORN_"))}
    # Bounded waits: a connection attempt to an unreachable server, a runaway statement (the README (Deployment)).
    bounded = database_url + ("&" if "?" in database_url else "?") + PG_TIMEOUTS
    env.update({
        "DATABASE_URL": bounded,
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "1",
        "RATELIMIT_STORAGE_URI": redis,
        "BACKOFFICE_SIGNING_KEYS": signing_keys,
        "BACKOFFICE_PROXY_COUNT": "1",
        "BACKOFFICE_PUBLIC_URL": "https://backoffice.example.vn",
        "BACKOFFICE_INSTANCE": str(instance),
        "IMPORT_STAGING_DIR": str(instance / "imports"),
        "BACKOFFICE_DEMO_PASSWORD": DEMO_PASSWORD,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_ACCESSLOG": str(instance / "access.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(instance / "metrics"),
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def flask_cli(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "backoffice", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


# Device tokens for the entry checkpoints of a few organizations (org admins are created for those without one,
# as an operator would) and, for every resident, the signed QR text (signed by the configured key) and the
# national 1405 text. Run once with the production environment; prints JSON.
_DEVICES = r"""
import json, sys
from sqlalchemy import select
from backoffice import create_app
from backoffice.auth import service as accounts
from backoffice.extensions import db
from backoffice.models import Checkpoint, Organization, Person, User
from backoffice.scanning.devices import create_device_token
from backoffice.scanning.payload import issue_personal_payload
app = create_app()
organizations = int(sys.argv[1])
with app.app_context():
    orgs = db.session.scalars(select(Organization).where(Organization.status == "active")
                              .order_by(Organization.id).limit(organizations)).all()
    tokens = []
    for org in orgs:
        # Load and faults measure the check-in write path: these organizations admit black visitors, whose
        # scans would otherwise be closed door scans (refused; tests/test_scanning_reception.py).
        org.admit_black = True
        db.session.commit()
        admin = db.session.scalar(select(User).where(User.organization_id == org.id, User.role == "org_admin"))
        if admin is None:
            admin = accounts.create_user(f"load.admin.{org.id}", "Load-admin-2021!", "org_admin",
                                         organization_id=org.id)
        for cp in db.session.scalars(select(Checkpoint).where(Checkpoint.organization_id == org.id,
                                                              Checkpoint.direction == "entry")).all():
            cp_id, loc_id = cp.id, cp.location_id
            tokens.append({"token": create_device_token(cp_id, f"load {cp_id}", user=admin)[1],
                           "checkpoint": cp_id, "location": loc_id})
    people = [{"id": p.id, "id_number": p.id_number, "signed": issue_personal_payload(p),
               "national": f"{p.id_number}|{p.full_name}|{p.birth_date.isoformat() if p.birth_date else ''}|0||"}
              for p in db.session.scalars(select(Person).order_by(Person.id))]
    print(json.dumps({"tokens": tokens, "people": people}))
"""


@dataclass
class Fixture:
    tokens: list[dict]
    people: list[dict]


def prepare(env: dict[str, str], *, organizations: int = 40, residents: int = 600, device_orgs: int = 8) -> Fixture:
    """`flask db upgrade heads`, `flask seed-demo`, then device tokens and QR texts (see _DEVICES)."""
    # "heads": capability revisions branch from 0001 until the lead merges them; with one head it is the same.
    flask_cli(env, "db", "upgrade", "heads")
    flask_cli(env, "seed-demo", "--organizations", str(organizations), "--residents", str(residents))
    result = subprocess.run([sys.executable, "-c", _DEVICES, str(device_orgs)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"device tokens failed:\n{result.stderr[-4000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Fixture(tokens=data["tokens"], people=data["people"])


def migration_heads() -> list[str]:
    """The heads of the migration history (more than one until the lead merges the capability revisions)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return sorted(ScriptDirectory.from_config(config).get_heads())


# --- gunicorn --------------------------------------------------------------------------------------

class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` as production starts it, settings from the environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 120) -> "Gunicorn":
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                        cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if request(self.port, "GET", "/healthz", timeout=5)[0] == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz in {ready_timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process is not None:
            self._log.close()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def worker_pids(self) -> set[int]:
        """Worker processes (children of the master)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return {int(x) for x in out.stdout.split()}

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def request(port: int, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None,
            timeout: float = 10) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


# --- the scan load ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    started: float  # seconds since the load began
    latency_ms: float
    status: int  # 0: no HTTP answer (connection error or client timeout)
    person: int
    location: int
    checkin_id: int | None = None
    action: str | None = None
    error: str | None = None  # the JSON error code, or the exception for status 0


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    clients: int = 0

    @property
    def accepted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in (200, 201)]

    def rate(self) -> float:
        return len(self.accepted) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float, only_ok: bool = True) -> float:
        values = sorted(o.latency_ms for o in (self.accepted if only_ok else self.outcomes))
        if not values:
            return 0.0
        return statistics.median(values) if p == 0.5 else values[min(len(values) - 1, int(len(values) * p))]

    def by_status(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return dict(sorted(counts.items()))

    def summary(self, label: str = "scans") -> str:
        return (f"{label}: {len(self.outcomes)} requests from {self.clients} clients in {self.seconds:.1f} s, "
                f"{len(self.accepted)} accepted ({self.rate():.1f}/s), p50 {self.percentile(0.5):.1f} ms, "
                f"p99 {self.percentile(0.99):.1f} ms, statuses {self.by_status()}")


def run_load(port: int, fixture: Fixture, *, clients: int = 64, seconds: float = 20.0, timeout: float = 10.0,
             rescan: float = 0.25, hot: float = 0.1, national: float = 0.2, seed: int = 7,
             begin: float | None = None) -> LoadResult:
    """`clients` threads, each with a keep-alive connection, POST /api/v1/scans for `seconds`.

    The mix: a random demo resident at a random checkpoint, as the signed QR or (share `national`) the 1405 text;
    with probability `rescan` the client scans again whom it scanned last at the same checkpoint (within the
    dedup window: must extend that stay); with probability `hot` one of 4 residents at one checkpoint that every
    client shares (scans of the same person arriving at once: one stay, the others extend it)."""
    result = LoadResult(clients=clients)
    lock = threading.Lock()
    hot_people = fixture.people[:4]
    hot_token = fixture.tokens[0]
    begin = begin or time.monotonic()  # a caller that times faults against the load passes its own origin
    deadline = begin + seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine: list[Outcome] = []
        last = None
        while time.monotonic() < deadline:
            draw = rng.random()
            if last is not None and draw < rescan:
                person, token = last
            elif draw < rescan + hot:
                person, token = rng.choice(hot_people), hot_token
            else:
                person, token = rng.choice(fixture.people), rng.choice(fixture.tokens)
            payload = person["national"] if rng.random() < national else person["signed"]
            body = json.dumps({"payload": payload, "checkpoint": token["checkpoint"]})
            started = time.monotonic()
            outcome = Outcome(started - begin, 0.0, 0, person["id"], token["location"])
            try:
                conn.request("POST", "/api/v1/scans", body, {"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {token['token']}"})
                response = conn.getresponse()
                raw = response.read()
                outcome.status = response.status
                data = json.loads(raw) if response.headers.get_content_type() == "application/json" else {}
                if response.status in (200, 201):
                    outcome.checkin_id, outcome.action = data.get("checkin_id"), data.get("action")
                else:
                    outcome.error = (data.get("error") or {}).get("code") or raw[:80].decode(errors="replace")
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            outcome.latency_ms = (time.monotonic() - started) * 1000
            mine.append(outcome)
            last = (person, token) if outcome.status in (200, 201) else None
        conn.close()
        with lock:
            result.outcomes.extend(mine)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + timeout + 30)
    result.seconds = time.monotonic() - begin
    result.outcomes.sort(key=lambda o: o.started)
    return result


def run_trivial(port: int, *, clients: int = 64, seconds: float = 5.0, timeout: float = 10.0) -> LoadResult:
    """The baseline: the same clients on GET /healthz (one SELECT 1) of the same server."""
    result = LoadResult(clients=clients)
    lock = threading.Lock()
    begin = time.monotonic()
    deadline = begin + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine = []
        while time.monotonic() < deadline:
            started = time.monotonic()
            outcome = Outcome(started - begin, 0.0, 0, 0, 0)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                outcome.status = response.status
            except (OSError, http.client.HTTPException) as exc:
                outcome.error = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            outcome.latency_ms = (time.monotonic() - started) * 1000
            mine.append(outcome)
        conn.close()
        with lock:
            result.outcomes.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + timeout + 30)
    result.seconds = time.monotonic() - begin
    return result


# --- what the database holds afterwards ------------------------------------------------------------

CHECKIN_COLUMNS = ("id", "person_id", "location_id", "organization_id", "checked_in_at", "last_seen_at",
                   "scan_count", "status_colour", "method", "checked_out_at")


def snapshot_checkins(engine: Engine, locations: set[int]) -> dict[int, dict]:
    """Every check-in row at these locations, by id."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM checkins WHERE location_id = ANY(:locs)"
                                 if engine.dialect.name == "postgresql" else
                                 f"SELECT * FROM checkins WHERE location_id IN ({','.join(map(str, locations))})"),
                            {"locs": list(locations)} if engine.dialect.name == "postgresql" else {})
        return {r._mapping["id"]: dict(r._mapping) for r in rows}


@dataclass
class Accounting:
    new_rows: int
    scans_in_rows: int  # sum of the scan_count increase over the rows at the load's locations
    accepted: int
    check_ins: int
    extended: int
    duplicate_open_stays: int
    problems: list[str]


def account(before: dict[int, dict], after: dict[int, dict], load: LoadResult, *, in_doubt: int = 0) -> Accounting:
    """Every accepted scan maps to exactly one row: a `check_in` answer names a row that did not exist before and
    that no other answer created; an `extended` answer names a row whose scan_count grew by one for it; no row
    grew without an answer (up to `in_doubt`: commits whose answer was lost when the database went away)."""
    problems: list[str] = []
    created: dict[int, int] = {}
    extended: dict[int, int] = {}
    for o in load.accepted:
        if o.checkin_id not in after:
            problems.append(f"answer names check-in {o.checkin_id}, which is not in the database")
            continue
        row = after[o.checkin_id]
        if (row["person_id"], row["location_id"]) != (o.person, o.location):
            problems.append(f"check-in {o.checkin_id} is not of person {o.person} at location {o.location}")
        if o.action == "check_in":
            created[o.checkin_id] = created.get(o.checkin_id, 0) + 1
        elif o.action == "extended":
            extended[o.checkin_id] = extended.get(o.checkin_id, 0) + 1
        else:
            problems.append(f"unexpected action {o.action!r}")
    for cid, n in created.items():
        if n > 1 or cid in before:
            problems.append(f"check-in {cid} reported created {n} times (existed before: {cid in before})")
    grown = 0
    for cid, row in after.items():
        had = before.get(cid, {}).get("scan_count", 0)
        delta = row["scan_count"] - had
        answered = created.get(cid, 0) + extended.get(cid, 0)
        grown += delta
        if delta < answered:
            problems.append(f"check-in {cid}: {answered} answers but scan_count grew by {delta}")
        if any(row[c] is None for c in CHECKIN_COLUMNS if c != "checked_out_at") or row["scan_count"] < 1 \
                or row["last_seen_at"] < row["checked_in_at"]:
            problems.append(f"check-in {cid} is incomplete: {row}")
    unanswered = grown - len(load.accepted)
    if unanswered > in_doubt or unanswered < 0:
        problems.append(f"{unanswered} scans in rows without an accepted answer (allowed {in_doubt})")
    open_stays: dict[tuple[int, int], int] = {}
    for row in after.values():
        if row["checked_out_at"] is None:
            key = (row["person_id"], row["location_id"])
            open_stays[key] = open_stays.get(key, 0) + 1
    duplicates = sum(1 for n in open_stays.values() if n > 1)
    # Within the dedup window a person gets one stay per location: no (person, location) gained two rows, nor
    # a new row beside a stay that was already open.
    new_per_pair: dict[tuple[int, int], int] = {}
    for row in before.values():
        if row["checked_out_at"] is None:
            new_per_pair[(row["person_id"], row["location_id"])] = 1
    for cid, row in after.items():
        if cid not in before:
            key = (row["person_id"], row["location_id"])
            new_per_pair[key] = new_per_pair.get(key, 0) + 1
    duplicates += sum(1 for n in new_per_pair.values() if n > 1)
    return Accounting(new_rows=len(set(after) - set(before)), scans_in_rows=grown, accepted=len(load.accepted),
                      check_ins=sum(created.values()), extended=sum(extended.values()),
                      duplicate_open_stays=duplicates, problems=problems)
