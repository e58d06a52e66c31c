"""Load: 64 concurrent clients scanning for a bounded time against the production setup (see conftest). Afterwards:
no 5xx (no error at all: every scan is of a registered resident with a valid token), every accepted scan maps to
exactly one check-in row, dedup held; the rate and p50/p99 are printed. `bench/bench_production_load.py` runs the
same load with a baseline and prints the figures."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from . import harness

pytestmark = [pytest.mark.production, pytest.mark.slow]

CLIENTS = 64
SECONDS = float(os.environ.get("BACKOFFICE_LOAD_SECONDS", 20))
TIMEOUT = 30.0  # per request: a bound, not a target (CI machines are shared)


def test_64_clients_scanning(production, capsys):
    engine = create_engine(production.database_url)
    try:
        locations = {t["location"] for t in production.fixture.tokens}
        before = harness.snapshot_checkins(engine, locations)
        load = harness.run_load(production.port, production.fixture, clients=CLIENTS, seconds=SECONDS,
                                timeout=TIMEOUT)
        after = harness.snapshot_checkins(engine, locations)
        with engine.connect() as conn:
            doubled = conn.execute(text("SELECT person_id, location_id, count(*) FROM checkins "
                                        "WHERE checked_out_at IS NULL GROUP BY person_id, location_id "
                                        "HAVING count(*) > 1")).all()
    finally:
        engine.dispose()
    books = harness.account(before, after, load)
    with capsys.disabled():
        print(f"\n[load] {load.summary()}")
        print(f"[load] check-ins: {books.new_rows} new rows, {books.check_ins} check_in + {books.extended} extended "
              f"answers = {books.accepted} accepted; scan_count grew by {books.scans_in_rows}; "
              f"duplicate stays {books.duplicate_open_stays}")

    failures = [o for o in load.outcomes if o.status not in (200, 201)]
    assert not failures, f"{len(failures)} failed, e.g. {failures[:3]}"
    assert len(load.accepted) >= CLIENTS  # every client got through at least once
    assert books.problems == [], books.problems[:10]
    assert books.scans_in_rows == books.accepted and books.check_ins == books.new_rows
    assert books.duplicate_open_stays == 0 and doubled == []
    assert books.extended > 0 and books.check_ins > 0  # the mix did re-scan within the window
