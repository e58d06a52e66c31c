"""Load HCMC's 22 districts and 312 wards (GSO list of 01/11/2021) from seed/hcmc_units_2021-11.csv."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from backoffice.config import PROJECT_ROOT
from backoffice.extensions import db
from backoffice.models import District, Ward

UNITS_CSV = PROJECT_ROOT / "seed" / "hcmc_units_2021-11.csv"


def read_units(path: Path = UNITS_CSV) -> tuple[dict[int, dict], list[dict]]:
    districts: dict[int, dict] = {}
    wards: list[dict] = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = int(row["district_code"])
            districts[code] = {"code": code, "name": row["district_name"], "kind": row["district_kind"]}
            wards.append({"code": int(row["ward_code"]), "name": row["ward_name"], "kind": row["ward_kind"],
                          "district_code": code})
    return districts, wards


def load_units(path: Path = UNITS_CSV) -> tuple[int, int]:
    """Insert the units that are missing; returns (districts added, wards added). Safe to run again."""
    districts, wards = read_units(path)
    have_d = set(db.session.scalars(select(District.code)))
    have_w = set(db.session.scalars(select(Ward.code)))
    new_d = [d for code, d in districts.items() if code not in have_d]
    new_w = [w for w in wards if w["code"] not in have_w]
    if new_d:
        db.session.execute(District.__table__.insert(), new_d)
    if new_w:
        db.session.execute(Ward.__table__.insert(), new_w)
    db.session.commit()
    return len(new_d), len(new_w)
