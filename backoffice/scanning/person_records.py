"""The scanned person, read with what their status is decided from, in one statement.

A scan needs the person (name, ID number, birth date), whether they work for the organization scanned at, their
doses and their latest recovery up to the scan day. One SELECT returns all of it, one row per dose (one row with
empty dose columns when there is none). The same columns are joined to a device token's row (`scanning.devices`), so a
device's scan reads its token and the person in a single round trip.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

from sqlalchemy import Date, and_, bindparam, exists, func, select
from sqlalchemy.sql import ColumnElement

from backoffice.models import Person, Recovery, Staff, Vaccination
from backoffice.scanning.credentials import Credential
from backoffice.scanning.credentials.national import normalise_name

_P, _S, _V, _R = (model.__table__ for model in (Person, Staff, Vaccination, Recovery))
DAY = bindparam("day", type_=Date())
PERSONS = _P
# Doses up to the scan day, joined to the person row: outer, so a person without any still comes back.
DOSES_JOIN = (_V, and_(_V.c.person_id == _P.c.id, _V.c.vaccinated_on <= DAY))


def columns(organization_id: ColumnElement | Any) -> list[ColumnElement]:
    """The person's columns, `is_staff` at `organization_id` (a bind parameter or a joined column), the dose
    and the latest recovery up to the scan day."""
    last_recovery = select(func.max(_R.c.recovered_on)).where(
        _R.c.person_id == _P.c.id, _R.c.recovered_on <= DAY).scalar_subquery()
    is_staff = exists().where(_S.c.organization_id == organization_id, _S.c.person_id == _P.c.id,
                              _S.c.active.is_(True))
    return [_P.c.id.label("person_id"), _P.c.full_name, _P.c.id_number, _P.c.birth_date, is_staff.label("is_staff"),
            _V.c.vaccine, _V.c.vaccinated_on, last_recovery.label("recovered_on")]


# By the reference in our signed payload, or by the national text's ID number or QID.
BY = {name: select(*columns(bindparam("org"))).select_from(_P.outerjoin(*DOSES_JOIN))
      .where(_P.c[name] == bindparam("value")) for name in ("qr_ref", "id_number", "qid")}


@dataclass(frozen=True, slots=True)
class PersonRecords:
    id: int
    full_name: str
    id_number: str | None
    birth_date: date | None
    is_staff: bool
    doses: list[tuple[str, date]]
    recovered: list[date]

    @classmethod
    def from_rows(cls, rows: Sequence) -> PersonRecords | None:
        """From the rows of one person (`columns`), None when there are none or the person column is empty."""
        if not rows or rows[0].person_id is None:
            return None
        first = rows[0]
        return cls(first.person_id, first.full_name, first.id_number, first.birth_date, bool(first.is_staff),
                   [(r.vaccine, r.vaccinated_on) for r in rows if r.vaccinated_on is not None],
                   [first.recovered_on] if first.recovered_on is not None else [])


@dataclass(frozen=True, slots=True)
class Prefetched:
    """The person read along with a device's token for the reference its scanned text carried (unverified
    then: `record_scan` uses it only once the payload is verified to name that reference)."""
    ref: str
    day: date
    records: PersonRecords | None  # None: nobody has that reference

    def matches(self, parsed, day: date) -> bool:
        return parsed.kind == "signed" and parsed.qr_ref == self.ref and day == self.day


def find_person(connection, parsed: Credential, organization_id: int, day: date) -> PersonRecords | None:
    """The scanned person with their doses and latest recovery up to `day`, from one query; None when nobody
    matches. A national text is unsigned: its ID number (or QID) finds the row, and the person is the scanned
    one only if the name and the date of birth match too (`identity_matches`); else `IdentityMismatch`."""
    lookups = [("qr_ref", parsed.qr_ref)] if parsed.kind == "signed" else [
        ("id_number", parsed.id_number), ("qid", parsed.qid)]
    for column, value in lookups:
        if value:
            found = PersonRecords.from_rows(connection.execute(
                BY[column], {"value": value, "org": organization_id, "day": day}).all())
            if found is not None:
                if parsed.kind != "signed" and not identity_matches(found, parsed):
                    raise IdentityMismatch()
                return found
    return None


class IdentityMismatch(Exception):
    """A national text whose ID number (or QID) is in the registry with another name or date of birth."""


def identity_matches(person: PersonRecords, parsed: Credential) -> bool:
    """An ID number alone is no credential (anyone can read one off a form): the name, normalised as the 1405
    text writes it, and the full date of birth must be the registry's too. A text with only a year, or a
    registry row without a date, never matches."""
    return (person.birth_date is not None and parsed.birth_date == person.birth_date.isoformat()
            and normalise_name(parsed.full_name or "") == normalise_name(person.full_name))
