"""Health status of many persons at once, from facts the database computes.

`health.colours_for` reads every dose and recovery of the persons it is given and builds each one's facts in
Python: right for one person at reception, slow for the 200,000 staff of a city report (~10 s). Here the
database computes each person's facts with one GROUP BY over their doses (listed doses up to the day, other
doses, first and last listed dose, the first dose's vaccine) and one over their recoveries (the latest up to
the day); persons sharing the same facts are counted together, and the rules (`health.decide`) run once per
distinct set of facts. A tally grouped by organization reads (organization, facts, count) rows, never doses.

The facts are exactly those of `health.facts_from` (tests/test_health_tally.py compares them person by
person on SQLite and PostgreSQL); `colours_for` stays as it is for the scan path.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import Integer, Select, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from backoffice.extensions import db
from backoffice.models import Recovery, Vaccination
from backoffice.health.status import HealthStatus, decide, scan_day
from backoffice.health.rules import RuleSet, VaccineSpec, rule_set_for

__all__ = ["StatusCount", "day_ordinal", "facts_by_person", "green_tally", "status_counts", "statuses_by_person"]


class day_ordinal(FunctionElement):
    """`date.toordinal()` of a Date column, computed by the database: days become integers that the
    aggregates can compare and Python can subtract, the same on both backends."""

    type = Integer()
    inherit_cache = True


@compiles(day_ordinal, "sqlite")
def _day_ordinal_sqlite(element, compiler, **kw):  # dates are 'YYYY-MM-DD' text; julianday(0001-01-01) = 1721425.5
    return "(CAST(julianday(%s) AS INTEGER) - 1721424)" % compiler.process(element.clauses, **kw)


@compiles(day_ordinal, "postgresql")
def _day_ordinal_pg(element, compiler, **kw):  # date - date is a number of days
    return "((%s) - DATE '0001-01-01' + 1)" % compiler.process(element.clauses, **kw)


class _Facts:
    """The rule set's vaccines as SQL (listed or not, and a rank in name order), and the decoding of the
    aggregated columns back into `facts_from`'s dictionary."""

    def __init__(self, day: date, vaccines: dict[str, VaccineSpec]):
        self.day, self.vaccines = day, vaccines
        self.names = sorted(vaccines)  # the rank breaks a same-day tie like facts_from's min((date, vaccine))
        self.width = max(len(self.names), 1)
        self.today = day.toordinal()

    def doses_query(self, person_ids: Select):
        """Per person: doses, listed doses, and min and max of (day × width + vaccine rank) over listed doses.
        The rank is NULL for a vaccine not listed, so it marks listed doses too: one CASE per dose row."""
        rank = (case({n: i for i, n in enumerate(self.names)}, value=Vaccination.vaccine)
                if self.names else literal(None, Integer()))
        key = day_ordinal(Vaccination.vaccinated_on) * self.width + rank
        return (select(Vaccination.person_id.label("pid"), func.count().label("total"),
                       func.count(rank).label("doses"), func.min(key).label("first"), func.max(key).label("last"))
                .where(Vaccination.vaccinated_on <= self.day, Vaccination.person_id.in_(person_ids))
                .group_by(Vaccination.person_id).subquery("dose_facts"))

    def recoveries_query(self, person_ids: Select):
        return (select(Recovery.person_id.label("pid"), func.max(day_ordinal(Recovery.recovered_on)).label("rec"))
                .where(Recovery.recovered_on <= self.day, Recovery.person_id.in_(person_ids))
                .group_by(Recovery.person_id).subquery("recovery_facts"))

    def decode(self, total: int | None, doses: int | None, first: int | None, last: int | None,
               rec: int | None) -> dict:
        """`facts_from`'s dictionary (same keys, order and types) from one row of aggregates."""
        doses = int(doses or 0)
        other = int(total or 0) - doses
        required = since_first = since_last = None
        if doses:
            first_day, rank = divmod(int(first), self.width)
            required = self.vaccines[self.names[rank]].doses_required
            since_first, since_last = self.today - first_day, self.today - int(last) // self.width
        return {
            "doses": doses,
            "other_doses": other,
            "days_since_first_dose": since_first,
            "days_since_last_dose": since_last,
            "doses_required": required,
            "fully_vaccinated": bool(doses) and doses >= (required or 1),
            "recovered_days": self.today - int(rec) if rec is not None else None,
        }


class StatusCount(NamedTuple):
    group: tuple  # the values of the grouping columns
    status: HealthStatus  # the status of the `linked` persons counted (unlinked workers have none)
    persons: int  # rows counted, unlinked ones (person id NULL) included
    linked: int  # rows with a person: the ones the status is about

    @property
    def green(self) -> int:
        return self.linked if self.status.green else 0


def _rule_set(at: datetime) -> tuple[date, RuleSet | None, dict[str, VaccineSpec]]:
    day = scan_day(at)
    rule_set = rule_set_for(day)
    return day, rule_set, (rule_set.spec.vaccines if rule_set else {})


def _counts_query(people: Select, facts: _Facts) -> tuple[Select, int]:
    """(group columns…, five fact columns, persons, linked) per (group, distinct facts); and the group width."""
    # The persons are read three times (counted, and restricting the doses and recoveries aggregated): SQLite
    # reads them once as a materialized CTE (-15%); PostgreSQL plans a CTE blind (it then misestimates the
    # joins and sets off JIT compilation, +1.5 s for 200k staff), so it gets a plain subquery.
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    p = people.cte("people") if sqlite else people.subquery("people")
    *groups, pid = p.c
    ids = select(pid).where(pid.is_not(None))
    d, r = facts.doses_query(ids), facts.recoveries_query(ids)
    fact_cols = (d.c.total, d.c.doses, d.c.first, d.c.last, r.c.rec)
    stmt = (select(*groups, *fact_cols, func.count().label("persons"), func.count(pid).label("linked"))
            .select_from(p).outerjoin(d, d.c.pid == pid).outerjoin(r, r.c.pid == pid)
            .group_by(*groups, *fact_cols))
    return stmt, len(groups)


def status_counts(people: Select, at: datetime) -> Iterator[StatusCount]:
    """Statuses at `at` counted per group, in one query. `people` selects grouping columns and, last, a person
    id (NULL for a worker not linked to a resident: counted in `persons`, never given a status, so never
    green). Rows come per (group, distinct facts); the rules run once per distinct facts."""
    day, rule_set, vaccines = _rule_set(at)
    facts = _Facts(day, vaccines)
    stmt, width = _counts_query(people, facts)
    decided: dict[tuple, HealthStatus] = {}
    for row in db.session.execute(stmt):
        key = tuple(row[width:width + 5])
        status = decided.get(key)
        if status is None:
            status = decided[key] = decide(rule_set, facts.decode(*key))
        yield StatusCount(tuple(row[:width]), status, row[-2], row[-1])


def green_tally(people: Select, at: datetime) -> dict[tuple, tuple[int, int]]:
    """group → (persons, green persons) at `at`, for `people` as in `status_counts`. The same figures as summing
    `status_counts`, in a tighter loop: a city's staff arrive in ~one row per worker."""
    day, rule_set, vaccines = _rule_set(at)
    facts = _Facts(day, vaccines)
    stmt, width = _counts_query(people, facts)
    green: dict[tuple, bool] = {}
    out: dict[tuple, tuple[int, int]] = {}
    end = width + 5
    for row in db.session.connection().execute(stmt):
        key = row[width:end]
        is_green = green.get(key)
        if is_green is None:
            is_green = green[key] = decide(rule_set, facts.decode(*key)).green
        group = row[:width]
        persons, greens = out.get(group, (0, 0))
        out[group] = (persons + row[end], greens + row[end + 1] if is_green else greens)
    return out


def statuses_by_person(person_ids: Select, at: datetime) -> dict[int, HealthStatus]:
    """person id → status at `at`, like `colours_for` (same answers), for a Select of ids."""
    ids = person_ids.subquery("ids")
    pid = list(ids.c)[0]
    people = select(pid.label("group_id"), pid.label("person_id")).where(pid.is_not(None)).distinct()
    return {c.group[0]: c.status for c in status_counts(people, at)}


def facts_by_person(person_ids: Select, at: datetime) -> dict[int, dict]:
    """person id → the facts the database computes (what `facts_from` gives from the same records)."""
    day, _rule_set_, vaccines = _rule_set(at)
    facts = _Facts(day, vaccines)
    d, r = facts.doses_query(person_ids), facts.recoveries_query(person_ids)
    ids = person_ids.subquery("ids")
    pid = list(ids.c)[0]
    stmt = (select(pid, d.c.total, d.c.doses, d.c.first, d.c.last, r.c.rec).select_from(ids)
            .outerjoin(d, d.c.pid == pid).outerjoin(r, r.c.pid == pid))
    return {row[0]: facts.decode(*row[1:]) for row in db.session.execute(stmt)}
