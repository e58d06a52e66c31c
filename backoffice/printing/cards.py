"""Personal QR cards for residents without a smartphone: find or register the resident, print the card.

Ward officers work on the residents of their ward (city admins on anyone): every lookup goes through
`scope`, and a card asked for someone out of scope answers 404 for the whole batch, printing nothing. A
printed card carries a freshly signed payload (`scanning.payload`), is coloured by the status on the day it is
printed (`health.status.colours_for`, one pass for the whole batch) and is recorded in `PersonalQRIssue` (the
ward dashboard counts them) in one transaction with its audit entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.auth.policy import may
from backoffice.auth.scope import scope
from backoffice.errors import BadRequest, Conflict, DomainError, OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.models import Person, PersonalQRIssue, Ward, mask_id
from backoffice.people import service as people
from backoffice.health import status as health
from backoffice.scanning import keyring
from backoffice.scanning.payload import issue_personal_payload
from backoffice.printing.render import Card
from backoffice.timeutil import now_utc, to_local

MAX_BATCH = 400  # 50 A4 sheets; a bigger batch is split by the officer, not silently truncated


class CardError(DomainError):
    """A resident or a batch of cards the printing service refuses, as one of the domain's kinds below; `field`
    names the registration form's field the message belongs to."""

    def __init__(self, message: Any, code: str, field: str | None = None):
        super().__init__(message, code)
        self.field = field


class CardInvalid(CardError, BadRequest):
    """The batch asked for is not one: ids that are not ids, none, too many (400)."""


class CardNotFound(CardError, OutOfScope):
    """A resident of the batch is not in the user's scope (404)."""


class CardConflict(CardError, Conflict):
    """The resident is already registered (409)."""


class CardForbidden(CardError, OutOfRole):
    """A ward the officer may not register residents of (403)."""


class NotAllowed(OutOfRole):
    pass


def require_printer(user: Any) -> None:
    if not may(user, "printing.cards"):
        raise NotAllowed(code="printing.cards")


@dataclass
class NewResident:
    full_name: str
    id_type: str
    id_number: str
    ward_code: int
    birth_date: date | None = None
    gender: str | None = None
    phone: str | None = None
    address: str = ""


def register_resident(user: Any, data: NewResident) -> Person:
    """Add a resident to the registry (values already validated by the Person form's validators)."""
    require_printer(user)
    if not db.session.scalar(scope(select(Ward.code).where(Ward.code == data.ward_code), user)):
        raise CardForbidden(_l("You cannot register residents of this ward."), "ward", "ward")
    existing = db.session.scalar(select(Person.id).where(Person.id_number == data.id_number))
    declared = db.session.scalar(select(Person).where(Person.id == existing, Person.declared_at_checkpoint.is_(True),
                                                      Person.ward_code.is_(None))) if existing else None
    if declared is not None:
        return _take_over_declared(declared, data)
    if existing is not None:
        mine = db.session.scalar(scope(select(Person.id).where(Person.id == existing), user))
        message = _l("This resident is already registered: find them in the list.") if mine else \
            _l("This ID number is already registered in another ward. Ask the city administrator to move the resident.")
        raise CardConflict(message, "duplicate", "id_number")
    try:
        person = people.PERSONS.create(user, {
            "full_name": data.full_name.strip(), "id_type": data.id_type, "id_number": data.id_number,
            "ward": db.session.get(Ward, data.ward_code), "birth_date": data.birth_date, "gender": data.gender,
            "phone": data.phone or None, "address": data.address or ""})
    except IntegrityError:  # registered by someone else a moment ago
        db.session.rollback()
        raise CardConflict(_l("This resident is already registered: find them in the list."), "duplicate",
                           "id_number") from None
    db.session.commit()
    return person


def _take_over_declared(person: Person, data: NewResident) -> Person:
    """A visitor a checkpoint declared (a national text of an ID the registry did not hold: no ward, only what the
    text carried) becomes the ward's resident: the officer's values replace the declared ones, the row and its
    check-ins stay (tracing keeps the visits made before)."""
    before = audit.snapshot(person)
    person.full_name, person.id_type, person.ward_code = data.full_name.strip(), data.id_type, data.ward_code
    person.birth_date, person.gender = data.birth_date, data.gender or None
    person.phone, person.address = data.phone or None, data.address or ""
    person.declared_at_checkpoint = False
    audit.record("persons.register_declared", person, before=before, after=audit.snapshot(person))
    db.session.commit()
    return person


def _ids(person_ids: Iterable[Any]) -> list[int]:
    try:
        ids = list(dict.fromkeys(int(i) for i in person_ids))
    except (TypeError, ValueError):
        raise CardInvalid(_l("The list of residents is not valid."), "bad_id") from None
    if not ids:
        raise CardInvalid(_l("Choose at least one resident."), "empty")
    if len(ids) > MAX_BATCH:
        raise CardInvalid(_l("At most %(n)d cards per batch.", n=MAX_BATCH), "too_many")
    return ids


def issue_cards(user: Any, person_ids: Iterable[Any], *, fmt: str = "pdf", now: datetime | None = None) -> list[Card]:
    """Sign a payload for each resident, colour it by today's status, record the issue: one transaction."""
    require_printer(user)
    ids = _ids(person_ids)
    people = {p.id: p for p in db.session.scalars(scope(select(Person).where(Person.id.in_(ids)), user))}
    if len(people) != len(ids):
        raise CardNotFound(_l("Not found."), "not_found")
    now = now or now_utc()
    statuses = health.colours_for(ids, now)
    kid = keyring.current_signer().kid
    printed_on = to_local(now).date()
    cards, rows = [], []
    for pid in ids:
        person, colour = people[pid], statuses[pid].colour
        ward = f"{person.ward.name}, {person.ward.district.name}" if person.ward else ""
        cards.append(Card(person.full_name, mask_id(person.id_number), issue_personal_payload(person, now=now),
                          colour, printed_on, ward))
        rows.append({"person_id": pid, "issued_at": now, "issued_by_id": user.id, "ward_code": person.ward_code,
                     "key_id": kid, "colour": colour})
    db.session.execute(insert(PersonalQRIssue), rows)
    audit.record("personal_qr.print", entity_name="persons", entity_id=ids[0] if len(ids) == 1 else "",
                 after={"persons": ids, "format": fmt, "key_id": kid,
                        "colours": {c: sum(1 for r in rows if r["colour"] == c) for c in {r["colour"] for r in rows}}})
    db.session.commit()
    return cards
