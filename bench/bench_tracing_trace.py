"""Benchmark: a 14-day contact trace over millions of check-ins (target: 10 million in PostgreSQL, median under
200 ms), against two baselines measured in the same run on the same data:

- `own check-ins`: the plain indexed lookup of the case's own check-ins in the window (the floor: a trace
  cannot be faster than reading where the case went);
- `no lower bound`: the same overlap query without the `checked_in_at >= lo - max_stay` bound, i.e. what the
  (location_id, checked_in_at) index can do when the query does not bound stays (each visit then scans every
  earlier check-in of its location).

A fourth line times the trace as an inspector of another district reads it (issue 14, point 5: the person scope
decided per contact in the same query, every contact masked), against the system's trace.

The data are generated set-based (`INSERT … SELECT generate_series` on PostgreSQL, a recursive CTE on SQLite),
indexes dropped during the load and rebuilt from the model's definitions, then ANALYZEd. A database already
holding the requested number of rows is reused (pass --fresh to rebuild).

    python bench/bench_tracing_trace.py --database-url postgresql://postgres@127.0.0.1:5432/bench_tracing
    python bench/bench_tracing_trace.py                    # temp SQLite, 300,000 check-ins
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from backoffice import create_app  # noqa: E402
from backoffice.extensions import db  # noqa: E402
from backoffice.auth.scope import ScopeSubject  # noqa: E402
from backoffice.domain import Role  # noqa: E402
from backoffice.models import CheckIn, District, Location, Organization, Person, TraceCase, Ward  # noqa: E402
from backoffice.tracing import service  # noqa: E402

START = datetime(2021, 9, 1, tzinfo=timezone.utc)
DAYS = 60
CASE_PERSON_INDEX = 12345  # a person like any other, with the average number of check-ins


def build(n: int, persons: int, n_locations: int, batch: int) -> None:
    from backoffice.geo.units import load_units
    db.drop_all()
    db.create_all()
    load_units()
    pg = db.engine.dialect.name == "postgresql"
    ward_code, district = db.session.execute(select(Ward.code, Ward.district_code).limit(1)).one()
    now = datetime.now(timezone.utc)
    n_orgs = max(1, n_locations // 5)
    db.session.execute(Organization.__table__.insert(), [
        {"name": f"Đơn vị {i}", "tax_code": f"{1000000000 + i}", "sector": "other", "address": "", "ward_code": ward_code,
         "district_code": district, "status": "active", "qr_token": f"org-token-{i:012d}", "created_at": now,
         "updated_at": now, "contact_name": ""} for i in range(n_orgs)])
    org_ids = list(db.session.scalars(select(Organization.id).order_by(Organization.id)))
    db.session.execute(Location.__table__.insert(), [
        {"organization_id": org_ids[i // 5 % len(org_ids)], "name": f"Khu {i}", "address": "", "active": True,
         "qr_token": f"loc-token-{i:012d}", "created_at": now, "updated_at": now} for i in range(n_locations)])
    series = "generate_series(1, :n) AS g(i)" if pg else \
        "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s) AS g"
    db.session.execute(text(
        "INSERT INTO persons (id_number, id_type, full_name, address, ward_code, qr_ref, created_at, updated_at) "
        f"SELECT printf('%012d', i), 'cccd', 'Người ' || i, '', :ward, 'ref' || i, :now, :now FROM {series}"
        if not pg else
        "INSERT INTO persons (id_number, id_type, full_name, address, ward_code, qr_ref, created_at, updated_at) "
        f"SELECT lpad(i::text, 12, '0'), 'cccd', 'Người ' || i, '', :ward, 'ref' || i, :now, :now FROM {series}"),
        {"n": persons, "ward": ward_code, "now": now})
    db.session.commit()
    table = CheckIn.__table__
    indexes = list(table.indexes)
    for index in indexes:  # loading without indexes, then building each once, is several times faster
        index.drop(db.engine)
    first_person = db.session.scalar(select(func.min(Person.id)))
    first_location = db.session.scalar(select(func.min(Location.id)))
    done = 0
    began = time.perf_counter()
    while done < n:
        size = min(batch, n - done)
        if pg:
            # MATERIALIZED: each random draw is made once per row, however often the row is referenced.
            db.session.execute(text("""
                WITH s AS MATERIALIZED (
                    SELECT :fp + floor(random() * :persons)::int AS p, :fl + floor(random() * :locs)::int AS li,
                           :start + random() * interval '60 days' AS t, 10 + floor(random() * 230) AS minutes,
                           random() AS r
                    FROM generate_series(1, :size))
                INSERT INTO checkins (person_id, organization_id, location_id, checked_in_at, last_seen_at,
                                      checked_out_at, checkout_reason, status_colour, status_reason, rule_id,
                                      rule_version, method, signed, is_staff, scan_count)
                SELECT s.p, l.organization_id, l.id, s.t, s.t, s.t + s.minutes * interval '1 minute', 'exit',
                       CASE WHEN s.r < 0.8 THEN 'green' ELSE 'black' END, '', '', '', 'scanner', true, false, 1
                FROM s JOIN locations l ON l.id = s.li"""),
                {"fp": first_person, "persons": persons, "fl": first_location, "locs": n_locations, "start": START,
                 "size": size})
        else:
            # SQLite keeps naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', as UTCDateTime writes it.
            db.session.execute(text(f"""
                WITH s AS MATERIALIZED (
                    SELECT :fp + abs(random()) % :persons AS p, :fl + abs(random()) % :locs AS li,
                           strftime('%Y-%m-%d %H:%M:%S.000000', '2021-09-01', '+' || (abs(random()) % 5184000)
                                    || ' seconds') AS t,
                           10 + abs(random()) % 230 AS minutes, abs(random()) % 100 AS r
                    FROM {series})
                INSERT INTO checkins (person_id, organization_id, location_id, checked_in_at, last_seen_at,
                                      checked_out_at, checkout_reason, status_colour, status_reason, rule_id,
                                      rule_version, method, signed, is_staff, scan_count)
                SELECT s.p, l.organization_id, l.id, s.t, s.t,
                       strftime('%Y-%m-%d %H:%M:%S.000000', s.t, '+' || s.minutes || ' minutes'), 'exit',
                       CASE WHEN s.r < 80 THEN 'green' ELSE 'black' END, '', '', '', 'scanner', 1, 0, 1
                FROM s JOIN locations l ON l.id = s.li"""),
                {"fp": first_person, "persons": persons, "fl": first_location, "locs": n_locations, "n": size})
        db.session.commit()
        done += size
        print(f"  loaded {done:,} check-ins ({time.perf_counter() - began:.0f} s)", flush=True)
    for index in indexes:
        index.create(db.engine)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    print(f"  indexes built, analysed ({time.perf_counter() - began:.0f} s)", flush=True)


def timed(fn, runs: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(runs):
        db.session.rollback()  # a fresh transaction each time, as a request would have
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--checkins", type=int, default=None, help="default 10,000,000 (PostgreSQL), 300,000 (SQLite)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench_tracing.sqlite3"
    pg = url.startswith("postgresql")
    n = args.checkins or (10_000_000 if pg else 300_000)
    persons, n_locations = max(1000, n // 50), max(50, min(5000, n // 2000))
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp())
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        have = 0
        try:
            have = db.session.scalar(select(func.count()).select_from(CheckIn)) if not args.fresh else 0
        except Exception:  # noqa: BLE001  (no schema yet)
            db.session.rollback()
        if have != n:
            print(f"Generating {n:,} check-ins of {persons:,} people at {n_locations:,} locations over {DAYS} days "
                  f"({db.engine.dialect.name})…", flush=True)
            build(n, persons, n_locations, batch=2_000_000 if pg else 300_000)
        first_person = db.session.scalar(select(func.min(Person.id)))
        case = TraceCase(person_id=first_person + CASE_PERSON_INDEX % persons, source="manual",
                         confirmed_at=START + timedelta(days=DAYS), window_days=14, margin_minutes=30)
        window_start = case.confirmed_at - timedelta(days=14)
        margin = timedelta(minutes=30)

        own_ms, own_p95, visits = timed(lambda: service.case_visits(case.person_id, window_start,
                                                                    case.confirmed_at), args.runs)
        trace_ms, trace_p95, result = timed(lambda: service.trace(case, now=case.confirmed_at), args.runs)

        def unbounded():
            # The same query with the stay bound pushed back before any check-in.
            with _no_lower_bound():
                query = service.overlap_query(visits, margin, case.person_id)
            return db.session.execute(query).all()

        naive_ms, naive_p95, naive_rows = timed(unbounded, max(3, args.runs // 5))
        # An inspector of a district none of the bench's residents lives in: every contact comes masked.
        home = db.session.scalar(select(Ward.district_code).join(Person, Person.ward_code == Ward.code)
                                 .where(Person.id == case.person_id))
        other = db.session.scalar(select(District.code).where(District.code != home).order_by(District.code).limit(1))
        inspector = ScopeSubject(None, "bench.inspector", Role.INSPECTOR.value, True, True, None, None, None, (other,))
        view_ms, view_p95, viewed = timed(lambda: service.trace(case, now=case.confirmed_at, viewer=inspector),
                                          args.runs)
        total = db.session.scalar(select(func.count()).select_from(CheckIn))
        print(f"tracing bench ({db.engine.dialect.name}, {total:,} check-ins, {persons:,} people, "
              f"{n_locations:,} locations, {args.runs} runs)")
        print(f"  own check-ins (baseline): median {own_ms:7.2f} ms  p95 {own_p95:7.2f} ms  ({len(visits)} visits)")
        print(f"  14-day trace:             median {trace_ms:7.2f} ms  p95 {trace_p95:7.2f} ms  "
              f"({len(result.visits)} visits, {len(result.contacts)} contact stays, {result.people} people)")
        print(f"  no lower bound:           median {naive_ms:7.2f} ms  p95 {naive_p95:7.2f} ms  "
              f"({len(naive_rows)} rows before dedup)")
        print(f"  as another district:      median {view_ms:7.2f} ms  p95 {view_p95:7.2f} ms  "
              f"({viewed.referred} of {viewed.people} people masked)")
        print(f"  ratio trace / own check-ins: {trace_ms / own_ms:.1f}x;  no-lower-bound / trace: "
              f"{naive_ms / trace_ms:.1f}x;  another district / trace: {view_ms / trace_ms:.2f}x;  "
              f"target median < 200 ms: {'met' if trace_ms < 200 else 'NOT met'}")


class _no_lower_bound:
    """Make `max_stay()` huge for the duration, so the lower bound reaches back before any check-in."""

    def __enter__(self):
        self.saved = service.max_stay
        service.max_stay = lambda: timedelta(days=3650)

    def __exit__(self, *exc):
        service.max_stay = self.saved


if __name__ == "__main__":
    main()
