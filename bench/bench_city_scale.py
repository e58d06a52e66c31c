"""Benchmark at city scale (issue 16): the same work on a city's database (bench/city_generator.py: ≥ 5×10^7
check-ins) and on a nearly empty one, in the same run.

    python bench/bench_city_scale.py --city-url postgresql://…/city [--empty-url postgresql://…/empty]
                                     [--seconds 24] [--rounds 6] [--traces 30]

- scans: POST /api/v1/scans by 32 clients against gunicorn (2 workers, as bench_qr_scans.py runs it), one server
  per database, the two alternating in rounds; requests/s, p50/p99 and the ratio city / empty (target ≥ 90%);
- trace: a 14-day trace (`tracing.service.trace`) of residents who checked in during the window, median and p95
  (target median < 50 ms), beside the plain lookup of the case's own check-ins (the floor).

Without --empty-url a database of its own is made on the city's server and dropped afterwards. The demo data
(60 organizations, 400 residents, their device tokens) is seeded into both databases for the scans.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_qr_scans as scans  # noqa: E402  (the scan load of the plain scan bench, reused as it is)
from production.harness import own_database  # noqa: E402  (a database of its own, dropped afterwards)


def _migrated(url: str, instance: str) -> None:
    os.environ["BACKOFFICE_INSTANCE"] = instance
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@contextmanager
def server(url: str) -> Iterator[tuple[int, list[str], list[str]]]:
    """gunicorn as bench_qr_scans starts it, on `url` seeded with the demo data: (port, tokens, payloads)."""
    tmp = tempfile.mkdtemp(prefix="bench_city_")
    _migrated(url, tmp)
    tokens, payloads = scans.prepare(url, tmp)
    port = scans.free_port()
    env = scans.server_env(url, tmp, port)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning",
                                "wsgi:app"], cwd=str(ROOT), env=env)
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        scans.run_phase(port, "scan", 1.0, tokens, payloads)  # warm both workers up
        yield port, tokens, payloads
    finally:
        process.terminate()
        process.wait(timeout=20)


def scan_rates(city_url: str, empty_url: str, seconds: float, rounds: int) -> None:
    phases: dict[str, list] = {"empty": [], "city": []}
    with server(empty_url) as empty, server(city_url) as city:
        for _ in range(rounds):
            for kind, (port, tokens, payloads) in (("empty", empty), ("city", city)):
                phases[kind].append(scans.run_phase(port, "scan", seconds / rounds, tokens, payloads))
    little, big = scans.summary(phases["empty"]), scans.summary(phases["city"])
    print(f"  scans, nearly empty database: {little[0]:8.1f} req/s  p50 {little[1]:6.1f} ms  p99 {little[2]:6.1f} ms"
          f"  errors {little[3]}")
    print(f"  scans, the city's database:   {big[0]:8.1f} req/s  p50 {big[1]:6.1f} ms  p99 {big[2]:6.1f} ms"
          f"  errors {big[3]}")
    ratio = big[0] / little[0] if little[0] else 0.0
    print(f"  ratio city / empty: {ratio:.0%} (target >= 90%: {'met' if ratio >= 0.9 else 'NOT met'})")


def traces(city_url: str, count: int) -> None:
    from sqlalchemy import func, select, text

    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.models import CheckIn, TraceCase
    from backoffice.tracing import service
    os.environ["BACKOFFICE_INSTANCE"] = tempfile.mkdtemp(prefix="bench_city_")
    app = create_app({"SQLALCHEMY_DATABASE_URI": city_url, "SECRET_KEY": "bench-secret"})
    with app.app_context():
        total = db.session.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'checkins'"))
        last = db.session.scalar(select(func.max(CheckIn.checked_in_at)))
        # Residents who checked in during the last 14 days of the data: the cases a district would trace.
        people = db.session.scalars(select(CheckIn.person_id).where(CheckIn.checked_in_at > last - timedelta(days=3))
                                    .order_by(CheckIn.id.desc()).limit(count * 20)).all()
        chosen = list(dict.fromkeys(people))[:count]
        own, traced, contacts = [], [], []
        for person_id in chosen:
            case = TraceCase(person_id=person_id, source="manual", confirmed_at=last, window_days=14,
                             margin_minutes=30)
            db.session.rollback()
            start = time.perf_counter()
            service.case_visits(person_id, last - timedelta(days=14), last)
            own.append((time.perf_counter() - start) * 1000)
            db.session.rollback()
            start = time.perf_counter()
            result = service.trace(case, now=last)
            traced.append((time.perf_counter() - start) * 1000)
            contacts.append(len(result.contacts))
    traced.sort()
    p95 = traced[max(0, int(len(traced) * 0.95) - 1)]
    median = statistics.median(traced)
    print(f"  own check-ins (floor):        median {statistics.median(own):7.2f} ms  ({len(chosen)} cases, "
          f"~{total:,} check-ins)")
    print(f"  14-day trace:                 median {median:7.2f} ms  p95 {p95:7.2f} ms  "
          f"(median {statistics.median(contacts):.0f} contact stays)")
    print(f"  target median < 50 ms: {'met' if median < 50 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--city-url", required=True)
    parser.add_argument("--empty-url", default="")
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--traces", type=int, default=30)
    args = parser.parse_args()
    print(f"city-scale bench; load before the run {os.getloadavg()[0]:.1f}")
    traces(args.city_url, args.traces)
    if args.empty_url:
        scan_rates(args.city_url, args.empty_url, args.seconds, args.rounds)
    else:
        with own_database(args.city_url, prefix="bench_city_empty") as empty_url:
            scan_rates(args.city_url, empty_url, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
