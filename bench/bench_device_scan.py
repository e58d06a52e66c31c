"""Benchmark: a device's scan in one process, without HTTP — what the text's decoding costs beside the whole
operation, and what reading the person in the token's query (which needs the text decoded before the token is
checked, and so twice) saves against reading the person in a query of their own.

    python bench/bench_device_scan.py [--database-url URL | env BENCH_DATABASE_URL] [--scans 2000]

Prints µs per call (the best of five runs) for: decoding the signed text only (`peek_person_ref`), reading it
with its signature check (`parse_scan_text`), the device's scan as `record_device_scan` runs it (person joined
to the token), and the same scan with the person read apart (token alone, then `record_scan` looks the person
up). Data as bench/bench_qr_scans.py prepares it. Default database: a temporary SQLite file; for PostgreSQL give
a database of its own (schema and demo data are created in it).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_qr_scans import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--scans", type=int, default=2000, help="scans per timed run of a scan variant")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-device-scan-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    tokens, texts = prepare(url, tmp)  # the HTTP benchmark's data: its tokens and residents' payloads
    secret = tokens[0]
    from backoffice import create_app
    from backoffice.database import scan_connection
    from backoffice.scanning.device_scans import record_device_scan
    from backoffice.scanning.devices import authenticate_device
    from backoffice.scanning.payload import parse_scan_text, peek_person_ref
    from backoffice.scanning.service import record_scan
    from backoffice.timeutil import now_utc
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret"})

    def joined(text: str) -> None:
        record_device_scan(secret, text)

    def apart(text: str) -> None:
        now = now_utc()
        with scan_connection() as connection:
            device = authenticate_device(secret, connection=connection)
            record_scan(text, point=device.point, method="device", device_token=device, now=now,
                        connection=connection)

    rng = random.Random(15)
    text = texts[0]
    with app.test_request_context("/api/v1/scans", method="POST", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        parse_scan_text(text)  # the key ring is cached, as in a running server
        for name, call, number in (
                ("decode only (peek_person_ref)", lambda: peek_person_ref(text), 20000),
                ("read and verify (parse_scan_text)", lambda: parse_scan_text(text), 2000),
                ("device scan, person joined to the token", lambda: joined(rng.choice(texts)), args.scans),
                ("device scan, person read apart", lambda: apart(rng.choice(texts)), args.scans),
                ("device scan, person joined to the token (again)", lambda: joined(rng.choice(texts)),
                 args.scans)):
            call()
            best = min(timeit.repeat(call, number=number, repeat=5)) / number
            print(f"{name:50s} {best * 1e6:9.1f} µs")
    print(f"backend {url.split(':', 1)[0]}")


if __name__ == "__main__":
    main()
