"""Benchmark: a device's scan (`record_device_scan`, in one process, without HTTP) straight to PostgreSQL as
psycopg runs it by default (statements prepared on the server after five runs), straight to PostgreSQL with
server-side prepared statements off (`prepare_threshold=None`, what BACKOFFICE_DATABASE_POOLER=pgbouncer sets),
and through PgBouncer in transaction mode with them off; each against the first, measured in the same run.

    python bench/bench_pgbouncer.py --database-url postgresql://postgres@127.0.0.1:5432/DB [--scans 1000]
                                    [--rounds 5]

PostgreSQL only (env BENCH_DATABASE_URL also works); give a database of its own: the schema and the data of
bench/bench_qr_scans.py are created in it. PgBouncer (Debian's 1.18) runs on a free port of 127.0.0.1 for the
run (tests/pgbouncer_support.py), with a pool of two server connections. The three variants alternate in
rounds, so that a change in the machine's load weighs on all of them; each prints its best round.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_qr_scans import prepare  # noqa: E402
from pgbouncer_support import running_pgbouncer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--scans", type=int, default=1000, help="scans per timed round of a variant")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not (args.database_url or "").startswith("postgresql"):
        parser.error("--database-url (or BENCH_DATABASE_URL) must name a PostgreSQL database")
    load_before = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="bench-pgbouncer-")
    tokens, texts = prepare(args.database_url, tmp)
    from backoffice import create_app
    from backoffice.scanning.device_scans import record_device_scan
    from backoffice.scanning.payload import parse_scan_text

    with running_pgbouncer(args.database_url, pool_size=2) as bouncer:
        variants = {
            "direct to PostgreSQL (prepared after 5 runs)": create_app(
                {"SQLALCHEMY_DATABASE_URI": args.database_url, "SECRET_KEY": "bench-secret"}),
            "direct, server-side prepare off": create_app(
                {"SQLALCHEMY_DATABASE_URI": args.database_url, "SECRET_KEY": "bench-secret",
                 "BACKOFFICE_DATABASE_POOLER": "pgbouncer"}),
            "through PgBouncer (transaction mode), prepare off": create_app(
                {"SQLALCHEMY_DATABASE_URI": bouncer.url, "SECRET_KEY": "bench-secret",
                 "BACKOFFICE_DATABASE_POOLER": "pgbouncer"}),
        }
        best = {name: float("inf") for name in variants}
        rng = random.Random(17)
        for round_ in range(args.rounds + 1):  # the first round warms every variant up (key ring, pools, plans)
            for name, app in variants.items():
                with app.test_request_context("/api/v1/scans", method="POST",
                                              environ_base={"REMOTE_ADDR": "127.0.0.1"}):
                    parse_scan_text(texts[0])
                    seconds = timeit.timeit(lambda: record_device_scan(tokens[0], rng.choice(texts)),
                                            number=args.scans)
                if round_:
                    best[name] = min(best[name], seconds / args.scans)
        for app in variants.values():
            with app.app_context():
                from backoffice.extensions import db
                db.engine.dispose()
    baseline = next(iter(best.values()))
    print(f"backend postgresql; {args.scans} scans a round, best of {args.rounds} alternating rounds; "
          f"load before the run {load_before:.1f}")
    for name, seconds in best.items():
        print(f"{name:52s} {seconds * 1e6:8.1f} µs/scan  {seconds / baseline:5.2f}x")


if __name__ == "__main__":
    main()
