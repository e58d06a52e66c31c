"""Benchmark: importing a generated 100,000-row organization workbook (dry run + apply), against a plain
openpyxl read-only pass over the same file in the same run.

    python bench/bench_imports_organizations.py [--rows 100000] [--database-url URL]

Default database: a temporary SQLite file (env BENCH_DATABASE_URL or --database-url for PostgreSQL; its
tables are dropped and recreated). Peak memory is the process's peak RSS (resource.getrusage), which covers
openpyxl, the staged rows and the database driver; tracemalloc would slow the run it measures.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openpyxl import Workbook, load_workbook  # noqa: E402
from stdnum.vn import mst  # noqa: E402

SPELLINGS = {760: ["Quận 1", "Q.1", "Q1", "quan 1", "District 1"], 770: ["Quận 3", "Q.3", "quận 3"],
             769: ["TP. Thủ Đức", "Thủ Đức", "Thành phố Thủ Đức"], 783: ["Huyện Củ Chi", "Củ Chi"]}


def tax_codes(count: int):
    head = 312_000_000
    while count:
        head += 1
        try:
            code = f"{head:09d}" + mst.calc_check_digit(f"{head:09d}")
        except Exception:
            continue
        if mst.is_valid(code):
            count -= 1
            yield code


def generate(path: Path, rows: int, wards: dict[int, list[str]]) -> None:
    """An office-style sheet: a title row, the header on row 3, mixed spellings, phones as numbers."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Danh sách DN")
    ws.append(["DANH SÁCH DOANH NGHIỆP ĐĂNG KÝ HOẠT ĐỘNG AN TOÀN"])
    ws.append([])
    ws.append(["STT", "Tên doanh nghiệp", "MST", "Địa chỉ", "Quận/Huyện", "Phường/Xã", "Ngành", "Người liên hệ",
               "SĐT", "Email", "Số lao động"])
    districts = list(SPELLINGS)
    for i, code in enumerate(tax_codes(rows)):
        district = districts[i % len(districts)]
        ward = wards[district][i % len(wards[district])]
        phone = 903000000 + i if i % 2 else f"+84 90 {3000000 + i:07d}"
        ws.append([i + 1, f"Công ty TNHH Thương mại Dịch vụ {i}", int(code) if i % 3 == 0 else code,
                   f"{i % 300 + 1} Nguyễn Huệ", SPELLINGS[district][i % len(SPELLINGS[district])], ward,
                   ["Doanh nghiệp", "Văn phòng", "Nhà hàng", "Siêu thị"][i % 4], "Nguyễn Văn An", phone,
                   f"lienhe{i}@example.vn", 10 + i % 500])
    wb.save(path)


def plain_pass(path: Path) -> float:
    start = time.perf_counter()
    wb = load_workbook(path, read_only=True, data_only=False)
    ws = wb.worksheets[0]
    ws.reset_dimensions()
    for _row in ws.iter_rows(values_only=True):
        pass
    wb.close()
    return time.perf_counter() - start


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-imports-"))
    os.environ["BACKOFFICE_INSTANCE"] = str(workdir)
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"

    from flask_babel import force_locale
    from sqlalchemy import func, select

    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.geo.units import load_units
    from backoffice.imports import service
    from backoffice.imports.cli import CliUser
    from backoffice.models import Organization, Ward

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "IMPORT_MAX_BYTES": 64 * 2**20})
    with app.app_context(), force_locale("vi"):
        db.drop_all()
        db.create_all()
        load_units()
        wards: dict[int, list[str]] = {}
        for name, district in db.session.execute(select(Ward.name, Ward.district_code)):
            wards.setdefault(district, []).append(name)
        path = workdir / "organizations.xlsx"
        generate(path, args.rows, wards)
        print(f"file: {args.rows} rows, {path.stat().st_size / 2**20:.1f} MB; database: {db.engine.dialect.name}")

        baseline = plain_pass(path)
        print(f"plain openpyxl read-only pass: {baseline:.2f} s ({args.rows / baseline:,.0f} rows/s), "
              f"peak RSS {peak_mb():.0f} MB")

        user = CliUser()
        start = time.perf_counter()
        record = service.receive_path(user, "organizations", path)
        record = service.run_preview(record, user)
        dry = time.perf_counter() - start
        assert record.state == service.PREVIEWED, record.options
        print(f"dry run (preview): {dry:.2f} s ({args.rows / dry:,.0f} rows/s), counts {record.counts}, "
              f"peak RSS {peak_mb():.0f} MB")

        start = time.perf_counter()
        record = service.confirm(record, user, skip_errors=False)
        record = service.run_apply(record, user)
        applied = time.perf_counter() - start
        assert record.state == service.APPLIED, record.options
        stored = db.session.scalar(select(func.count()).select_from(Organization))
        print(f"apply (one transaction): {applied:.2f} s ({args.rows / applied:,.0f} rows/s), "
              f"{stored} organizations stored, peak RSS {peak_mb():.0f} MB")

        whole = dry + applied
        print(f"whole import: {whole:.2f} s = {whole / baseline:.2f}x the plain pass (target <= 2.5x); "
              f"peak RSS {peak_mb():.0f} MB (target < 400 MB)")

        start = time.perf_counter()
        record = service.receive_path(user, "organizations", path)
        record = service.run_preview(record, user)
        again = time.perf_counter() - start
        print(f"re-import dry run of the same file: {again:.2f} s, counts {record.counts} "
              f"({again / baseline:.2f}x the plain pass)")
        service.cancel(record, user)
        db.session.remove()
        if args.database_url:
            db.drop_all()


if __name__ == "__main__":
    main()
