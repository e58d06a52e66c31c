"""Benchmark: scans recorded over HTTP (`POST /api/v1/scans` with device tokens) by gunicorn with 2 workers and 32
concurrent clients, beside a trivial endpoint of the same app and server (`GET /healthz`, one SELECT 1) in the same
run, the two alternating in rounds: requests/s, p50/p99, and the ratio. Targets: scans ≥ 40% of the trivial
rate, p99 < 100 ms.

    python bench/bench_qr_scans.py [--database-url URL | env BENCH_DATABASE_URL] [--seconds 12] [--rounds 6]
                                   [--threads 2]

gunicorn runs as production starts it (`-c gunicorn.conf.py wsgi:app`, the app preloaded in the master), with
GUNICORN_WORKERS=2 and GUNICORN_THREADS from --threads. Default database: a temporary SQLite file. For PostgreSQL
give a database of its own (the schema is created and the demo data seeded in it). Load goes to 127.0.0.1 only and
each phase is bounded in time.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLIENTS = 32
PROCESSES = 4


def prepare(url: str, instance: str) -> tuple[list[str], list[str]]:
    """Schema, demo data, device tokens for 10 organizations' entry checkpoints, payloads for every resident."""
    os.environ["BACKOFFICE_INSTANCE"] = instance
    from sqlalchemy import select
    from backoffice import create_app
    from backoffice.demo.seed import seed_demo
    from backoffice.extensions import db
    from backoffice.models import Checkpoint, Person, User
    from backoffice.scanning.devices import create_device_token
    from backoffice.scanning.payload import issue_personal_payload
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret"})
    with app.app_context():
        db.create_all()
        seed_demo(organizations=60, residents=400, password="bench-password-1")
        admin = db.session.scalar(select(User).where(User.username == "org1.admin"))
        checkpoints = db.session.scalars(select(Checkpoint).where(
            Checkpoint.direction == "entry", Checkpoint.organization_id == admin.organization_id)).all()
        tokens = []
        for cp in checkpoints:
            admin = db.session.scalar(select(User).where(User.username == "org1.admin"))
            tokens.append(create_device_token(cp.id, f"bench {cp.id}", user=admin)[1])
        payloads = [issue_personal_payload(p) for p in db.session.scalars(select(Person).limit(400))]
    return tokens, payloads


def server_env(url: str, instance: str, port: int, threads: int = 2) -> dict:
    """The environment gunicorn runs in for the scan benches: 2 workers of `threads` threads on `url`."""
    return dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench-secret", BACKOFFICE_INSTANCE=instance,
                PYTHONPATH=str(ROOT), GUNICORN_ACCESSLOG="/dev/null", GUNICORN_MAX_REQUESTS="0",
                GUNICORN_WORKERS="2", GUNICORN_THREADS=str(threads), GUNICORN_BIND=f"127.0.0.1:{port}",
                # 32 clients on 10 tokens from one address are far above any real checkpoint: the limits are
                # raised, not removed, so their cost is measured while none trips (backoffice/scanning/limits.py).
                SCAN_LIMIT_PER_DEVICE="100000000 per minute", SCAN_LIMIT_PER_IP="100000000 per minute")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(port: int, kind: str, seconds: float, threads: int, tokens: list[str], payloads: list[str], seed: int,
           out: multiprocessing.Queue) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                if kind == "scan":
                    body = json.dumps({"payload": rng.choice(payloads)})
                    conn.request("POST", "/api/v1/scans", body, {
                        "Content-Type": "application/json", "Authorization": f"Bearer {rng.choice(tokens)}"})
                else:
                    conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                ok = response.status in (200, 201)
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            elapsed = (time.perf_counter() - start) * 1000
            if ok:
                mine.append(elapsed)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def run_phase(port: int, kind: str, seconds: float, tokens, payloads) -> tuple[list[float], int, float]:
    """(latencies in ms, errors, seconds) of one phase of CLIENTS clients sending `kind` requests."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(port, kind, seconds, CLIENTS // PROCESSES, tokens,
                                                          payloads, i, queue)) for i in range(PROCESSES)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    return [x for r in results for x in r[0]], sum(r[1] for r in results), min(wall, seconds + 1)


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process `pid` has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(master: int, url: str) -> tuple[list[int], list[int]]:
    """The gunicorn master and its workers; and on PostgreSQL the backends serving this database (same host)."""
    children = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    backends: list[int] = []
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        engine = create_engine(url)
        with engine.connect() as conn:
            backends = [r[0] for r in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
        engine.dispose()
    return [master, *children], backends


def summary(phases: list[tuple[list[float], int, float]]) -> tuple[float, float, float, int]:
    """Requests/s over all phases of a kind, p50 and p99 of all their latencies, errors."""
    latencies = sorted(x for phase in phases for x in phase[0])
    errors = sum(phase[1] for phase in phases)
    if not latencies:
        return 0.0, 0.0, 0.0, errors
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / sum(phase[2] for phase in phases), statistics.median(latencies), p99, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker")
    parser.add_argument("--rounds", type=int, default=6, help="alternating trivial/scan phases, seconds split among")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]  # other work on the machine, before this run adds its own
    tmp = tempfile.mkdtemp(prefix="bench_qr_")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    tokens, payloads = prepare(url, tmp)
    port = free_port()
    env = server_env(url, tmp, port, args.threads)
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning", "wsgi:app"]
    server = subprocess.Popen(gunicorn, cwd=str(ROOT), env=env)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        run_phase(port, "trivial", 1.0, tokens, payloads)  # warm both workers up
        run_phase(port, "scan", 1.0, tokens, payloads)
        # The two kinds alternate in rounds, so that a change in the machine's load during the run (other
        # processes, CPU frequency) weighs on both sides of the ratio alike.
        phases: dict[str, list] = {"trivial": [], "scan": []}
        app_pids, db_pids = server_pids(server.pid, url)
        cpu = {"app": 0.0, "db": 0.0}
        for _ in range(args.rounds):
            for kind in phases:
                before = (sum(map(_cpu, app_pids)), sum(map(_cpu, db_pids)))
                phases[kind].append(run_phase(port, kind, args.seconds / args.rounds, tokens, payloads))
                if kind == "scan":
                    cpu["app"] += sum(map(_cpu, app_pids)) - before[0]
                    cpu["db"] += sum(map(_cpu, db_pids)) - before[1]
        trivial, scans = summary(phases["trivial"]), summary(phases["scan"])
    finally:
        server.terminate()
        server.wait(timeout=20)
    backend = url.split(":", 1)[0]
    print(f"backend {backend}; gunicorn 2 workers (gthread x{args.threads}); {CLIENTS} concurrent clients; "
          f"{args.seconds:.0f} s each, in {args.rounds} alternating rounds; load before the run {load_before:.1f}")
    print(f"trivial GET /healthz:     {trivial[0]:8.1f} req/s  p50 {trivial[1]:6.1f} ms  p99 {trivial[2]:6.1f} ms"
          f"  errors {trivial[3]}")
    print(f"scans POST /api/v1/scans: {scans[0]:8.1f} req/s  p50 {scans[1]:6.1f} ms  p99 {scans[2]:6.1f} ms"
          f"  errors {scans[3]}")
    answered = len([x for phase in phases["scan"] for x in phase[0]])
    if answered:
        # What one scan costs the server side (gunicorn's processes; PostgreSQL's backends of this database),
        # measured from /proc over the scan phases: the figures the deployment's arithmetic starts from.
        print(f"CPU per scan: app {1000 * cpu['app'] / answered:.2f} ms, database {1000 * cpu['db'] / answered:.2f} ms"
              f" ({answered} scans)")
    ratio = scans[0] / trivial[0] if trivial[0] else 0.0
    print(f"ratio scans/trivial: {ratio:.0%} (target >= 40%: {'yes' if ratio >= 0.4 else 'NO'}); "
          f"scan p99 < 100 ms: {'yes' if scans[2] < 100 else 'NO'}")


if __name__ == "__main__":
    main()
