"""The tests' rows: residents, organizations, tax codes and ID numbers of their own (unique, so dedup and
counts start from nothing), and the demo rows the seed made (organizations, checkpoints, residents)."""
from __future__ import annotations

import secrets
from datetime import date, timedelta

from flask import has_app_context
from sqlalchemy import select
from stdnum.vn import mst

from backoffice.auth.passwords import hash_password
from backoffice.demo.seed import BEN_NGHE, KNOWN_ORGS
from backoffice.extensions import db
from backoffice.models import Checkpoint, Location, Organization, Person, User, Vaccination
from backoffice.models.base import utcnow
from backoffice.timeutil import local_today
from conftest import DEMO_PASSWORD

Q1 = 760


# --- identifiers -----------------------------------------------------------------------------------------

def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def new_tax_code(prefix: str = "03") -> str:
    """A valid 10-digit tax code (stdnum.vn.mst) no organization holds yet; bases whose check digit would be
    10 have none and are skipped. The digit after the prefix is never 0: a province code is 01–99, and a number
    cell loses one leading zero at most (the importer restores one)."""
    while True:
        base = prefix + secrets.choice("123456789") + _digits(8 - len(prefix))
        check = mst.calc_check_digit(base)
        if len(check) != 1:
            continue
        code = base + check
        if not (has_app_context() and db.session.scalar(
                select(Organization.id).where(Organization.tax_code.like(code + "%"))) is not None):
            return code


def tax_codes(n: int, prefix: str = "0") -> list[str]:
    """`n` different tax codes as `new_tax_code` gives them (the default leading zero is the one spreadsheets lose)."""
    codes: list[str] = []
    while len(codes) < n:
        code = new_tax_code(prefix)
        if code not in codes:
            codes.append(code)
    return codes


def new_id_number(prefix: str = "079") -> str:
    """A 12-digit ID number (079: born in Ho Chi Minh City) no resident holds yet."""
    while True:
        value = prefix + _digits(12 - len(prefix))
        if not (has_app_context() and person(value) is not None):
            return value


# --- residents -------------------------------------------------------------------------------------------

def build_person(name: str = "Võ Thị Kiểm Thử", ward_code: int | None = BEN_NGHE, **fields) -> Person:
    """A resident not yet added to the session, with an ID number and a QR reference of its own."""
    fields.setdefault("id_number", new_id_number())
    fields.setdefault("qr_ref", secrets.token_urlsafe(12))
    return Person(full_name=name, ward_code=ward_code, **fields)


def add_person(name: str = "Võ Thị Kiểm Thử", ward_code: int | None = BEN_NGHE, **fields) -> Person:
    """A resident added to the session and flushed (not committed), with no vaccination or recovery record."""
    p = build_person(name, ward_code, **fields)
    db.session.add(p)
    db.session.flush()
    return p


def new_person(name: str = "Võ Thị Kiểm Thử", ward_code: int | None = BEN_NGHE, *, green: bool = True,
               dose_days_ago: int = 40, commit: bool = True, **fields) -> Person:
    """A resident stored (committed unless `commit=False`), born 1980-05-06 unless told; `green` gives one
    Pfizer dose `dose_days_ago` days ago (green after 14 days), otherwise no record at all (black)."""
    fields.setdefault("birth_date", date(1980, 5, 6))
    p = add_person(name, ward_code, **fields)
    if green:
        db.session.add(Vaccination(person_id=p.id, vaccine="pfizer", dose_number=1,
                                   vaccinated_on=local_today() - timedelta(days=dose_days_ago)))
        db.session.flush()
    if commit:
        db.session.commit()
    return p


def person(id_number: str) -> Person | None:
    """The resident holding `id_number` (a demo resident of seed.KNOWN_RESIDENTS, or one a test made)."""
    return db.session.scalar(select(Person).where(Person.id_number == id_number))


# --- organizations ---------------------------------------------------------------------------------------

def build_organization(name: str | None = None, **fields) -> Organization:
    """An active food-service organization in Bến Nghé, not yet added to the session, with a tax code of its own."""
    values = {"name": name or f"Công ty Thử nghiệm {secrets.token_hex(3)}", "tax_code": new_tax_code(),
              "sector": "food_service", "address": "1 Lê Lợi", "ward_code": BEN_NGHE, "district_code": Q1,
              "status": "active"}
    values.update(fields)
    return Organization(**values)


def new_organization_with_admin(app, password: str = DEMO_PASSWORD) -> tuple[int, str]:
    """An approved organization in Bến Nghé with no location, checkpoint, poster or assessment, and its admin's
    username (password `password`)."""
    suffix = secrets.token_hex(3)
    with app.app_context():
        org = build_organization(f"Tiệm bánh mới {suffix}", address="3 Hồ Tùng Mậu", decided_at=utcnow())
        db.session.add(org)
        db.session.flush()
        username = f"new.{suffix}"
        db.session.add(User(username=username, full_name="Chủ tiệm", password_hash=hash_password(password),
                            role="org_admin", organization_id=org.id, active=True, must_change_password=False))
        db.session.commit()
        return org.id, username


def new_account(password: str, prefix: str = "acct", full_name: str = "Tài khoản thử",
                role: str = "checkpoint_staff") -> str:
    """A user account of its own in org1 (created through `auth.service.create_user`, like the pages do); its
    username."""
    from backoffice.auth import service as accounts
    from conftest import get_user

    username = f"{prefix}.{secrets.token_hex(4)}"
    accounts.create_user(username, password, role, organization_id=get_user("org1.admin").organization_id,
                         full_name=full_name)
    return username


def new_location(org: Organization, name: str) -> Location:
    """A location of `org` of its own (committed), so other tests' check-ins there do not interfere."""
    location = Location(organization_id=org.id, name=f"{name} {secrets.token_hex(2)}")
    db.session.add(location)
    db.session.commit()
    return location


def demo_org(key: str) -> Organization:
    """A demo organization of seed.KNOWN_ORGS ("org1", "org2", …)."""
    return db.session.scalar(select(Organization).where(Organization.tax_code == KNOWN_ORGS[key]["tax_code"]))


def org1() -> Organization:
    return demo_org("org1")


def org2() -> Organization:
    return demo_org("org2")


def checkpoint(direction: str = "entry", org: Organization | None = None) -> Checkpoint:
    """A checkpoint of the demo location "Cổng chính" of `org` (org1 unless told)."""
    org = org or org1()
    return db.session.scalar(select(Checkpoint).join(Location).where(
        Checkpoint.organization_id == org.id, Checkpoint.direction == direction,
        Location.name == "Cổng chính").order_by(Checkpoint.id))
