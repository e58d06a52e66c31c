"""Benchmark: the production setup under scan load. gunicorn (`wsgi:app`, `gunicorn.conf.py`, 3 workers) on a
PostgreSQL database of its own (migrated with `flask db upgrade`, seeded), rate limits in Redis, signing keys from
configuration; 64 concurrent clients POST /api/v1/scans for a bounded time (a mix of demo residents, signed and
1405 texts, re-scans within the dedup window, a few residents every client scans at once). Baseline in the same
run: the same clients on GET /healthz (one SELECT 1) of the same server. Prints rate, p50/p99, the ratio, and the
bookkeeping afterwards (every accepted scan in exactly one check-in row, dedup held).

    python bench/bench_production_load.py [--database-url URL | env BENCH_DATABASE_URL] [--seconds 20]

URL names a PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres): a database of its own is
created on it and dropped afterwards. The production setup is PostgreSQL; there is no SQLite variant. Redis must
answer on 127.0.0.1:6379 (database 14 is flushed). Load goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from tests.production import harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or harness.DEFAULT_SERVER)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("the production setup runs on PostgreSQL: give a postgresql:// server URL")
    redis = harness.redis_uri()
    if redis is None:
        parser.error("Redis is not answering on 127.0.0.1:6379")
    harness.flush_redis(redis)
    instance = Path(tempfile.mkdtemp(prefix="bench_prod_"))
    try:
        with harness.own_database(args.database_url, prefix="bench_prod") as url:
            port = harness.free_port()
            env = harness.production_env(url, port=port, instance=instance, redis=redis,
                                         signing_keys=harness.new_signing_key(), workers=args.workers,
                                         GUNICORN_ACCESSLOG="/dev/null")
            fixture = harness.prepare(env, organizations=40, residents=600, device_orgs=8)
            engine = create_engine(url)
            locations = {t["location"] for t in fixture.tokens}
            with harness.Gunicorn(env, instance / "gunicorn.log"):
                harness.run_trivial(port, clients=args.clients, seconds=2)  # warm every worker up
                trivial = harness.run_trivial(port, clients=args.clients, seconds=args.seconds)
                before = harness.snapshot_checkins(engine, locations)
                load = harness.run_load(port, fixture, clients=args.clients, seconds=args.seconds, timeout=30)
                after = harness.snapshot_checkins(engine, locations)
            engine.dispose()
    finally:
        harness.flush_redis(redis)
        shutil.rmtree(instance, ignore_errors=True)
    books = harness.account(before, after, load)
    errors = len(load.outcomes) - len(load.accepted)
    print(f"gunicorn {args.workers} workers (gthread x4) on PostgreSQL, Redis rate limits; {args.clients} clients; "
          f"{args.seconds:.0f} s per phase; {os.cpu_count()} CPUs")
    print(f"baseline GET /healthz:     {trivial.rate():8.1f} req/s  p50 {trivial.percentile(0.5):7.1f} ms  "
          f"p99 {trivial.percentile(0.99):7.1f} ms  errors {len(trivial.outcomes) - len(trivial.accepted)}")
    print(f"scans POST /api/v1/scans:  {load.rate():8.1f} req/s  p50 {load.percentile(0.5):7.1f} ms  "
          f"p99 {load.percentile(0.99):7.1f} ms  errors {errors}  (5xx: "
          f"{sum(1 for o in load.outcomes if o.status >= 500)})")
    ratio = load.rate() / trivial.rate() if trivial.rate() else 0.0
    print(f"ratio scans/baseline: {ratio:.0%}")
    print(f"scans held: {books.accepted} accepted = {books.check_ins} new stays + {books.extended} extended; "
          f"scan_count grew by {books.scans_in_rows}; duplicate open stays {books.duplicate_open_stays}; "
          f"bookkeeping problems {len(books.problems)}")
    for problem in books.problems[:10]:
        print("  problem:", problem)
    return 0 if not books.problems and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
