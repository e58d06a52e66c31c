"""Health status (green / black) from the rule files in `rules/health_status/`.

Each YAML file is one versioned rule set with a validity window (schema and loading: `health.rules`); its
`when` expressions are compiled once with `rule-engine` (typed, no `eval`). The file in force on the scan day
decides, and the answer names the rule id and version and says why, in the reader's language (the reason is an English
msgid translated by gettext, then filled with the facts). Each file carries test cases run by
`flask --app backoffice rules test` and by pytest.

`colours_for(person_ids, at)` is set-based — one query per 5,000 persons — for reports, criteria
facts (share of staff with a green status) and cards.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable

import rule_engine
from flask_babel import force_locale, get_locale, gettext
from sqlalchemy import Date, Select, bindparam, func, literal, select, union_all

from backoffice.domain import Colour
from backoffice.extensions import db
from backoffice.models import Recovery, Vaccination
# The rule files' schema and loading; these names are part of this module's interface too.
from backoffice.health.rules import (DECIDED_MAX, RuleSet, VaccineSpec, load_all, load_file,  # noqa: F401
                                        rule_set_for, rule_sets)
from backoffice.rulebook import Problem, RuleSuite, TestOutcome, register_suite
from backoffice.timeutil import to_local

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthStatus:
    colour: str
    rule_id: str
    rule_version: str
    outcome: str
    reason_msgid: str
    reason_args: tuple[tuple[str, object], ...] = ()
    # The reason as rendered per language: statuses are kept per distinct facts (`decide`), so each scan with
    # facts seen before reuses the text instead of translating and formatting it again.
    _rendered: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def reason(self) -> str:
        """The reason in the current language, e.g. "1 mũi, 9 ngày — chưa đủ 14 ngày"."""
        locale = str(get_locale() or "")
        text = self._rendered.get(locale)
        if text is None:
            text = self._rendered[locale] = render_reason(self.reason_msgid, dict(self.reason_args))
        return text

    def reason_in(self, locale: str) -> str:
        with force_locale(locale):
            return self.reason

    @property
    def green(self) -> bool:
        return self.colour == Colour.GREEN.value


def render_reason(msgid: str, values: dict) -> str:
    text = gettext(msgid)
    try:
        return text.format(**{k: _plain(v) for k, v in values.items()})
    except (KeyError, IndexError, ValueError):
        return msgid.format(**{k: _plain(v) for k, v in values.items()})


def _plain(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value

# --- facts and evaluation --------------------------------------------------------------------------

def facts_from(vaccinations: Iterable[tuple[str, date]], recoveries: Iterable[date], day: date,
               vaccines: dict[str, VaccineSpec]) -> dict:
    """The facts a rule sees, from (vaccine, date) doses and recovery dates; records after `day` are ignored."""
    listed = sorted(d for v, d in vaccinations if v in vaccines and d <= day)
    first_vaccine = min(((d, v) for v, d in vaccinations if v in vaccines and d <= day), default=(None, None))[1]
    other = sum(1 for v, d in vaccinations if v not in vaccines and d <= day)
    recovered = max((d for d in recoveries if d <= day), default=None)
    required = vaccines[first_vaccine].doses_required if first_vaccine else None
    return {
        "doses": len(listed),
        "other_doses": other,
        "days_since_first_dose": (day - listed[0]).days if listed else None,
        "days_since_last_dose": (day - listed[-1]).days if listed else None,
        "doses_required": required,
        "fully_vaccinated": bool(listed) and len(listed) >= (required or 1),
        "recovered_days": (day - recovered).days if recovered else None,
    }


def decide(rule_set: RuleSet | None, facts: dict) -> HealthStatus:
    """The first outcome whose `when` holds. A pure function of the facts, so answers are kept per rule set:
    a city has few distinct fact sets (dose count, days since, recovery), and matching costs more than the scan's
    SQL."""
    if rule_set is None:
        return HealthStatus(Colour.BLACK.value, "", "", "no_rule", "No health-status rule is in force")
    key = tuple(facts.items())
    status = rule_set.decided.get(key)
    if status is None:
        if len(rule_set.decided) >= DECIDED_MAX:
            rule_set.decided.clear()
        status = rule_set.decided[key] = _match(rule_set, facts)
    return status


def _match(rule_set: RuleSet, facts: dict) -> HealthStatus:
    values = {**rule_set.spec.params, **facts}
    for outcome, rule in rule_set.compiled:
        if rule.matches(values):
            return HealthStatus(outcome.colour, rule_set.spec.id, rule_set.spec.version, outcome.id,
                                outcome.reason, tuple(sorted(values.items())))
    raise AssertionError("unreachable: the last outcome always matches")  # enforced by the schema


def scan_day(at: datetime) -> date:
    return to_local(at).date()


def _union(ids_clause_v, ids_clause_r, day_v, day_r):
    doses_q = select(Vaccination.person_id, literal("v"), Vaccination.vaccine, Vaccination.vaccinated_on) \
        .where(ids_clause_v, Vaccination.vaccinated_on <= day_v)
    recovered_q = select(Recovery.person_id, literal("r"), literal(""), func.max(Recovery.recovered_on)) \
        .where(ids_clause_r, Recovery.recovered_on <= day_r).group_by(Recovery.person_id)
    return union_all(doses_q, recovered_q)


# One person (the scan hot path): built once, executed with parameters.
_ONE = _union(Vaccination.person_id == bindparam("pid"), Recovery.person_id == bindparam("pid"),
              bindparam("day", type_=Date()), bindparam("day", type_=Date()))


def colours_for(person_ids: Iterable[int] | Select, at: datetime) -> dict[int, HealthStatus]:
    """Status of many persons at `at`: one query per 5,000 ids (or one in all when given a Select of ids,
    e.g. `select(Staff.person_id).where(...)`). Persons without any record are black ("no data")."""
    day = scan_day(at)
    rule_set = rule_set_for(day)
    vaccines = rule_set.spec.vaccines if rule_set else {}
    if isinstance(person_ids, Select):
        chunks: list = [person_ids]
        wanted = None
    else:
        wanted = list(dict.fromkeys(int(i) for i in person_ids))
        chunks = [wanted[i:i + 5000] for i in range(0, len(wanted), 5000)]
    doses: dict[int, list[tuple[str, date]]] = {}
    recovered: dict[int, list[date]] = {}
    for chunk in chunks:
        # One round trip: doses and each person's latest recovery, as a UNION ALL.
        if isinstance(chunk, list) and len(chunk) == 1:
            rows = db.session.execute(_ONE, {"pid": chunk[0], "day": day})
        else:
            rows = db.session.execute(_union(Vaccination.person_id.in_(chunk), Recovery.person_id.in_(chunk),
                                             day, day))
        for pid, kind, vaccine, on in rows:
            if kind == "v":
                doses.setdefault(pid, []).append((vaccine, on))
            else:
                recovered.setdefault(pid, []).append(on)
    if wanted is None:
        wanted = list(db.session.scalars(person_ids)) if isinstance(person_ids, Select) else []
        wanted = [i for i in dict.fromkeys(wanted) if i is not None]
    # decide() is a pure function of the facts, and persons share few distinct facts: evaluate the rules once
    # per distinct set (reports ask for hundreds of thousands of staff at a time).
    decided: dict[tuple, HealthStatus] = {}
    out = {}
    for pid in wanted:
        facts = facts_from(doses.get(pid, []), recovered.get(pid, []), day, vaccines)
        key = tuple(facts.values())
        status = decided.get(key)
        if status is None:
            status = decided[key] = decide(rule_set, facts)
        out[pid] = status
    return out


def status_from(doses: Iterable[tuple[str, date]], recoveries: Iterable[date], at: datetime) -> HealthStatus:
    """Status at `at` from one person's records already in hand: (vaccine, date) doses and recovery dates."""
    day = scan_day(at)
    rule_set = rule_set_for(day)
    return decide(rule_set, facts_from(list(doses), list(recoveries), day, rule_set.spec.vaccines if rule_set else {}))


def evaluate(person, at: datetime) -> HealthStatus:
    """Status of one person at `at` (a stored Person; an unsaved one is read from its relationships)."""
    if getattr(person, "id", None) is not None:
        return colours_for([person.id], at)[person.id]
    return status_from([(v.vaccine, v.vaccinated_on) for v in person.vaccinations],
                       [r.recovered_on for r in person.recoveries], at)


# --- the rule suite (flask rules check|test, pytest) ------------------------------------------------

def check(rules_dir: str) -> list[Problem]:
    sets, problems = load_all(rules_dir)
    problems += _untranslated(sets)
    return problems


def _untranslated(sets: list[RuleSet]) -> list[Problem]:
    """Every reason must have a Vietnamese translation, or staff would read English at reception."""
    problems = []
    with force_locale("vi"):
        for rule_set in sets:
            for outcome in rule_set.spec.outcomes:
                if gettext(outcome.reason) == outcome.reason:
                    problems.append(Problem(rule_set.file, f"outcomes.{outcome.id}.reason",
                                            "no Vietnamese translation in backoffice/health/translations"))
    return problems


def run_tests(rules_dir: str) -> list[TestOutcome]:
    outcomes = []
    for rule_set in load_all(rules_dir)[0]:
        spec = rule_set.spec
        for test in spec.tests:
            try:
                day = test.day or spec.valid_from + timedelta(days=30)
                facts = facts_from([(d.vaccine, day - timedelta(days=d.days_ago)) for d in test.vaccinations],
                                   [day - timedelta(days=test.recovered_days_ago)]
                                   if test.recovered_days_ago is not None else [], day, spec.vaccines)
            except OverflowError:  # a day near year 1 or 9999: the case cannot be dated
                outcomes.append(TestOutcome(rule_set.file, test.name, False, "the test's dates are out of range"))
                continue
            try:
                status = decide(rule_set, facts)
            except rule_engine.errors.EngineError as exc:
                outcomes.append(TestOutcome(rule_set.file, test.name, False, f"evaluation failed: {exc.message}"))
                continue
            errors = []
            if status.colour != test.expect.colour:
                errors.append(f"colour {status.colour}, expected {test.expect.colour}")
            if test.expect.outcome and status.outcome != test.expect.outcome:
                errors.append(f"outcome {status.outcome}, expected {test.expect.outcome}")
            for lang, text in test.expect.reason.items():
                got = status.reason_in(lang)
                if got != text:
                    errors.append(f"reason ({lang}) {got!r}, expected {text!r}")
            outcomes.append(TestOutcome(rule_set.file, test.name, not errors, "; ".join(errors)))
    return outcomes


register_suite(RuleSuite("health_status", check, run_tests, "Green/black status of personal QR codes"))
