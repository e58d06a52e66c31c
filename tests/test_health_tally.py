"""The set-based statuses of `health.tally` (facts computed by the database, rules run once per distinct set of
facts) give exactly what `facts_from` + `decide` and `colours_for` give, person by person, on SQLite and
PostgreSQL alike (the suite runs on both)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Organization, Person, Recovery, Staff, Vaccination
from backoffice.health import status as health
from backoffice.health import tally as health_tally

AT = datetime(2022, 3, 1, 3, 0, tzinfo=timezone.utc)  # 10:00 in Ho Chi Minh City
DAY = health.scan_day(AT)

# name → (doses as (vaccine, days before DAY), recoveries as days before DAY); negative days are after DAY.
PERSONS = {
    "no records": ([], []),
    "other vaccine only": ([("covaxin", 100), ("covaxin", 60)], []),
    "one dose 9 days ago": ([("pfizer", 9)], []),
    "one dose 13 days ago": ([("moderna", 13)], []),
    "one dose exactly 14 days ago": ([("moderna", 14)], []),
    "one dose today": ([("sinopharm", 0)], []),
    "two doses": ([("astrazeneca", 120), ("astrazeneca", 60)], []),
    "mixed vaccines, first decides": ([("pfizer", 90), ("moderna", 30)], []),
    "other then listed": ([("covaxin", 200), ("pfizer", 20)], []),
    "same-day tie, name order": ([("janssen", 40), ("abdala", 40)], []),
    "janssen single dose": ([("janssen", 40)], []),
    "three of abdala": ([("abdala", 100), ("abdala", 70), ("abdala", 40)], []),
    "recovered recently": ([], [30]),
    "recovered long ago": ([], [400]),
    "recovered long ago, recent dose": ([("pfizer", 5)], [400]),
    "two recoveries, latest counts": ([], [300, 100]),
    "recovered today": ([], [0]),
    "doses after the day ignored": ([("pfizer", -5), ("covaxin", -3)], []),
    "one before, one after the day": ([("pfizer", 20), ("pfizer", -10)], []),
    "recovery after the day ignored": ([], [-2]),
    "recovery after the day, older one counts": ([("covaxin", 10)], [-2, 200]),
}


@pytest.fixture()
def persons(ctx) -> dict[str, int]:
    """The persons above, flushed into the session (rolled back by `ctx`)."""
    ids = {}
    for n, (name, (doses, recoveries)) in enumerate(PERSONS.items()):
        person = Person(id_number=f"T6T{n:09d}", full_name=name, qr_ref=f"tally-{n}")
        person.vaccinations = [Vaccination(vaccine=v, dose_number=i + 1, vaccinated_on=DAY - timedelta(days=ago))
                               for i, (v, ago) in enumerate(doses)]
        person.recoveries = [Recovery(recovered_on=DAY - timedelta(days=ago)) for ago in recoveries]
        db.session.add(person)
        db.session.flush()
        ids[name] = person.id
    return ids


def _ids(persons: dict[str, int]):
    return select(Person.id).where(Person.id.in_(list(persons.values())))


def _python_facts(pid: int, day: date) -> dict:
    person = db.session.get(Person, pid)
    rule_set = health.rule_set_for(day)
    return health.facts_from([(v.vaccine, v.vaccinated_on) for v in person.vaccinations],
                             [r.recovered_on for r in person.recoveries], day, rule_set.spec.vaccines)


def test_database_facts_equal_facts_from(persons):
    by_sql = health_tally.facts_by_person(_ids(persons), AT)
    assert set(by_sql) == set(persons.values())
    for name, pid in persons.items():
        expected = _python_facts(pid, DAY)
        assert by_sql[pid] == expected, name
        assert list(by_sql[pid]) == list(expected)  # same keys in the same order
        assert [type(v) for v in by_sql[pid].values()] == [type(v) for v in expected.values()], name


def test_statuses_equal_colours_for(persons):
    by_sql = health_tally.statuses_by_person(_ids(persons), AT)
    by_python = health.colours_for(list(persons.values()), AT)
    assert by_sql == by_python
    assert {s.outcome for s in by_sql.values()} >= {"vaccinated", "dose_too_recent", "recovered",
                                                    "recovery_expired", "no_data"}


def test_no_rule_in_force(persons):
    before = datetime(2021, 9, 1, tzinfo=timezone.utc)
    by_sql = health_tally.statuses_by_person(_ids(persons), before)
    assert by_sql == health.colours_for(list(persons.values()), before)
    assert {s.outcome for s in by_sql.values()} == {"no_rule"}


def test_counts_per_group_with_unlinked_staff(persons):
    org = db.session.scalar(select(Organization).order_by(Organization.id))
    mine = list(persons.values())
    db.session.add_all([Staff(organization_id=org.id, person_id=pid, full_name="x", active=True)
                        for pid in mine[::2]])
    db.session.add(Staff(organization_id=org.id, person_id=None, full_name="not linked", active=True))
    db.session.flush()
    staff = select(Staff.organization_id, Staff.person_id).where(
        Staff.organization_id == org.id, (Staff.person_id.in_(mine)) | Staff.person_id.is_(None))
    counts = list(health_tally.status_counts(staff, AT))
    linked = db.session.scalars(staff.with_only_columns(Staff.person_id)).all()
    colours = health.colours_for([p for p in linked if p is not None], AT)
    assert {c.group for c in counts} == {(org.id,)}
    assert sum(c.persons for c in counts) == len(linked)
    assert sum(c.linked for c in counts) == len([p for p in linked if p is not None])
    assert sum(c.green for c in counts) == sum(1 for s in colours.values() if s.green)
    # persons sharing facts are counted together: fewer rows than persons
    assert len(counts) <= len(linked)
    greens = sum(1 for s in colours.values() if s.green)
    assert health_tally.green_tally(staff, AT) == {(org.id,): (len(linked), greens)}
    by_person = select(Person.id).where(Person.id.in_(mine))
    assert health_tally.green_tally(by_person, AT) == {
        (): (len(mine), sum(1 for s in health.colours_for(mine, AT).values() if s.green))}
