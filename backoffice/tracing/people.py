"""People to contact: a person whose stays overlapped the case's visits several times (twice
at one place, or at two places) is one row, with their first and last contact, how many stays and where; the
per-stay contacts stay in `service.TraceResult.contacts` for the alerts and referrals, which count people too."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backoffice.tracing.service import Contact


@dataclass(frozen=True)
class ContactPerson:
    """One person to contact, with every stay of theirs that overlapped a visit of the case: the first and last
    contact, how many stays, the places (a person who overlapped several times is listed once)."""
    person_id: int
    full_name: str
    id_number: str  # in full for a reader in scope (exports keep it); already masked when `hidden`
    masked_id: str  # as pages show it
    phone: str | None
    hidden: bool
    district_code: int | None
    first: datetime  # the start of their first overlapping stay
    last: datetime  # the end of their last one (the time of the trace while still there)
    ongoing: bool  # their latest stay is still going on ("still there")
    stays: int
    places: tuple[str, ...]  # "organization — location", in the order first met
    is_staff: bool  # staff at one of the places
    colour: str  # the colour at their latest scan


def by_person(contacts: list[Contact]) -> list[ContactPerson]:
    """The contacts aggregated per person, first contact first (then by name)."""
    groups: dict[int, list[Contact]] = {}
    for contact in contacts:
        groups.setdefault(contact.person_id, []).append(contact)
    people = []
    for stays in groups.values():
        stays.sort(key=lambda c: (c.start, c.checkin_id))
        latest = max(stays, key=lambda c: (c.end, c.start, c.checkin_id))
        places = tuple(dict.fromkeys(f"{c.organization_name} — {c.location_name}" for c in stays))
        people.append(ContactPerson(
            latest.person_id, latest.full_name, latest.id_number, latest.masked_id, latest.phone, latest.hidden, latest.district_code,
            stays[0].start, latest.end, any(c.ongoing for c in stays), len(stays), places,
            any(c.is_staff for c in stays), stays[-1].colour))
    people.sort(key=lambda p: (p.first, p.full_name, p.person_id))
    return people
