"""Fill a PostgreSQL database with a city: organizations, their locations and checkpoints, residents with their
vaccinations, and check-ins over the last days with the city's daily and hourly rhythm. For the benchmarks at city
scale (issue 16), not for tests of behaviour.

    python bench/city_generator.py --database-url postgresql://…/city [--organizations 300000] [--people 1000000]
        [--checkins 50000000] [--days 30] [--batch 500000] [--seed 2021]

Rows go in with COPY, one batch per transaction, each batch recorded in `bench_fill` in that transaction: a run
stopped at any point (killed, out of disk) is resumed by running the same command again, which skips the batches
recorded and writes the others, the same rows it would have written (each batch draws from its own seeded
generator). The schema is the application's own, made by its migrations when the database is empty.

Why not INSERT … SELECT generate_series (as bench_reports_city_workbook does): the distributions here (a few
busy supermarkets and markets, quiet offices, morning and evening peaks, weekends) are drawn with numpy, and COPY
of those rows is the fastest way in (measured on this machine: about 250,000 check-ins a second with the table's
indexes in place).
"""
from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTORS = ["enterprise", "office", "supermarket", "market", "food_service", "school", "other"]
SECTOR_SHARE = [0.30, 0.20, 0.08, 0.02, 0.25, 0.05, 0.10]
# How many visitors a location of each sector draws, relative to an office.
SECTOR_PULL = {"enterprise": 3.0, "office": 1.0, "supermarket": 12.0, "market": 20.0, "food_service": 4.0,
               "school": 6.0, "other": 1.0}
# Check-ins per hour of the day in the city's time (UTC+7), relative: morning arrival, lunch, evening shopping.
HOURLY = np.array([0.2, 0.1, 0.1, 0.1, 0.3, 1.0, 3.0, 6.0, 7.0, 5.0, 4.0, 5.0, 6.0, 4.0, 3.5, 3.5, 4.0, 5.5,
                   6.5, 5.5, 3.5, 2.0, 1.0, 0.5])
WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 1.05, 0.85, 0.6])  # Monday … Sunday
LOCAL = timedelta(hours=7)
SECOND_LOCATION_SHARE = 0.2  # organizations with a second site
VACCINATED_SHARE = 0.88  # two doses or more: green
FILL_TABLE = ("CREATE TABLE IF NOT EXISTS bench_fill (step text, batch integer, rows bigint NOT NULL, "
              "done_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (step, batch))")


@dataclass(frozen=True)
class City:
    organizations: int
    people: int
    checkins: int
    days: int
    batch: int
    seed: int
    end: date  # check-ins fall on the `days` days before this one (local days)

    @property
    def locations(self) -> int:
        return self.organizations + int(self.organizations * SECOND_LOCATION_SHARE)


def _rng(city: City, step: str, batch: int) -> np.random.Generator:
    """The generator of one batch: the same rows whenever (and however often) the batch is written."""
    return np.random.default_rng([city.seed, sum(map(ord, step)), batch])


def _token(rng: np.random.Generator, n: int, nbytes: int = 32) -> list[str]:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return [base64.urlsafe_b64encode(row.tobytes()).rstrip(b"=").decode() for row in raw]


def _tax_code(org_id: int) -> str:
    """A valid, unique Vietnamese tax code for organization `org_id` (its id is the code's body)."""
    from stdnum.vn import mst
    for lead in range(1, 10):
        head = f"{lead}{org_id:08d}"
        try:
            code = head + mst.calc_check_digit(head)
        except Exception:  # noqa: BLE001  (a check digit of 10: no valid code with this lead)
            continue
        if mst.is_valid(code):
            return code
    raise ValueError(org_id)


def _copy(conn, table: str, columns: str, lines: Iterator[str]) -> int:
    count = 0
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            count += 1
            if len(chunk) >= 20000:
                copy.write("".join(chunk))
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))
    return count


def _batches(total: int, size: int) -> Iterator[tuple[int, int, int]]:
    for number, start in enumerate(range(0, total, size)):
        yield number, start, min(size, total - start)


def _run_step(conn, step: str, total: int, size: int, write: Callable[[int, int, int], int], log) -> None:
    """Write the batches of `step` not yet recorded in bench_fill, one transaction each."""
    done = {row[0] for row in conn.execute("SELECT batch FROM bench_fill WHERE step = %s", (step,))}
    conn.commit()
    started, written = time.perf_counter(), 0
    for number, start, count in _batches(total, size):
        if number in done:
            continue
        rows = write(number, start, count)
        conn.execute("INSERT INTO bench_fill (step, batch, rows) VALUES (%s, %s, %s)", (step, number, rows))
        conn.commit()
        written += rows
    seconds = time.perf_counter() - started
    if written:
        log(f"{step}: {written:,} rows in {seconds:.1f} s ({written / max(seconds, 1e-9):,.0f} rows/s)")
    else:
        log(f"{step}: already complete")


def _wards(conn) -> tuple[np.ndarray, np.ndarray]:
    rows = conn.execute("SELECT code, district_code FROM wards ORDER BY code").fetchall()
    conn.commit()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def _organizations(conn, city: City, wards, districts, now: str) -> Callable[[int, int, int], int]:
    def write(number: int, start: int, count: int) -> int:
        rng = _rng(city, "organizations", number)
        sectors = rng.choice(len(SECTORS), size=count, p=SECTOR_SHARE)
        where = rng.integers(0, len(wards), size=count)
        tokens = _token(rng, count)
        workers = rng.integers(3, 400, size=count)
        lines = (f"{start + i + 1}\tCơ sở {SECTORS[sectors[i]]} {start + i + 1}\t{_tax_code(start + i + 1)}\t"
                 f"{SECTORS[sectors[i]]}\t{1 + (start + i) % 300} Lê Lợi\t{wards[where[i]]}\t{districts[where[i]]}\t"
                 f"Người liên hệ\t{workers[i]}\tactive\t{tokens[i]}\t{now}\t{now}\tf\n" for i in range(count))
        return _copy(conn, "organizations", "id, name, tax_code, sector, address, ward_code, district_code, "
                     "contact_name, workers_on_site, status, qr_token, created_at, updated_at, admit_black", lines)
    return write


def _locations(conn, city: City, now: str) -> Callable[[int, int, int], int]:
    """Location i+1 belongs to organization i+1; the rest are second sites of the first organizations. Each
    location has one checkpoint with its own id."""
    def write(number: int, start: int, count: int) -> int:
        rng = _rng(city, "locations", number)
        tokens = _token(rng, count)
        ids = range(start + 1, start + count + 1)
        org = [i if i <= city.organizations else i - city.organizations for i in ids]
        names = ["Trụ sở" if i <= city.organizations else "Cơ sở 2" for i in ids]
        written = _copy(conn, "locations", "id, organization_id, name, address, active, qr_token, created_at, "
                        "updated_at", (f"{i}\t{o}\t{n}\t{i % 300 + 1} Nguyễn Huệ\tt\t{t}\t{now}\t{now}\n"
                                       for i, o, n, t in zip(ids, org, names, tokens)))
        _copy(conn, "checkpoints", "id, organization_id, location_id, name, direction, active, created_at, updated_at",
              (f"{i}\t{o}\t{i}\tCổng chính\tentry\tt\t{now}\t{now}\n" for i, o in zip(ids, org)))
        return written
    return write


def _people(conn, city: City, wards, now: str, today: date) -> Callable[[int, int, int], int]:
    def write(number: int, start: int, count: int) -> int:
        rng = _rng(city, "people", number)
        refs = _token(rng, count, 16)
        where = rng.integers(0, len(wards), size=count)
        years = rng.integers(1940, 2016, size=count)
        female = rng.random(count) < 0.51
        vaccinated = rng.random(count) < VACCINATED_SHARE
        ids = range(start + 1, start + count + 1)
        _copy(conn, "persons", "id, id_number, id_type, full_name, birth_date, gender, address, ward_code, qr_ref, "
              "created_at, updated_at, declared_at_checkpoint",
              (f"{pid}\t079{pid:09d}\tcccd\tCư dân {pid}\t{years[i]}-0{1 + i % 9}-1{i % 9}\t{'F' if female[i] else 'M'}"
               f"\t{pid % 300 + 1} Hai Bà Trưng\t{wards[where[i]]}\t{refs[i][:22]}\t{now}\t{now}\tf\n"
               for i, pid in enumerate(ids)))
        first = (today - timedelta(days=150)).isoformat()
        second = (today - timedelta(days=90)).isoformat()
        _copy(conn, "vaccinations", "person_id, vaccine, dose_number, vaccinated_on",
              (f"{pid}\tastrazeneca\t{dose}\t{day}\n" for i, pid in enumerate(ids) if vaccinated[i]
               for dose, day in ((1, first), (2, second))))
        return count
    return write


def _location_weights(conn, city: City) -> np.ndarray:
    """How many visitors each location draws: its sector's pull, times a long-tailed popularity."""
    sectors = conn.execute("SELECT sector FROM organizations ORDER BY id").fetchall()
    conn.commit()
    pull = np.array([SECTOR_PULL[s[0]] for s in sectors])
    pull = np.concatenate([pull, pull[: city.locations - city.organizations]])
    popularity = np.random.default_rng([city.seed, 7]).pareto(1.5, size=city.locations) + 1
    weights = pull * popularity
    return weights / weights.sum()


def _minute_labels(city: City) -> list[str]:
    """`YYYY-MM-DD HH:MM:` in UTC for every minute of the period, so rows are written without datetime work."""
    first = datetime.combine(city.end - timedelta(days=city.days), datetime.min.time(), timezone.utc) - LOCAL
    return [(first + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:") for m in range(city.days * 1440 + 240)]


def _checkins(conn, city: City) -> Callable[[int, int, int], int]:
    weights = _location_weights(conn, city)
    organization_of = np.concatenate([np.arange(1, city.organizations + 1),
                                      np.arange(1, city.locations - city.organizations + 1)])
    labels = _minute_labels(city)
    first_day = city.end - timedelta(days=city.days)
    day_weight = np.array([WEEKDAY[(first_day + timedelta(days=d)).weekday()] for d in range(city.days)])
    # Minutes of the period, each weighted by its day and its local hour.
    minute_weight = (np.repeat(day_weight, 1440) * np.tile(np.repeat(HOURLY, 60), city.days))
    minute_weight /= minute_weight.sum()

    def write(number: int, start: int, count: int) -> int:
        rng = _rng(city, "checkins", number)
        minute = rng.choice(len(minute_weight), size=count, p=minute_weight)
        second = rng.integers(0, 60, size=count)
        stay = rng.integers(10, 120, size=count)  # minutes
        location = rng.choice(city.locations, size=count, p=weights) + 1
        person = rng.integers(1, city.people + 1, size=count)
        green = rng.random(count) < VACCINATED_SHARE
        lines = (f"{start + i + 1}\t{person[i]}\t{organization_of[location[i] - 1]}\t{location[i]}\t{location[i]}\t"
                 f"{labels[minute[i]]}{second[i]:02d}+00\t{labels[minute[i]]}{second[i]:02d}+00\t"
                 f"{labels[minute[i] + stay[i]]}{second[i]:02d}+00\texit\t"
                 f"{'green' if green[i] else 'black'}\t\t{'vaccinated' if green[i] else 'not_vaccinated'}\t1\t"
                 f"scanner\tt\tf\t1\tt\t\n" for i in range(count))
        return _copy(conn, "checkins", "id, person_id, organization_id, location_id, checkpoint_id, checked_in_at, "
                     "last_seen_at, checked_out_at, checkout_reason, status_colour, status_reason, rule_id, "
                     "rule_version, method, signed, is_staff, scan_count, admitted, status_outcome", lines)
    return write


def _schema(url: str) -> None:
    """The application's tables (its migrations) and the city's units, when the database has none yet."""
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.geo.units import load_units
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context():
        upgrade()
        load_units()
        db.session.commit()
        db.engine.dispose()


def fill(url: str, city: City, log=print) -> None:
    """Fill (or finish filling) the database at `url` with `city`."""
    import psycopg
    from sqlalchemy.engine import make_url
    _schema(url)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
    with psycopg.connect(dsn) as conn:
        # Foreign keys are not checked row by row while filling (PostgreSQL's per-row triggers held COPY to about
        # 20,000 check-ins a second): the rows reference what earlier steps wrote by construction, and `orphans`
        # counts any row that does not, set-based, at the end. Needs a superuser, as a benchmark's database has.
        conn.execute("SET session_replication_role = replica")
        conn.execute(FILL_TABLE)
        conn.commit()
        wards, districts = _wards(conn)
        small = max(city.batch // 10, 1000)
        _run_step(conn, "organizations", city.organizations, small, _organizations(conn, city, wards, districts, now),
                  log)
        _run_step(conn, "locations", city.locations, small, _locations(conn, city, now), log)
        _run_step(conn, "people", city.people, small, _people(conn, city, wards, now, city.end), log)
        _run_step(conn, "checkins", city.checkins, city.batch, _checkins(conn, city), log)
        for table in ("organizations", "locations", "checkpoints", "persons", "vaccinations", "checkins"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
        missing = orphans(conn)
        if missing:
            raise SystemExit(f"rows referencing nothing: {missing}")


# (table, column, referenced table): every reference the generator writes.
REFERENCES = (("locations", "organization_id", "organizations"), ("checkpoints", "location_id", "locations"),
              ("vaccinations", "person_id", "persons"), ("checkins", "person_id", "persons"),
              ("checkins", "location_id", "locations"), ("checkins", "organization_id", "organizations"),
              ("checkins", "checkpoint_id", "checkpoints"))


def orphans(conn) -> dict[str, int]:
    """Rows whose reference names no row, per (table.column): what the foreign keys would have refused."""
    found = {}
    for table, column, target in REFERENCES:
        count = conn.execute(f"SELECT count(*) FROM {table} t WHERE {column} IS NOT NULL AND NOT EXISTS "
                             f"(SELECT 1 FROM {target} r WHERE r.id = t.{column})").fetchone()[0]
        if count:
            found[f"{table}.{column}"] = count
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--organizations", type=int, default=300_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--checkins", type=int, default=50_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--end", type=date.fromisoformat, default=None,
                        help="the day after the last day of check-ins (default: today in the city)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url (or BENCH_DATABASE_URL) must name a PostgreSQL database")
    from backoffice.timeutil import local_today
    city = City(args.organizations, args.people, args.checkins, args.days, args.batch, args.seed,
                args.end or local_today())
    started = time.perf_counter()
    fill(args.database_url, city)
    print(f"city filled in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
