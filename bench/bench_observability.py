"""Benchmark: what the request id and the metrics cost each request — a device's scan (`POST /api/v1/scans`) and
`GET /healthz`, through the WSGI test client in one process, with the observability hooks in place and with them
taken out, alternated in the same run.

    python bench/bench_observability.py [--database-url URL | env BENCH_DATABASE_URL] [--requests 1000]

Prints µs per request (the median of five alternated runs) with and without, and their RATIO. Data as
bench/bench_qr_scans.py prepares it (a temporary SQLite file unless a database of its own is given).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_qr_scans import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--requests", type=int, default=1000, help="requests per timed run")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-observability-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    tokens, payloads = prepare(url, tmp)
    from backoffice import create_app
    from backoffice.observability import metrics, request_ids
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret",
                      "SCAN_LIMIT_PER_DEVICE": "1000000 per minute", "SCAN_LIMIT_PER_IP": "1000000 per minute"})
    client = app.test_client()
    before, after = app.before_request_funcs[None], app.after_request_funcs[None]
    full = (list(before), list(after))
    ours = {request_ids._take_or_make, metrics._start, request_ids._send_back, metrics._count}
    bare = ([h for h in full[0] if h not in ours], [h for h in full[1] if h not in ours])
    rng = random.Random(7)

    def scan() -> None:
        response = client.post("/api/v1/scans", data=json.dumps({"payload": rng.choice(payloads)}),
                               headers={"Content-Type": "application/json",
                                        "Authorization": f"Bearer {rng.choice(tokens)}"})
        assert response.status_code in (200, 201), response.get_data(as_text=True)

    def healthz() -> None:
        assert client.get("/healthz").status_code == 200

    for name, call in (("scan POST /api/v1/scans", scan), ("GET /healthz", healthz)):
        timings: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(5):
            for label, (b, a) in (("with", full), ("without", bare)):
                before[:], after[:] = b, a
                start = time.perf_counter()
                for _ in range(args.requests):
                    call()
                timings[label].append((time.perf_counter() - start) / args.requests * 1e6)
        before[:], after[:] = full
        on, off = statistics.median(timings["with"]), statistics.median(timings["without"])
        print(f"{name:26} with {on:8.1f} µs  without {off:8.1f} µs  RATIO {on / off:.3f}x")


if __name__ == "__main__":
    main()
