"""The database seam (backoffice.database) answers the same on both databases: which database this is, the
city's calendar day of a stored time around midnight in Ho Chi Minh City, INSERT … ON CONFLICT doing nothing or
updating. Run on SQLite and on PostgreSQL (TEST_DATABASE_URL)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select

from backoffice import database
from backoffice.extensions import db
from backoffice.models import AuditLog
from backoffice.models.base import UTCDateTime
from backoffice.timeutil import LOCAL_TZ, to_local

# 17:00 UTC is midnight in the city: the instants either side of it, and of the local noon.
MIDNIGHT_UTC = datetime(2021, 10, 1, 17, 0, tzinfo=timezone.utc)
INSTANTS = [MIDNIGHT_UTC + delta for delta in (
    -timedelta(hours=12), -timedelta(seconds=1), timedelta(0), timedelta(seconds=1), timedelta(hours=6, minutes=59),
    timedelta(hours=7), timedelta(hours=19), timedelta(days=1) - timedelta(microseconds=1))]


def test_which_database_is_this(ctx):
    name = db.engine.dialect.name
    assert database.dialect() == name == database.dialect(db.session.connection())
    assert database.is_postgres() is (name == "postgresql")
    assert database.is_sqlite() is (name == "sqlite")


@pytest.mark.parametrize("at", INSTANTS, ids=lambda at: to_local(at).strftime("%m-%d %H:%M:%S.%f"))
def test_the_local_day_of_a_bound_time_is_the_citys(ctx, at):
    day = db.session.scalar(select(database.local_date(bindparam("at", at, type_=UTCDateTime()))))
    assert database.as_date(day) == at.astimezone(LOCAL_TZ).date()


def test_the_local_day_of_stored_times_around_midnight(ctx):
    rows = [AuditLog(at=at, action="test.local_day", entity="seam") for at in INSTANTS]
    db.session.add_all(rows)
    db.session.flush()
    days = dict(db.session.execute(select(AuditLog.id, database.local_date(AuditLog.at))
                                   .where(AuditLog.id.in_([row.id for row in rows]))).all())
    assert {row.id: database.as_date(days[row.id]) for row in rows} == {
        row.id: to_local(at).date() for row, at in zip(rows, INSTANTS)}
    assert database.as_date(days[rows[1].id]) == date(2021, 10, 1)  # a second before midnight
    assert database.as_date(days[rows[2].id]) == date(2021, 10, 2)  # midnight itself


@pytest.fixture()
def probe(ctx):
    """A table of its own (a unique name, a count), created for the test and dropped after."""
    table = Table("seam_probe", MetaData(), Column("name", String(32), primary_key=True),
                  Column("n", Integer, nullable=False), Column("note", String(32), nullable=False, default=""))
    table.create(db.engine, checkfirst=True)
    try:
        yield table
    finally:
        db.session.rollback()
        table.drop(db.engine, checkfirst=True)


def _rows(table) -> dict:
    return {row.name: (row.n, row.note) for row in db.session.execute(select(table))}


def test_insert_on_conflict_does_nothing(probe):
    db.session.execute(probe.insert(), [{"name": "a", "n": 1, "note": "first"}])
    stmt = database.insert_on_conflict(probe)
    db.session.execute(stmt, [{"name": "a", "n": 2, "note": "second"}, {"name": "b", "n": 3, "note": "new"}])
    assert _rows(probe) == {"a": (1, "first"), "b": (3, "new")}
    # With the conflict's columns named, and RETURNING telling a new row from an existing one.
    created = db.session.execute(database.insert_on_conflict(probe, conflict=[probe.c.name])
                                 .values(name="a", n=9, note="x").returning(probe.c.name)).first()
    assert created is None and _rows(probe)["a"] == (1, "first")


def test_insert_on_conflict_updates_named_columns(probe):
    db.session.execute(probe.insert(), [{"name": "a", "n": 1, "note": "first"}])
    stmt = database.insert_on_conflict(probe, conflict=["name"], update=["n"])
    db.session.execute(stmt, [{"name": "a", "n": 5, "note": "ignored"}, {"name": "b", "n": 2, "note": "new"}])
    assert _rows(probe) == {"a": (5, "first"), "b": (2, "new")}


def test_insert_on_conflict_updates_from_the_proposed_row_unless_where_says_no(probe):
    db.session.execute(probe.insert(), [{"name": "a", "n": 1, "note": "first"}, {"name": "z", "n": 100, "note": ""}])
    stmt = database.insert_on_conflict(probe, conflict=[probe.c.name],
                                       update=lambda new: {"n": probe.c.n + new.n, "note": new.note},
                                       where=probe.c.n < 50)
    db.session.execute(stmt, [{"name": "a", "n": 2, "note": "added"}, {"name": "z", "n": 1, "note": "kept out"}])
    db.session.execute(stmt, [{"name": "a", "n": 3, "note": "added again"}])
    assert _rows(probe) == {"a": (6, "added again"), "z": (100, "")}


def test_insert_on_conflict_knows_only_the_two_databases(probe):
    with pytest.raises(RuntimeError, match="mysql"):
        database.insert_on_conflict(probe, bind="mysql")
