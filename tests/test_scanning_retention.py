"""The check-in purge retires whole local days into the daily counts and the ledger of retired days: two purges at
once (two hosts, or the timer and a CLI run) count every check-in once, a purge that fails half-way leaves each day
whole or retired, a second run changes nothing, and a check-in recorded later for a retired day is counted once."""
from __future__ import annotations

import multiprocessing
import os
import signal
import time as clock
import traceback
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, CheckInDaily, Location, Person, RetiredDay
from backoffice.scanning.checkins import purge_checkins
from backoffice.scanning.payload import issue_personal_payload
from backoffice.scanning.service import record_scan
from backoffice.timeutil import LOCAL_TZ, local_today, to_local
from factories import checkpoint, new_person

RETENTION = 60
PURGES_AT_ONCE = 4


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _add_checkins(first_day: date, days: int, per_day: int) -> None:
    """`per_day` closed check-ins on each of `days` local days from `first_day`, spread over the demo's locations
    and residents, a few a second either side of local midnight; green and black mixed."""
    locations = db.session.execute(select(Location.id, Location.organization_id).order_by(Location.id).limit(7)).all()
    persons = db.session.scalars(select(Person.id).order_by(Person.id).limit(50)).all()
    rows = []
    for d in range(days):
        day = first_day + timedelta(days=d)
        for i in range(per_day):
            at = datetime.combine(day, time.min, LOCAL_TZ) + timedelta(seconds=(i * 86399 // max(per_day - 1, 1)))
            location = locations[(i + d) % len(locations)]
            rows.append({"person_id": persons[i % len(persons)], "organization_id": location.organization_id,
                         "location_id": location.id, "checked_in_at": at, "last_seen_at": at,
                         "checked_out_at": at, "checkout_reason": "exit", "admitted": True,
                         "status_colour": "green" if i % 3 else "black", "status_reason": "",
                         "method": "scanner"})
    db.session.execute(CheckIn.__table__.insert(), rows)
    db.session.commit()


def _expected_daily(first_kept_day: date) -> dict:
    """What checkin_daily must hold after the purge, counted before it: the counts kept so far plus every
    check-in of a day before `first_kept_day`, per (location, local day)."""
    expected = Counter()
    for r in db.session.execute(select(CheckInDaily)).scalars():
        expected[(r.location_id, r.day)] += 0  # present even when empty
        expected[(r.location_id, r.day, "total")] += r.total
        expected[(r.location_id, r.day, "green")] += r.green
        expected[(r.location_id, r.day, "black")] += r.black
    cutoff = datetime.combine(first_kept_day, time.min, LOCAL_TZ)
    for location_id, at, colour in db.session.execute(select(CheckIn.location_id, CheckIn.checked_in_at,
                                                             CheckIn.status_colour)
                                                      .where(CheckIn.checked_in_at < cutoff)):
        day = to_local(at).date()
        expected[(location_id, day)] += 0
        expected[(location_id, day, "total")] += 1
        expected[(location_id, day, colour)] += 1
    return _totals(expected)


def _totals(counter: Counter) -> dict:
    return {key: (counter[(*key, "total")], counter[(*key, "green")], counter[(*key, "black")])
            for key in counter if len(key) == 2}


def _daily() -> dict:
    db.session.expire_all()
    return {(r.location_id, r.day): (r.total, r.green, r.black)
            for r in db.session.execute(select(CheckInDaily)).scalars()}


def _ledger() -> dict:
    db.session.expire_all()
    return {r.day: (r.checkins, r.late_checkins) for r in db.session.execute(select(RetiredDay)).scalars()}


def _checkins_on(day: date) -> int:
    start = datetime.combine(day, time.min, LOCAL_TZ)
    return db.session.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.checked_in_at >= start, CheckIn.checked_in_at < start + timedelta(days=1)))


def _reported_checkins(day: date) -> int:
    """The reports' check-ins of `day` in the district of the demo checkpoint's organization."""
    from backoffice.reports.queries import checkins_per_day
    from backoffice.reports.scope import ReportScope
    from conftest import get_user
    district = checkpoint().location.organization.district_code
    series = checkins_per_day(ReportScope(user=get_user("admin"), districts=(district,), sector=None,
                                          as_of=day + timedelta(days=3)))
    return series.total[series.days.index(day)]


def _purge_at_barrier(app, barrier, results) -> None:
    try:
        with app.app_context():
            barrier.wait(timeout=60)
            purge_checkins(RETENTION)
            db.session.remove()
        results.put("ok")
    except BaseException:  # noqa: BLE001  (the parent reports what failed in the child)
        results.put(traceback.format_exc())


def test_purges_started_together_count_every_checkin_once(app):
    """Four processes, each with its own connections, released at once over eight days of check-ins: the
    daily counts equal a recount made before (the previous purge added each day once per process that read it
    before the first one committed)."""
    first_day = local_today() - timedelta(days=RETENTION + 300)
    with app.app_context():
        _add_checkins(first_day, days=8, per_day=1500)
        first_kept_day = local_today() - timedelta(days=RETENTION)
        expected = _expected_daily(first_kept_day)
        per_day = {day: 1500 for day in (first_day + timedelta(days=d) for d in range(8))}
        db.session.remove()
        db.engine.dispose()  # no connection of the parent's crosses the fork
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(PURGES_AT_ONCE), context.Queue()
    children = [context.Process(target=_purge_at_barrier, args=(app, barrier, results))
                for _ in range(PURGES_AT_ONCE)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert outcomes == ["ok"] * PURGES_AT_ONCE, "\n".join(o for o in outcomes if o != "ok")
    with app.app_context():
        assert _daily() == expected
        assert db.session.scalar(select(func.count()).select_from(CheckIn).where(
            CheckIn.checked_in_at < datetime.combine(first_kept_day, time.min, LOCAL_TZ))) == 0
        ledger = _ledger()
        assert {day: ledger[day] for day in per_day} == {day: (n, 0) for day, n in per_day.items()}
        audited = db.session.scalars(select(AuditLog.entity_id).where(
            AuditLog.action == "checkins.purge", AuditLog.entity_id.in_([d.isoformat() for d in per_day]))).all()
        assert sorted(audited) == sorted(d.isoformat() for d in per_day)  # one entry per day, whoever retired it


@pytest.fixture()
def refuse_deleting(ctx):
    """A trigger that makes the database refuse to delete one check-in (a real error inside the purge's
    transaction for that check-in's day, as a full disk or a killed connection would end it)."""
    names = []

    def install(checkin_id: int) -> None:
        if _is_postgres():
            db.session.execute(text(
                "CREATE FUNCTION test_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"))
            db.session.execute(text(
                f"CREATE TRIGGER test_refuse_delete BEFORE DELETE ON checkins FOR EACH ROW "
                f"WHEN (OLD.id = {int(checkin_id)}) EXECUTE FUNCTION test_refuse_delete()"))
        else:
            db.session.execute(text(
                f"CREATE TRIGGER test_refuse_delete BEFORE DELETE ON checkins WHEN old.id = {int(checkin_id)} "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
        db.session.commit()
        names.append("test_refuse_delete")

    def remove() -> None:
        db.session.rollback()
        if names:
            db.session.execute(text("DROP TRIGGER IF EXISTS test_refuse_delete" +
                                    (" ON checkins" if _is_postgres() else "")))
            if _is_postgres():
                db.session.execute(text("DROP FUNCTION IF EXISTS test_refuse_delete()"))
            db.session.commit()
            names.clear()

    yield install, remove
    remove()


def test_a_purge_failing_half_way_leaves_each_day_whole_or_retired(refuse_deleting):
    install, remove = refuse_deleting
    first_day = local_today() - timedelta(days=RETENTION + 320)
    second_day = first_day + timedelta(days=1)
    _add_checkins(first_day, days=2, per_day=40)
    first_kept_day = local_today() - timedelta(days=RETENTION)
    expected = _expected_daily(first_kept_day)
    daily_before = _daily()
    second_start = datetime.combine(second_day, time.min, LOCAL_TZ)
    one_of_the_second_day = db.session.scalar(select(CheckIn.id).where(
        CheckIn.checked_in_at >= second_start, CheckIn.checked_in_at < second_start + timedelta(days=1)))
    install(one_of_the_second_day)

    with pytest.raises(DBAPIError, match="refused by the test"):
        purge_checkins(RETENTION)
    db.session.rollback()  # as the CLI's process would end

    daily = _daily()
    assert _checkins_on(first_day) == 0 and _ledger()[first_day] == (40, 0)
    assert {k: v for k, v in daily.items() if k[1] == first_day} == \
        {k: v for k, v in expected.items() if k[1] == first_day}
    assert _checkins_on(second_day) == 40 and second_day not in _ledger()  # whole: rows, counts, no ledger row
    assert {k: v for k, v in daily.items() if k[1] == second_day} == \
        {k: v for k, v in daily_before.items() if k[1] == second_day}

    remove()
    purge_checkins(RETENTION)
    assert _daily() == expected and _checkins_on(second_day) == 0 and _ledger()[second_day] == (40, 0)


def _purge_in_child(app) -> None:
    with app.app_context():
        purge_checkins(RETENTION)


def _wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = clock.monotonic() + timeout
    while not condition():
        assert clock.monotonic() < deadline, f"gave up waiting for {what}"
        clock.sleep(0.05)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="the purge is held inside a day on PostgreSQL by a row lock of the test's")
def test_a_purge_killed_inside_a_day_leaves_it_whole(app):
    """A purge process killed (SIGKILL) while its second day's transaction waits on a row the test holds: the
    first day is retired, the second whole, and the next purge retires it."""
    first_day = local_today() - timedelta(days=RETENTION + 330)
    second_day = first_day + timedelta(days=1)
    with app.app_context():
        _add_checkins(first_day, days=2, per_day=40)
        first_kept_day = local_today() - timedelta(days=RETENTION)
        expected = _expected_daily(first_kept_day)
        daily_before = _daily()
        second_start = datetime.combine(second_day, time.min, LOCAL_TZ)
        held = db.session.scalar(select(CheckIn.id).where(
            CheckIn.checked_in_at >= second_start, CheckIn.checked_in_at < second_start + timedelta(days=1)))
        db.session.remove()
        db.engine.dispose()  # no connection of the parent's crosses the fork
        blocker = db.engine.connect()
        blocker.execute(select(CheckIn.id).where(CheckIn.id == held).with_for_update())
        child = multiprocessing.get_context("fork").Process(target=_purge_in_child, args=(app,))
        child.start()
        try:
            with db.engine.connect() as watcher:
                def waiting_inside_the_second_day() -> bool:
                    watcher.rollback()
                    return watcher.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM checkins%'")) == 1
                _wait_for(waiting_inside_the_second_day, "the purge to wait on the held row")
                os.kill(child.pid, signal.SIGKILL)
                child.join(timeout=30)
                blocker.rollback()  # the killed purge's statement goes on, and its transaction can only abort

                def purge_gone() -> bool:
                    watcher.rollback()
                    return watcher.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND query LIKE '%DELETE FROM checkins%' AND pid <> pg_backend_pid()")) == 0
                _wait_for(purge_gone, "the killed purge's backend to end")
        finally:
            blocker.close()
            if child.is_alive():
                child.kill()
        assert child.exitcode == -signal.SIGKILL
        daily = _daily()
        assert _checkins_on(first_day) == 0 and _ledger()[first_day] == (40, 0)
        assert {k: v for k, v in daily.items() if k[1] == first_day} == \
            {k: v for k, v in expected.items() if k[1] == first_day}
        assert _checkins_on(second_day) == 40 and second_day not in _ledger()
        assert {k: v for k, v in daily.items() if k[1] == second_day} == \
            {k: v for k, v in daily_before.items() if k[1] == second_day}
        purge_checkins(RETENTION)
        assert _daily() == expected and _ledger()[second_day] == (40, 0)
        db.session.remove()


def test_a_second_purge_changes_nothing(ctx):
    first_day = local_today() - timedelta(days=RETENTION + 340)
    _add_checkins(first_day, days=3, per_day=30)
    purge_checkins(RETENTION)
    daily, ledger = _daily(), _ledger()
    audits = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "checkins.purge"))
    assert tuple(purge_checkins(RETENTION)) == (0, 0, 0)
    assert (_daily(), _ledger()) == (daily, ledger)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "checkins.purge")) == audits


def test_a_late_checkin_for_a_retired_day_is_kept_then_counted_once(ctx):
    """An offline scan queued for days arrives after its day was retired: it is recorded like any other, and
    the next purge adds that one check-in to the day's counts (not the day again)."""
    long_ago = datetime.now(LOCAL_TZ).replace(hour=10) - timedelta(days=RETENTION + 360)
    day = long_ago.date()
    _add_checkins(day, days=1, per_day=20)
    purge_checkins(RETENTION)
    assert _checkins_on(day) == 0 and _ledger()[day] == (20, 0)
    location_id = checkpoint().location_id
    before = _daily().get((location_id, day), (0, 0, 0))
    reported = _reported_checkins(day)

    late = record_scan(issue_personal_payload(new_person(dose_days_ago=RETENTION + 400), now=long_ago),
                       checkpoint=checkpoint(), method="scanner", now=long_ago)
    assert late.action == "check_in" and db.session.get(CheckIn, late.checkin_id) is not None  # never lost
    assert _reported_checkins(day) == reported + 1  # the day's kept counts and the late one, before the purge

    done = purge_checkins(RETENTION)
    assert (done.deleted, done.days) == (1, 1)
    after = _daily()[(location_id, day)]
    green = late.colour == "green"
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, int(green), int(not green))
    assert _ledger()[day] == (21, 1)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "checkins.purge",
                                                      AuditLog.entity_id == day.isoformat())
                               .order_by(AuditLog.id.desc())).first()
    assert entry.after["late"] is True and entry.after["deleted"] == 1
    assert tuple(purge_checkins(RETENTION)) == (0, 0, 0)
    assert _reported_checkins(day) == reported + 1
