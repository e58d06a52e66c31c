"""Helpers shared by the QR tests: demo objects, a fresh resident, JSON posts with the CSRF header."""
from __future__ import annotations

import secrets
from datetime import date, timedelta

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Checkpoint, Location, Organization, Person, Vaccination
from backoffice.demo.seed import BEN_NGHE, KNOWN_ORGS
from backoffice.timeutil import local_today
from tests.conftest import csrf_token


def org1() -> Organization:
    return db.session.scalar(select(Organization).where(Organization.tax_code == KNOWN_ORGS["org1"]["tax_code"]))


def checkpoint(direction: str = "entry", org: Organization | None = None) -> Checkpoint:
    org = org or org1()
    return db.session.scalar(select(Checkpoint).join(Location).where(
        Checkpoint.organization_id == org.id, Checkpoint.direction == direction,
        Location.name == "Cổng chính").order_by(Checkpoint.id))


def person(id_number: str) -> Person:
    return db.session.scalar(select(Person).where(Person.id_number == id_number))


def new_person(green: bool = True, name: str = "Võ Thị Kiểm Thử", dose_days_ago: int = 40) -> Person:
    """A resident of our own, so dedup and counts start from nothing."""
    while True:
        id_number = "0791" + "".join(secrets.choice("0123456789") for _ in range(8))
        if person(id_number) is None:
            break
    p = Person(id_number=id_number, full_name=name, birth_date=date(1980, 5, 6), ward_code=BEN_NGHE,
               qr_ref=secrets.token_urlsafe(12))
    db.session.add(p)
    db.session.flush()
    if green:
        db.session.add(Vaccination(person_id=p.id, vaccine="pfizer", dose_number=1,
                                   vaccinated_on=local_today() - timedelta(days=dose_days_ago)))
    db.session.commit()
    return p


def post_json(browser, url: str, body: dict):
    token = csrf_token(browser.client, "/admin/")
    return browser.client.post(url, json=body, headers={"X-CSRFToken": token})
