"""Benchmark: the check-in purge's cost per day retired does not grow with the days kept.

One day of check-ins (`--per-day`, default 20,000) is purged while N, 2N and 4N days of the same size are kept
(`--days`, default 5), in rounds that alternate the order (this kind of machine's speed drifts within minutes);
each line is the median over the rounds and its ratio to the N-day figure of the same run. A last pair of lines
times the same purge without `ix_checkins_time`, at N and 4N days, to show what the index buys (each day then
reads the whole table).

PostgreSQL is the case that matters (the city's database): a DELETE there only marks the day's rows, and the
figures stay flat. SQLite removes every index entry of each deleted row at once, and the day's entries lie spread
over the person, location and organization indexes, so its commit writes more pages as the table grows (about
1.4x at 4N here): the rows examined are still the day's own.

The data are generated set-based (`generate_series` on PostgreSQL, a recursive CTE on SQLite) into a database of
the bench's own (dropped and made anew: pass a database you do not need).

    python bench/bench_checkins_purge.py --database-url postgresql://postgres@127.0.0.1:5432/bench_purge
    python bench/bench_checkins_purge.py                 # temp SQLite
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Index, func, select, text  # noqa: E402

from backoffice import create_app  # noqa: E402
from backoffice.extensions import db  # noqa: E402
from backoffice.models import CheckIn, Location, Organization, Person, Ward  # noqa: E402
from backoffice.scanning.checkins import purge_checkins  # noqa: E402
from backoffice.timeutil import LOCAL_TZ  # noqa: E402

TARGET = date(2021, 9, 1)  # the day purged; the kept days follow it
LOCATIONS, PERSONS = 200, 5000


def build() -> None:
    from backoffice.geo.units import load_units
    db.drop_all()
    db.create_all()
    load_units()
    ward_code, district = db.session.execute(select(Ward.code, Ward.district_code).limit(1)).one()
    now = datetime.now(timezone.utc)
    db.session.execute(Organization.__table__.insert(), [
        {"name": f"Đơn vị {i}", "tax_code": f"{1000000000 + i}", "sector": "other", "address": "",
         "ward_code": ward_code, "district_code": district, "status": "active", "qr_token": f"org-token-{i:012d}",
         "created_at": now, "updated_at": now, "contact_name": ""} for i in range(LOCATIONS // 5)])
    org_ids = list(db.session.scalars(select(Organization.id).order_by(Organization.id)))
    db.session.execute(Location.__table__.insert(), [
        {"organization_id": org_ids[i // 5], "name": f"Khu {i}", "address": "", "active": True,
         "qr_token": f"loc-token-{i:012d}", "created_at": now, "updated_at": now} for i in range(LOCATIONS)])
    db.session.execute(Person.__table__.insert(), [
        {"id_number": f"{i:012d}", "id_type": "cccd", "full_name": f"Người {i}", "address": "",
         "ward_code": ward_code, "qr_ref": f"ref{i}", "created_at": now, "updated_at": now} for i in range(PERSONS)])
    db.session.commit()


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), LOCAL_TZ).astimezone(timezone.utc)
    return start, start + timedelta(days=1)


def add_day(day: date, n: int) -> None:
    """`n` closed check-ins spread over the local `day`, at every location, green and black mixed."""
    start, _ = _bounds(day)
    fp = db.session.scalar(select(func.min(Person.id)))
    fl = db.session.scalar(select(func.min(Location.id)))
    params = {"n": n, "fp": fp, "fl": fl, "persons": PERSONS, "locs": LOCATIONS}
    columns = ("person_id, organization_id, location_id, checked_in_at, last_seen_at, checked_out_at, "
               "checkout_reason, admitted, status_colour, status_reason, status_outcome, rule_id, rule_version, "
               "method, signed, is_staff, scan_count")
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"""
            INSERT INTO checkins ({columns})
            SELECT :fp + g.i % :persons, l.organization_id, l.id, t, t, t + interval '1 hour', 'exit', true,
                   CASE WHEN g.i % 5 = 0 THEN 'black' ELSE 'green' END, '', '', '', '', 'scanner', true, false, 1
            FROM generate_series(0, :n - 1) AS g(i)
            CROSS JOIN LATERAL (SELECT :start + (g.i * 86399.0 / :n) * interval '1 second' AS t) AS at
            JOIN locations l ON l.id = :fl + g.i % :locs"""), {**params, "start": start})
    else:
        # SQLite keeps naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', as UTCDateTime writes it.
        db.session.execute(text(f"""
            WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < :n - 1),
                 s AS (SELECT i, strftime('%Y-%m-%d %H:%M:%S.000000', :start, '+' || (i * 86399 / :n) || ' seconds')
                              AS t FROM g)
            INSERT INTO checkins ({columns})
            SELECT :fp + s.i % :persons, l.organization_id, l.id, s.t, s.t,
                   strftime('%Y-%m-%d %H:%M:%S.000000', s.t, '+1 hour'), 'exit', 1,
                   CASE WHEN s.i % 5 = 0 THEN 'black' ELSE 'green' END, '', '', '', '', 'scanner', 1, 0, 1
            FROM s JOIN locations l ON l.id = :fl + s.i % :locs"""),
            {**params, "start": start.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")})
    db.session.commit()


def drop_day(day: date) -> None:
    start, end = _bounds(day)
    db.session.execute(CheckIn.__table__.delete().where(CheckIn.checked_in_at >= start, CheckIn.checked_in_at < end))
    db.session.commit()


def analyse() -> None:
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


class Table:
    """The kept days after TARGET, grown or shrunk to a number (untimed)."""

    def __init__(self, per_day: int):
        self.per_day, self.kept = per_day, 0

    def keep(self, days: int) -> None:
        while self.kept < days:
            self.kept += 1
            add_day(TARGET + timedelta(days=self.kept), self.per_day)
        while self.kept > days:
            drop_day(TARGET + timedelta(days=self.kept))
            self.kept -= 1
        analyse()

    def purge_target(self) -> float:
        """Seconds to retire TARGET (its rows added anew first, untimed)."""
        add_day(TARGET, self.per_day)
        analyse()
        db.session.remove()
        began = time.perf_counter()
        done = purge_checkins(1, today=TARGET + timedelta(days=2))  # keeps TARGET + 1 onwards
        seconds = time.perf_counter() - began
        assert (done.deleted, done.days) == (self.per_day, 1), done
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--days", type=int, default=5, help="N: the purge runs with N, 2N and 4N days kept")
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench_purge.sqlite3"
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp())
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    sizes = [args.days, 2 * args.days, 4 * args.days]
    with app.app_context():
        began = time.perf_counter()
        build()
        table = Table(args.per_day)
        timings: dict[int, list[float]] = {k: [] for k in sizes}
        for r in range(args.rounds):
            for k in (sizes if r % 2 == 0 else sizes[::-1]):
                table.keep(k)
                timings[k].append(table.purge_target())
        index = next(i for i in CheckIn.__table__.indexes if i.name == "ix_checkins_time")
        Index.drop(index, db.engine)
        without = {}
        for k in (sizes[-1], sizes[0]):
            table.keep(k)
            without[k] = table.purge_target()
        Index.create(index, db.engine)
        base = statistics.median(timings[sizes[0]])
        print(f"check-in purge bench ({db.engine.dialect.name}, one day of {args.per_day:,} check-ins retired, "
              f"{LOCATIONS} locations, {args.rounds} rounds, {time.perf_counter() - began:.0f} s in all)")
        for k in sizes:
            median = statistics.median(timings[k])
            print(f"  {k:3d} days kept ({k * args.per_day:>9,} check-ins): median {median * 1000:8.1f} ms  "
                  f"ratio to {sizes[0]} days: {median / base:.2f}x")
        for k in sorted(without):
            print(f"  without ix_checkins_time, {k:3d} days kept: {without[k] * 1000:8.1f} ms  "
                  f"ratio to {sizes[0]} days: {without[k] / without[sizes[0]]:.2f}x")


if __name__ == "__main__":
    main()
