"""`flask seed-demo`: demo units, organizations, residents and accounts (idempotent, deterministic)."""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

import click
from sqlalchemy import insert, select

from backoffice.auth import service as accounts
from backoffice.demo import generate as gen
from backoffice.domain import Direction, OrgStatus, Role, Sector
from backoffice.extensions import db
from backoffice.geo.units import load_units
from backoffice.models import (
    Checkpoint, District, Location, Organization, Person, Recovery, Staff, User, Vaccination, Ward, new_qr_ref,
)
from backoffice.models.base import utcnow
from backoffice.staff import service as staff_links
from backoffice.staff.service import WARD
from backoffice.timeutil import local_today

BEN_NGHE = 26740
Q1, Q3 = 760, 770

# Well-known demo residents of Phường Bến Nghé, one per colour case, for the README and the tests.
KNOWN_RESIDENTS = [
    # id number, name, birth date, vaccinations as (days ago, vaccine), recovered days ago
    ("079090000001", "Nguyễn Văn An", date(1990, 1, 15), [(120, "astrazeneca"), (60, "astrazeneca")], None),
    ("079190000002", "Trần Thị Bình", date(1991, 3, 2), [(9, "pfizer")], None),
    ("079085000003", "Lê Văn Cường", date(1985, 7, 21), [], 30),
    ("079195000004", "Phạm Thị Dung", date(1995, 11, 5), [], None),
]
KNOWN_ORGS = {
    "org1": {"name": "Nhà hàng Bến Nghé Xanh", "tax_code": "0100047516", "sector": Sector.FOOD_SERVICE.value,
             "district_code": Q1, "ward_code": BEN_NGHE, "address": "12 Nguyễn Huệ"},
    "org2": {"name": "Công ty TNHH Võ Thị Sáu", "tax_code": "0100233488", "sector": Sector.OFFICE.value,
             "district_code": Q3, "ward_code": None, "address": "45 Võ Văn Tần"},
}
LOCATION_NAMES = ["Cổng chính", "Khu văn phòng", "Nhà xưởng", "Khu bán hàng", "Nhà ăn"]
SECTOR_WEIGHTS = {"enterprise": 3, "office": 3, "supermarket": 2, "market": 1, "food_service": 3, "school": 1,
                  "other": 1}


@dataclass
class SeedCounts:
    organizations: int = 0
    residents: int = 0
    users: int = 0


def seed_demo(organizations: int = 300, residents: int = 600, password: str = "demo-2021",
              seed: int = 2021, today: date | None = None) -> SeedCounts:
    """`today`: the day the residents' vaccinations and recoveries count back from (Ho Chi Minh City's today
    unless given), so a caller that must know their ages later (the tests) can fix it."""
    load_units()
    rng = random.Random(seed)
    counts = SeedCounts()
    wards = db.session.execute(select(Ward.code, Ward.district_code)).all()
    wards_by_district: dict[int, list[int]] = {}
    for code, district in wards:
        wards_by_district.setdefault(district, []).append(code)
    KNOWN_ORGS["org2"]["ward_code"] = wards_by_district[Q3][0]

    org_rows = [dict(v) for v in KNOWN_ORGS.values()]
    districts = sorted(wards_by_district)
    sectors, weights = zip(*SECTOR_WEIGHTS.items())
    taken = {r["tax_code"] for r in org_rows}
    while len(org_rows) < organizations:
        district = rng.choice(districts)
        sector = rng.choices(sectors, weights)[0]
        code = gen.tax_code(rng)
        if code in taken:
            continue
        taken.add(code)
        org_rows.append({"name": gen.org_name(rng, sector), "tax_code": code, "sector": sector,
                         "district_code": district, "ward_code": rng.choice(wards_by_district[district]),
                         "address": gen.address(rng)})
    counts.organizations = _insert_organizations(org_rows, rng)

    # Separate generators per part, so what one part draws never depends on what already exists.
    person_ids = _seed_residents(residents, random.Random(seed + 1), wards_by_district, today or local_today())
    counts.residents = len(person_ids)
    _link_staff_to_residents(random.Random(seed + 2))
    counts.users = _seed_users(password)
    db.session.commit()
    return counts


def _insert_organizations(rows: list[dict], rng: random.Random) -> int:
    existing = set(db.session.scalars(select(Organization.tax_code)))
    new = [r for r in rows if r["tax_code"] not in existing]
    if not new:
        return 0
    now = utcnow()
    for r in new:
        r.update(status=OrgStatus.ACTIVE.value, contact_name=gen.person_name(rng), phone=gen.mobile(rng),
                 email=f"lienhe.{r['tax_code']}@example.vn", workers_on_site=rng.choice([8, 25, 60, 150, 420, 1200]),
                 qr_token=secrets.token_urlsafe(16), created_at=now, updated_at=now)
    db.session.execute(insert(Organization), new)
    ids = dict(db.session.execute(select(Organization.tax_code, Organization.id)
                                  .where(Organization.tax_code.in_([r["tax_code"] for r in new]))).all())
    locations, staff = [], []
    for r in new:
        org_id = ids[r["tax_code"]]
        for name in LOCATION_NAMES[: rng.randint(1, 3)]:
            locations.append({"organization_id": org_id, "name": name, "address": r["address"], "active": True,
                              "qr_token": secrets.token_urlsafe(16), "created_at": now, "updated_at": now})
        for _ in range(rng.randint(3, 8)):
            staff.append({"organization_id": org_id, "full_name": gen.person_name(rng), "phone": gen.mobile(rng),
                          "position": rng.choice(["Nhân viên", "Tổ trưởng", "Bảo vệ", "Kế toán"]), "active": True,
                          "created_at": now, "updated_at": now})
    db.session.execute(insert(Location), locations)
    db.session.execute(insert(Staff), staff)
    new_ids = list(ids.values())
    checkpoints = []
    for loc_id, org_id, name in db.session.execute(
            select(Location.id, Location.organization_id, Location.name).where(Location.organization_id.in_(new_ids))):
        checkpoints.append({"organization_id": org_id, "location_id": loc_id, "name": "Lễ tân",
                            "direction": Direction.ENTRY.value, "active": True, "created_at": now, "updated_at": now})
        if name == "Cổng chính":
            checkpoints.append({"organization_id": org_id, "location_id": loc_id, "name": "Cổng ra",
                                "direction": Direction.EXIT.value, "active": True, "created_at": now,
                                "updated_at": now})
    db.session.execute(insert(Checkpoint), checkpoints)
    return len(new)


def _history(rng: random.Random, today: date) -> tuple[list[tuple[int, str]], int | None]:
    """A varied vaccination/recovery history: none, 1 recent dose, 1 old dose, 2-3 doses, recovered."""
    vaccine = rng.choice(gen.VACCINES)
    case = rng.choices(range(7), weights=[2, 1, 2, 5, 1, 1, 2])[0]
    if case == 0:
        return [], None
    if case == 1:
        return [(rng.randint(1, 13), vaccine)], None
    if case == 2:
        return [(rng.randint(15, 90), vaccine)], None
    if case == 3:
        first = rng.randint(60, 200)
        return [(first, vaccine), (first - rng.randint(28, 56), vaccine)], None
    if case == 4:
        return [], rng.randint(10, 170)
    if case == 5:
        return [], rng.randint(181, 400)
    first = rng.randint(200, 300)
    return [(first, vaccine), (first - 60, vaccine), (rng.randint(20, 100), "pfizer")], None


def _seed_residents(count: int, rng: random.Random, wards_by_district: dict[int, list[int]],
                    today: date) -> list[int]:
    people = [(id_number, name, born, vaccs, rec, BEN_NGHE) for id_number, name, born, vaccs, rec in KNOWN_RESIDENTS]
    all_wards = [w for ws in wards_by_district.values() for w in ws]
    seen = {p[0] for p in people}
    while len(people) < count:
        born = date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28))
        female = rng.random() < 0.5
        id_number = gen.cccd(rng, born.year, female)
        if id_number in seen:
            continue
        seen.add(id_number)
        ward = BEN_NGHE if len(people) < count // 10 else rng.choice(all_wards)
        vaccs, rec = _history(rng, today)
        people.append((id_number, gen.person_name(rng), born, vaccs, rec, ward))
    existing = set(db.session.scalars(select(Person.id_number)))
    new = [p for p in people if p[0] not in existing]
    if not new:
        return []
    now = utcnow()
    db.session.execute(insert(Person), [
        {"id_number": p[0], "id_type": "cccd", "full_name": p[1], "birth_date": p[2], "ward_code": p[5],
         "phone": gen.mobile(rng), "address": gen.address(rng), "qr_ref": new_qr_ref(),
         "created_at": now, "updated_at": now} for p in new])
    ids = dict(db.session.execute(select(Person.id_number, Person.id)
                                  .where(Person.id_number.in_([p[0] for p in new]))).all())
    vaccinations, recoveries = [], []
    for id_number, _name, _born, vaccs, rec, _ward in new:
        for dose, (days_ago, vaccine) in enumerate(vaccs, start=1):
            vaccinations.append({"person_id": ids[id_number], "vaccine": vaccine, "dose_number": dose,
                                 "vaccinated_on": today - timedelta(days=days_ago)})
        if rec is not None:
            recoveries.append({"person_id": ids[id_number], "recovered_on": today - timedelta(days=rec)})
    if vaccinations:
        db.session.execute(insert(Vaccination), vaccinations)
    if recoveries:
        db.session.execute(insert(Recovery), recoveries)
    return list(ids.values())


def _link_staff_to_residents(rng: random.Random) -> None:
    """Give org1 residents as staff (so its staff green share is computable) and some other orgs too."""
    org1 = db.session.scalar(select(Organization).where(Organization.tax_code == KNOWN_ORGS["org1"]["tax_code"]))
    unlinked = db.session.scalars(select(Staff).where(Staff.person_id.is_(None)).order_by(Staff.id)).all()
    linked_people = set(db.session.scalars(select(Staff.person_id).where(Staff.person_id.is_not(None))))
    persons = [p for p in db.session.scalars(select(Person).order_by(Person.id)) if p.id not in linked_people]
    rng.shuffle(persons)
    for staff in unlinked:
        if not persons:
            break
        if staff.organization_id == org1.id or rng.random() < 0.3:
            person = persons.pop()
            staff.full_name, staff.id_number = person.full_name, person.id_number
            # The demo's links stand for ones the residents' wards confirmed (the only other proof is a scan).
            staff_links.link(staff, person.id, WARD, actor=None, now=utcnow())
    db.session.flush()


def _seed_users(password: str) -> int:
    org1 = db.session.scalar(select(Organization).where(Organization.tax_code == KNOWN_ORGS["org1"]["tax_code"]))
    org2 = db.session.scalar(select(Organization).where(Organization.tax_code == KNOWN_ORGS["org2"]["tax_code"]))
    org1_checkpoints = [c.id for c in db.session.scalars(select(Checkpoint).where(
        Checkpoint.organization_id == org1.id, Checkpoint.direction == Direction.ENTRY.value))]
    wanted = [
        ("admin", "Quản trị Sở TT&TT", Role.CITY_ADMIN, {}),
        ("inspector.q1", "Cán bộ UBND Quận 1", Role.INSPECTOR, {"district_codes": [Q1]}),
        ("inspector.q3", "Cán bộ UBND Quận 3", Role.INSPECTOR, {"district_codes": [Q3]}),
        ("ward.bennghe", "Cán bộ UBND Phường Bến Nghé", Role.WARD_OFFICER, {"ward_code": BEN_NGHE}),
        ("org1.admin", "Quản trị Nhà hàng Bến Nghé Xanh", Role.ORG_ADMIN, {"organization_id": org1.id}),
        ("org2.admin", "Quản trị Công ty Võ Thị Sáu", Role.ORG_ADMIN, {"organization_id": org2.id}),
        ("org1.staff", "Lễ tân Nhà hàng Bến Nghé Xanh", Role.CHECKPOINT_STAFF,
         {"organization_id": org1.id, "checkpoint_ids": org1_checkpoints}),
    ]
    existing = set(db.session.scalars(select(User.username)))
    created = 0
    for username, full_name, role, scope in wanted:
        if username in existing:
            continue
        # The demo accounts share one published password (BACKOFFICE_DEMO_PASSWORD): the strength policy is for
        # passwords people choose, and would refuse "demo-2021".
        accounts.create_user(username, password, role.value, full_name=full_name, commit=False,
                             password_policy=False, **scope)
        created += 1
    return created


def register_commands(app) -> None:
    @app.cli.command("seed-demo")
    @click.option("--organizations", default=300, show_default=True, help="How many organizations.")
    @click.option("--residents", default=600, show_default=True, help="How many residents.")
    def seed_demo_command(organizations: int, residents: int) -> None:
        """Load all units, demo organizations, residents and the demo accounts (safe to run twice)."""
        counts = seed_demo(organizations, residents, app.config["BACKOFFICE_DEMO_PASSWORD"])
        total = db.session.scalar(select(db.func.count()).select_from(District))
        click.echo(f"Units: {total} districts. Added {counts.organizations} organizations, "
                   f"{counts.residents} residents, {counts.users} accounts.")
