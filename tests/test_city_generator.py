"""The city generator of the scale benchmarks (bench/city_generator.py): the rows it writes are the application's
(migrated schema, references that hold), with the city's rhythm (day peaks, quiet nights, quieter Sundays), and a
fill killed half-way finishes, when run again, with exactly the rows an uninterrupted fill writes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from production.harness import own_database

SERVER = os.environ.get("TEST_DATABASE_URL", "")
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not SERVER.startswith("postgresql"),
                                reason="the generator fills PostgreSQL with COPY (the scale benchmarks' database)")
CITY = ["--organizations", "300", "--people", "2000", "--checkins", "60000", "--days", "14", "--batch", "5000",
        "--end", "2026-11-30"]


def _fill(url: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "BACKOFFICE_INSTANCE": str(tmp_path)}
    return subprocess.Popen([sys.executable, "bench/city_generator.py", "--database-url", url, *CITY], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _summary(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        one = lambda sql: conn.execute(text(sql)).scalar()  # noqa: E731
        summary = {
            "organizations": one("SELECT count(*) FROM organizations"),
            "locations": one("SELECT count(*) FROM locations"),
            "checkpoints": one("SELECT count(*) FROM checkpoints"),
            "persons": one("SELECT count(*) FROM persons"),
            "checkins": one("SELECT count(*) FROM checkins"),
            "distinct ids": one("SELECT count(DISTINCT id) FROM checkins"),
            # The same rows, not only as many: a fingerprint of every check-in's content.
            "fingerprint": one("SELECT md5(string_agg(concat_ws(',', id, person_id, location_id, checked_in_at, "
                               "status_colour), ';' ORDER BY id)) FROM checkins"),
        }
        hours = dict(conn.execute(text(
            "SELECT extract(hour FROM checked_in_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::int, count(*) "
            "FROM checkins GROUP BY 1")).all())
        weekdays = dict(conn.execute(text(
            "SELECT extract(isodow FROM checked_in_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::int, count(*) "
            "FROM checkins GROUP BY 1")).all())
        days = conn.execute(text("SELECT min(checked_in_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, "
                                 "max(checked_in_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date FROM checkins")).one()
        green = one("SELECT avg(CASE WHEN status_colour = 'green' THEN 1.0 ELSE 0 END) FROM checkins")
    engine.dispose()
    return {"summary": summary, "hours": hours, "weekdays": weekdays, "days": days, "green": green}


def test_a_fill_killed_half_way_finishes_with_the_rows_of_an_uninterrupted_one(tmp_path):
    import psycopg
    with own_database(SERVER, prefix="bo_city") as whole_url, own_database(SERVER, prefix="bo_city") as resumed_url:
        whole = _fill(whole_url, tmp_path / "a")
        output = whole.communicate(timeout=300)[0].decode()
        assert whole.returncode == 0, output
        # Killed once some check-in batches are in.
        interrupted = _fill(resumed_url, tmp_path / "b")
        deadline = time.monotonic() + 240
        dsn = resumed_url.replace("postgresql+psycopg://", "postgresql://")
        while time.monotonic() < deadline and interrupted.poll() is None:
            try:
                with psycopg.connect(dsn) as conn:
                    batches = conn.execute("SELECT count(*) FROM bench_fill WHERE step = 'checkins'").fetchone()[0]
            except psycopg.errors.UndefinedTable:
                batches = 0
            if batches >= 2:
                break
            time.sleep(0.05)
        assert interrupted.poll() is None, "the fill ended before it could be interrupted"
        os.killpg(interrupted.pid, signal.SIGKILL)
        interrupted.wait(timeout=30)
        partial = _summary(resumed_url)["summary"]
        assert 0 < partial["checkins"] < 60000
        again = _fill(resumed_url, tmp_path / "b")
        output = again.communicate(timeout=300)[0].decode()
        assert again.returncode == 0, output
        assert "organizations: already complete" in output
        resumed, reference = _summary(resumed_url), _summary(whole_url)
    assert resumed["summary"] == reference["summary"]
    counts = reference["summary"]
    assert (counts["organizations"], counts["locations"], counts["checkpoints"]) == (300, 360, 360)
    assert counts["persons"] == 2000 and counts["checkins"] == counts["distinct ids"] == 60000
    hours, weekdays = reference["hours"], reference["weekdays"]
    assert hours[8] > 10 * hours[2] and hours[18] > 10 * hours[3]  # the city's peaks and its quiet nights
    assert weekdays[7] < 0.75 * weekdays[3]  # Sundays quieter than Wednesdays
    assert [d.isoformat() for d in reference["days"]] == ["2026-11-16", "2026-11-29"]
    assert 0.85 < float(reference["green"]) < 0.91
