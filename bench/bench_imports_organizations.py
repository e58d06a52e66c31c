"""Benchmark: importing a generated 100,000-row organization workbook (dry run + apply), against a plain
openpyxl read-only pass over the same file in the same run (issue 22, point 11: at most 1.0x, on SQLite and
PostgreSQL; the import reads with python-calamine).

    python bench/bench_imports_organizations.py [--rows 100000] [--database-url URL]

Default database: a temporary SQLite file (env BENCH_DATABASE_URL, TEST_DATABASE_URL or --database-url for
PostgreSQL; its
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


# Sector labels as offices write them (issue 22, point 9), matched by the import's vocabulary.
SECTORS = ["Doanh nghiệp", "Văn phòng", "Nhà hàng", "Siêu thị", "Quán ăn – giải khát", "TM-DV",
           "Dịch vụ lưu trú, khách sạn"]


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
                   SECTORS[i % len(SECTORS)], "Nguyễn Văn An", phone,
                   f"lienhe{i}@example.vn", 10 + i % 500])
    wb.save(path)


class Clock:
    """Wall time and this process's CPU time: on a shared machine the CPU time is the steadier figure
    (on PostgreSQL the server's own CPU is not in it; the wall time is)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return self


def plain_pass(path: Path) -> Clock:
    clock = Clock()
    wb = load_workbook(path, read_only=True, data_only=False)
    ws = wb.worksheets[0]
    ws.reset_dimensions()
    for _row in ws.iter_rows(values_only=True):
        pass
    wb.close()
    return clock.stop()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL")
                        or os.environ.get("TEST_DATABASE_URL"))
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

        base = plain_pass(path)
        print(f"plain openpyxl read-only pass: wall {base.wall:.2f} s ({args.rows / base.wall:,.0f} rows/s), "
              f"cpu {base.cpu:.2f} s, peak RSS {peak_mb():.0f} MB")

        user = CliUser()
        clock = Clock()
        record = service.receive_path(user, "organizations", path)
        record = service.run_preview(record, user)
        dry = clock.stop()
        assert record.state == service.PREVIEWED, record.options
        print(f"dry run (preview): wall {dry.wall:.2f} s ({args.rows / dry.wall:,.0f} rows/s), cpu {dry.cpu:.2f} s, "
              f"counts {record.counts}, peak RSS {peak_mb():.0f} MB")

        clock = Clock()
        record = service.confirm(record, user, skip_errors=False)
        record = service.run_apply(record, user)
        applied = clock.stop()
        assert record.state == service.APPLIED, record.options
        stored = db.session.scalar(select(func.count()).select_from(Organization))
        print(f"apply (one transaction): wall {applied.wall:.2f} s ({args.rows / applied.wall:,.0f} rows/s), "
              f"cpu {applied.cpu:.2f} s, {stored} organizations stored, peak RSS {peak_mb():.0f} MB")

        wall, cpu = dry.wall + applied.wall, dry.cpu + applied.cpu
        print(f"whole import (dry run + apply): wall {wall:.2f} s = {wall / base.wall:.2f}x the plain pass, "
              f"cpu {cpu:.2f} s = {cpu / base.cpu:.2f}x (target <= 1.0x, issue 22 point 11); "
              f"peak RSS {peak_mb():.0f} MB (target < 400 MB)")
        print(f"RATIO whole import / plain openpyxl pass on {db.engine.dialect.name}: wall {wall / base.wall:.2f}x, "
              f"cpu {cpu / base.cpu:.2f}x -> {'OK' if wall / base.wall <= 1.0 else 'ABOVE'} the 1.0x target")

        clock = Clock()
        record = service.receive_path(user, "organizations", path)
        record = service.run_preview(record, user)
        again = clock.stop()
        print(f"dry run of the same file again (all unchanged): wall {again.wall:.2f} s "
              f"({again.wall / base.wall:.2f}x), cpu {again.cpu / base.cpu:.2f}x, counts {record.counts}")
        service.cancel(record, user)
        db.session.remove()
        if args.database_url:
            db.drop_all()


if __name__ == "__main__":
    main()
