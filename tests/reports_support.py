"""Rows the reports tests create for themselves (unique names; the demo data stays as it is), and independent
counts of the same figures asked of the database directly."""
from __future__ import annotations

import io
import secrets
from datetime import datetime, time, timedelta, timezone

from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from backoffice.extensions import db
from backoffice.models import (
    Assessment, CheckIn, CriteriaSetVersion, Location, Organization, Staff,
)
from backoffice.models.base import utcnow
from backoffice.timeutil import LOCAL_TZ, local_today
from factories import build_organization, new_person

Q1, Q3, BEN_NGHE = 760, 770, 26740


def levels(tag: str) -> list[dict]:
    return [{"id": f"rpt_safe_{tag}", "label": {"vi": f"An toàn (thử {tag})", "en": f"Safe (test {tag})"},
             "colour": "success", "may_operate": True},
            {"id": f"rpt_unsafe_{tag}", "label": {"vi": f"Không an toàn (thử {tag})", "en": f"Unsafe (test {tag})"},
             "colour": "danger", "may_operate": False}]


def make_report_data() -> dict:
    """Three Q1 organizations (one named like a formula), check-ins over 30 days, assessments of a test set.
    Names and level ids carry a tag of their own, so several modules can each make their data."""
    now = utcnow()
    tag = secrets.token_hex(3)
    version = CriteriaSetVersion(set_id=f"rpt-{tag}", version="1.0.0", content_sha256="0" * 64,
                                 content={"id": "rpt", "levels": levels(tag)}, first_used_at=now)
    db.session.add(version)
    orgs = []
    names = [f'=HYPERLINK("http://evil.example","Bấm vào đây {tag}")', f"+84 Quán Cà Phê Báo Cáo {tag}",
             f"Công ty Báo Cáo Quận Một {tag}"]
    for name, sector in zip(names, ("food_service", "food_service", "enterprise")):
        org = build_organization(name, sector=sector, contact_name="Thử")
        db.session.add(org)
        orgs.append(org)
    db.session.flush()
    person = new_person("Người Thử Báo Cáo", BEN_NGHE, green=False, commit=False, birth_date=None)
    locations = []
    for org in orgs:
        loc = Location(organization_id=org.id, name="Cổng chính")
        db.session.add(loc)
        locations.append(loc)
        db.session.add(Staff(organization_id=org.id, full_name="Nhân viên thử", person_id=None, active=True))
    db.session.flush()
    rows = []
    for n in range(40):  # spread over 30 days, some in the last week
        at = now - timedelta(hours=17 * n + 1)
        loc = locations[n % 3]
        rows.append({"person_id": person.id, "organization_id": loc.organization_id, "location_id": loc.id,
                     "checked_in_at": at, "last_seen_at": at, "checked_out_at": at + timedelta(minutes=30),
                     "status_colour": "green" if n % 4 else "black", "method": "scanner", "signed": True,
                     "is_staff": False, "scan_count": 1})
    db.session.execute(insert(CheckIn), rows)
    common = {"set_version_id": version.id, "ruleset_id": version.set_id, "ruleset_version": "1.0.0",
              "state": "submitted", "district_code": Q1}
    db.session.add_all([
        Assessment(organization_id=orgs[0].id, kind="self", level=f"rpt_unsafe_{tag}", percent=40.0,
                   submitted_at=now - timedelta(days=40), **common),
        Assessment(organization_id=orgs[0].id, kind="self", level=f"rpt_safe_{tag}", percent=85.0,
                   submitted_at=now - timedelta(days=2), **common),
        Assessment(organization_id=orgs[1].id, kind="inspection", level=f"rpt_unsafe_{tag}", percent=35.0,
                   submitted_at=now - timedelta(days=3), **common),
    ])
    db.session.commit()
    return {"orgs": [o.id for o in orgs], "version": version.id, "tag": tag, "names": names}


def day_start(day) -> datetime:
    return datetime.combine(day, time(), LOCAL_TZ).astimezone(timezone.utc)


def db_counts(district: int) -> dict:
    """The figures, counted straight from the tables."""
    today = local_today()
    end = day_start(today + timedelta(days=1))
    active = (Organization.district_code == district) & (Organization.status == "active")
    orgs = db.session.scalar(select(func.count()).select_from(Organization).where(active))
    checkins = {}
    for days in (7, 30):
        checkins[days] = db.session.scalar(
            select(func.count()).select_from(CheckIn).join(Organization, Organization.id == CheckIn.organization_id)
            .where(active, CheckIn.checked_in_at >= end - timedelta(days=days), CheckIn.checked_in_at < end))
    assessed = db.session.scalar(
        select(func.count(func.distinct(Assessment.organization_id))).join(
            Organization, Organization.id == Assessment.organization_id)
        .where(active, Assessment.kind == "self", Assessment.state == "submitted"))
    return {"organizations": orgs, "checkins_7d": checkins[7], "checkins_30d": checkins[30], "assessed": assessed}


def ward_counts(ward: int) -> dict:
    """A ward's figures, counted straight from the tables (as `db_counts` for a district)."""
    today = local_today()
    end = day_start(today + timedelta(days=1))
    active = (Organization.ward_code == ward) & (Organization.status == "active")
    out = {"organizations": db.session.scalar(select(func.count()).select_from(Organization).where(active))}
    for days in (7, 30):
        out[f"checkins_{days}d"] = db.session.scalar(
            select(func.count()).select_from(CheckIn).join(Organization, Organization.id == CheckIn.organization_id)
            .where(active, CheckIn.checked_in_at >= end - timedelta(days=days), CheckIn.checked_in_at < end))
    out["assessed"] = db.session.scalar(
        select(func.count(func.distinct(Assessment.organization_id))).join(
            Organization, Organization.id == Assessment.organization_id)
        .where(active, Assessment.kind == "self", Assessment.state == "submitted"))
    return out


def open_workbook(data: bytes):
    return load_workbook(io.BytesIO(data))


def figure(ws, label: str):
    """The value beside `label` in column A of a summary sheet."""
    for row in ws.iter_rows(values_only=True):
        if row and row[0] == label:
            return row[1]
    raise AssertionError(f"{label!r} not in {ws.title}")


def block(ws, title: str) -> list[tuple]:
    """The data rows of the summary table titled `title` (after its header, up to the blank line)."""
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r and r[0] == title)
    out = []
    for row in rows[start + 2:]:
        if not row or all(v is None for v in row):
            break
        out.append(row)
    return out
