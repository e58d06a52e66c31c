"""Benchmark: the city workbook for 100,000 organizations and 1,000,000 check-ins.

    python bench/bench_reports_city_workbook.py [--database-url URL] [--organizations N] [--checkins N]

Generates the data set-based (INSERT … SELECT over a numbers table; no row loop in Python) into a fresh database
(default: a temporary SQLite file; BENCH_DATABASE_URL or --database-url for PostgreSQL; the schema is dropped and
re-created there), then measures, each in a fresh process so peak memory is its own:
  report   — `reports.service.build_city_report` (scoped aggregate queries, staff statuses, summary with native
             charts, one write-only sheet per district), seconds and peak RSS;
  baseline — the same rows (fetched beforehand, untimed) written with plain openpyxl write-only;
the two alternating in --rounds pairs (default 3), and prints the medians and the median ratio report / baseline
(target ≤ 1.5×, < 400 MB).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_app(url: str):
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    from backoffice import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})


def _ts(dialect: str, seconds_expr: str) -> str:
    """A UTC timestamp `seconds_expr` seconds before :now, in the storage format of the dialect."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamptz) - make_interval(secs => ({seconds_expr})))"
    return f"strftime('%Y-%m-%d %H:%M:%S.000000', :now, '-' || ({seconds_expr}) || ' seconds')"


def _pad(dialect: str, expr: str, width: int) -> str:
    if dialect == "postgresql":
        return f"lpad(CAST({expr} AS text), {width}, '0')"
    return f"substr('{'0' * width}' || {expr}, -{width}, {width})"


def _day(dialect: str, days_expr: str) -> str:
    if dialect == "postgresql":
        return f"(CAST(:now AS date) - CAST({days_expr} AS integer))"
    return f"date(:now, '-' || ({days_expr}) || ' days')"


def generate(url: str, organizations: int, checkins: int, staff: int) -> None:
    from sqlalchemy import text

    from backoffice.extensions import db
    from backoffice.geo.units import load_units
    from backoffice.models import CriteriaSetVersion
    app = make_app(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        load_units()
        d = db.engine.dialect.name
        now = datetime.now(timezone.utc).replace(microsecond=0)
        params = {"now": now.strftime("%Y-%m-%d %H:%M:%S") + ("+00" if d == "postgresql" else "")}
        db.session.add(CriteriaSetVersion(
            set_id="bench-set", version="1.0.0", content_sha256="0" * 64, first_used_at=now,
            content={"id": "bench-set", "levels": [
                {"id": "safe", "label": {"vi": "An toàn", "en": "Safe"}, "colour": "success"},
                {"id": "medium", "label": {"vi": "Nguy cơ trung bình", "en": "Medium risk"}, "colour": "warning"},
                {"id": "unsafe", "label": {"vi": "Không an toàn", "en": "Unsafe"}, "colour": "danger"}]}))
        db.session.commit()
        biggest = max(organizations, checkins, staff)
        t0 = time.perf_counter()
        sql = [
            "CREATE TEMPORARY TABLE nums (i BIGINT PRIMARY KEY)",
            ("INSERT INTO nums SELECT i FROM generate_series(1, :big) AS g(i)" if d == "postgresql" else
             "INSERT INTO nums WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :big) "
             "SELECT i FROM c"),
            "CREATE TEMPORARY TABLE wardnum (rn INTEGER PRIMARY KEY, code INTEGER, district_code INTEGER)",
            "INSERT INTO wardnum SELECT row_number() OVER (ORDER BY code), code, district_code FROM wards",
            # Organizations spread over the 312 wards; every 1000th named like a formula.
            "INSERT INTO organizations (id, name, tax_code, sector, address, ward_code, district_code, contact_name,"
            " status, qr_token, created_at, updated_at) SELECT n.i, CASE WHEN n.i % 1000 = 0 THEN '=SUM(1+1) ' "
            "ELSE 'Công ty TNHH Phát triển Thương mại Sài Gòn ' END || n.i, "
            f"{_pad(d, 'n.i', 10)}, CASE n.i % 7 WHEN 0 THEN 'enterprise' WHEN 1 THEN 'office' "
            "WHEN 2 THEN 'supermarket' WHEN 3 THEN 'market' WHEN 4 THEN 'food_service' WHEN 5 THEN 'school' "
            "ELSE 'other' END, n.i || ' Nguyễn Huệ', w.code, w.district_code, 'Người liên hệ', 'active', "
            f"'tok' || n.i, {_ts(d, '0')}, {_ts(d, '0')} FROM nums n JOIN wardnum w ON w.rn = (n.i % 312) + 1 "
            "WHERE n.i <= :orgs",
            "INSERT INTO locations (id, organization_id, name, address, active, qr_token, created_at, updated_at) "
            f"SELECT i, i, 'Cổng chính', '', true, 'loc' || i, {_ts(d, '0')}, {_ts(d, '0')} FROM nums "
            "WHERE i <= :orgs",
            "INSERT INTO persons (id, id_number, id_type, full_name, address, ward_code, qr_ref, created_at, "
            f"updated_at) SELECT n.i, '079' || {_pad(d, 'n.i', 9)}, 'cccd', 'Người lao động ' || n.i,"
            f" '', w.code, 'ref' || n.i, {_ts(d, '0')}, {_ts(d, '0')} FROM nums n "
            "JOIN wardnum w ON w.rn = (n.i % 312) + 1 WHERE n.i <= :staff",
            "INSERT INTO staff (organization_id, person_id, full_name, position, active, created_at, updated_at) "
            f"SELECT ((i - 1) % :orgs) + 1, i, 'Người lao động ' || i, 'Nhân viên', true, {_ts(d, '0')}, "
            f"{_ts(d, '0')} FROM nums WHERE i <= :staff",
            # 70% of staff fully vaccinated (two doses), 10% one recent dose, the rest none.
            f"INSERT INTO vaccinations (person_id, vaccine, dose_number, vaccinated_on) SELECT i, 'astrazeneca', 1, "
            f"{_day(d, '90 + i % 60')} FROM nums WHERE i <= :staff AND i % 10 < 8",
            f"INSERT INTO vaccinations (person_id, vaccine, dose_number, vaccinated_on) SELECT i, 'astrazeneca', 2, "
            f"{_day(d, '20 + i % 30')} FROM nums WHERE i <= :staff AND i % 10 < 7",
            "INSERT INTO checkins (person_id, organization_id, location_id, checked_in_at, last_seen_at, "
            "checked_out_at, checkout_reason, status_colour, status_reason, rule_id, rule_version, method, signed, "
            "is_staff, scan_count) SELECT ((i * 7) % :staff) + 1, ((i - 1) % :orgs) + 1, ((i - 1) % :orgs) + 1, "
            f"{_ts(d, '60 + (i * 7919) % 2588400')}, {_ts(d, '60 + (i * 7919) % 2588400')}, "
            f"{_ts(d, '(i * 7919) % 2588400')}, 'exit', CASE WHEN i % 5 = 0 THEN 'black' ELSE 'green' END, '', "
            "'hcm-1913', '1.0.0', 'scanner', true, false, 1 FROM nums WHERE i <= :checkins",
            # Self-assessments for 80% of organizations (an older one for 30%), inspections for 10%.
            "INSERT INTO assessments (organization_id, district_code, kind, state, set_version_id, ruleset_id, "
            "ruleset_version, answers, facts, percent, level, submitted_at, note, created_at, updated_at) "
            "SELECT o.id, o.district_code, 'self', 'submitted', 1, 'bench-set', '1.0.0', '{}', '{}', "
            "(o.id * 37) % 100, CASE WHEN (o.id * 37) % 100 >= 80 THEN 'safe' WHEN (o.id * 37) % 100 >= 50 "
            f"THEN 'medium' ELSE 'unsafe' END, {_ts(d, '(o.id % 45) * 86400 + 3600')}, '', {_ts(d, '0')}, "
            f"{_ts(d, '0')} FROM organizations o WHERE o.id % 5 <> 0",
            "INSERT INTO assessments (organization_id, district_code, kind, state, set_version_id, ruleset_id, "
            "ruleset_version, answers, facts, percent, level, submitted_at, note, created_at, updated_at) "
            "SELECT o.id, o.district_code, 'self', 'submitted', 1, 'bench-set', '1.0.0', '{}', '{}', 20, "
            f"'unsafe', {_ts(d, '50 * 86400')}, '', {_ts(d, '0')}, {_ts(d, '0')} FROM organizations o "
            "WHERE o.id % 10 < 3",
            "INSERT INTO assessments (organization_id, district_code, kind, state, set_version_id, ruleset_id, "
            "ruleset_version, answers, facts, percent, level, submitted_at, note, created_at, updated_at) "
            "SELECT o.id, o.district_code, 'inspection', 'submitted', 1, 'bench-set', '1.0.0', '{}', '{}', 60,"
            f" 'medium', {_ts(d, '(o.id % 20) * 86400')}, '', {_ts(d, '0')}, {_ts(d, '0')} FROM organizations o "
            "WHERE o.id % 10 = 7",
        ]
        values = dict(params, big=biggest, orgs=organizations, staff=staff, checkins=checkins)
        for statement in sql:
            db.session.execute(text(statement), values)
        if d == "postgresql":
            for table in ("organizations", "locations", "persons", "staff", "vaccinations", "checkins",
                          "assessments"):
                db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"generated {organizations:,} organizations, {checkins:,} check-ins, {staff:,} staff "
              f"on {d} in {time.perf_counter() - t0:.1f} s", flush=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_report(url: str, out: str) -> dict:
    from backoffice.reports import service
    from backoffice.reports.cli import OperatorUser
    app = make_app(url)
    with app.app_context(), app.test_request_context():
        start, cpu = time.perf_counter(), time.process_time()
        report = service.build_city_report(OperatorUser(), out=out)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "peak_mb": _peak_mb(), "rows": report.counts["organizations"],
            "bytes": os.path.getsize(out)}


def phase_baseline(url: str, out: str) -> dict:
    """Fetch the very rows the report writes (untimed), then time plain openpyxl write-only writing them."""
    from openpyxl import Workbook

    from backoffice.reports import queries as q
    from backoffice.reports.cli import OperatorUser
    from backoffice.reports.labels import level_catalogue
    from backoffice.reports.scope import resolve
    from backoffice.reports.workbook import OrgFormatter, org_headers
    app = make_app(url)
    with app.app_context(), app.test_request_context():
        prepare = time.perf_counter()
        rs = resolve(OperatorUser())
        fmt = OrgFormatter(rs, level_catalogue())
        by_district: dict[int, list[tuple]] = {code: [] for code in rs.districts}
        for row in q.organization_rows(rs):
            by_district[row.district_code].append(fmt(row))
        summary = [(f.name, f.organizations, f.assessed, f.coverage, f.overdue) for f in q.area_figures(rs)]
        prepare = time.perf_counter() - prepare
        headers = org_headers()
        start, cpu = time.perf_counter(), time.process_time()
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Summary")
        for row in summary:
            ws.append(row)
        for code, rows in by_district.items():
            ws = wb.create_sheet(str(code))
            ws.append(headers)
            for row in rows:
                ws.append(row)
        wb.save(out)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "peak_mb": _peak_mb(), "prepare_seconds": prepare,
            "rows": sum(len(r) for r in by_district.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--organizations", type=int, default=100_000)
    parser.add_argument("--checkins", type=int, default=1_000_000)
    parser.add_argument("--staff", type=int, default=200_000, help="active staff, each a registered resident")
    parser.add_argument("--phase", choices=["all", "report", "baseline"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the data already in the database")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/report pairs, alternating")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    if args.phase != "all":
        result = (phase_report if args.phase == "report" else phase_baseline)(url, args.out)
        print("RESULT " + json.dumps(result), flush=True)
        return
    if not args.skip_generate:
        generate(url, args.organizations, args.checkins, args.staff)
    # Baseline and report alternate, each in a fresh process, so that a change in the machine's speed during
    # the run (other processes, CPU frequency) weighs on both sides; the medians and the median of the rounds'
    # ratios are reported.
    rounds: list[dict] = []
    for index in range(args.rounds):
        results = {}
        for phase in ("baseline", "report"):
            results[phase] = _run_phase(phase, url, workdir / f"{phase}.xlsx")
        rounds.append(results)
        took, base_took = results["report"]["seconds"], results["baseline"]["seconds"]
        print(f"round {index + 1}: report {took:.2f} s, baseline {base_took:.2f} s, ratio {took / base_took:.2f}x",
              flush=True)
    report, base = (_median_result([r[phase] for r in rounds]) for phase in ("report", "baseline"))
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    print(f"reports city workbook ({dialect}): {report['rows']:,} organizations in {report['seconds']:.2f} s median "
          f"(CPU {report['cpu']:.2f} s in this process), peak {report['peak_mb']:.0f} MB, "
          f"{report['bytes'] / 1e6:.1f} MB file")
    print(f"baseline plain openpyxl write-only, same rows: {base['seconds']:.2f} s median (CPU {base['cpu']:.2f} s), "
          f"peak {base['peak_mb']:.0f} MB (fetching and formatting them beforehand, untimed: "
          f"{base['prepare_seconds']:.2f} s)")
    ratio = statistics.median(r["report"]["seconds"] / r["baseline"]["seconds"] for r in rounds)
    cpu_ratio = statistics.median(r["report"]["cpu"] / r["baseline"]["cpu"] for r in rounds)
    verdict = "OK" if ratio <= 1.5 and report["peak_mb"] < 400 else "ABOVE TARGET"
    print(f"ratio report/baseline (median of {len(rounds)} rounds): {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU "
          f"(target <= 1.5x, < 400 MB): {verdict}")


def _run_phase(phase: str, url: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--database-url", url, "--out", str(out)],
                          capture_output=True, text=True, check=False)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"{phase} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(line[7:])


def _median_result(results: list[dict]) -> dict:
    """The round with the median time (its other figures with it); peak memory is the worst of all rounds."""
    ordered = sorted(results, key=lambda r: r["seconds"])
    return dict(ordered[len(ordered) // 2], peak_mb=max(r["peak_mb"] for r in results))


if __name__ == "__main__":
    main()
