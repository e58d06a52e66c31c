"""Health-status rules as data: the rule files' own test cases, the demo residents, the set-based query, and a
rule file that is wrong in every way being reported as such."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Person, Staff
from backoffice.health import status as health
from backoffice.rulebook import SUITES
from backoffice.timeutil import LOCAL_TZ


def test_rule_files_are_valid_and_their_test_cases_pass(app):
    with app.app_context():
        rules_dir = app.config["BACKOFFICE_RULES_DIR"]
        suite = SUITES["health_status"]
        assert suite.check(rules_dir) == []
        outcomes = suite.run_tests(rules_dir)
        assert len(outcomes) >= 10
        assert [f"{o.name}: {o.detail}" for o in outcomes if not o.passed] == []


def test_rules_test_command(app):
    result = app.test_cli_runner().invoke(args=["rules", "test"])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


@pytest.mark.parametrize("id_number, colour, reason", [
    ("079090000001", "green", "2 mũi, 120 ngày — đã đủ 14 ngày"),
    ("079190000002", "black", "1 mũi, 9 ngày — chưa đủ 14 ngày"),
    ("079085000003", "green", "F0 đã khỏi bệnh 30 ngày — dưới 180 ngày"),
    ("079195000004", "black", "Chưa có dữ liệu tiêm chủng"),
])
def test_demo_residents(ctx, seed_day, id_number, colour, reason):
    person = db.session.scalar(select(Person).where(Person.id_number == id_number))
    status = health.evaluate(person, datetime.combine(seed_day, time(12), LOCAL_TZ))  # the day it was seeded
    assert (status.colour, status.reason_in("vi")) == (colour, reason)
    assert (status.rule_id, status.rule_version) == ("hcm-1913", "1.0.0")
    with force_locale("en"):
        assert status.reason and status.reason != reason


def test_rule_in_force_at_scan_time(ctx):
    person = db.session.scalar(select(Person).where(Person.id_number == "079090000001"))
    before = health.evaluate(person, datetime(2021, 9, 1, tzinfo=timezone.utc))
    assert (before.colour, before.outcome) == ("black", "no_rule")


def test_colours_for_is_set_based(app):
    from sqlalchemy import event
    with app.app_context():
        ids = list(db.session.scalars(select(Person.id)))
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            statuses = health.colours_for(ids, datetime.now(timezone.utc))
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) == 1 and set(statuses) == set(ids)
        assert {s.colour for s in statuses.values()} == {"green", "black"}
        one_by_one = {pid: health.evaluate(db.session.get(Person, pid), datetime.now(timezone.utc)).colour
                      for pid in ids[:30]}
        assert one_by_one == {pid: statuses[pid].colour for pid in ids[:30]}
        by_select = health.colours_for(select(Staff.person_id).where(Staff.person_id.is_not(None)),
                                       datetime.now(timezone.utc))
        assert by_select and all(pid in statuses for pid in by_select)


BROKEN = """
id: Broken Rule
version: one
valid_from: 2021-10-01
title: {vi: x}
vaccines: {pfizer: {name: Pfizer, doses_required: 0}}
outcomes:
  - {id: a, colour: green, when: "doses >>> 1", reason: "x"}
tests: []
"""

BAD_EXPRESSION = """
id: bad-expression
version: 1.0.0
valid_from: 2021-10-01
title: {vi: x}
vaccines: {pfizer: {name: Pfizer, doses_required: 2}}
outcomes:
  - {id: a, colour: green, when: "doses >= 1 and unknown_fact", reason: "{nope} doses"}
  - {id: b, colour: black, when: "true", reason: "No vaccination data"}
tests:
  - {name: t, day: 2020-01-01, expect: {colour: black, outcome: c}}
"""


def test_bad_rule_files_are_reported_with_every_problem(app, tmp_path: Path):
    directory = tmp_path / "health_status"
    directory.mkdir()
    (directory / "broken.yaml").write_text(BROKEN)
    (directory / "expr.yaml").write_text(BAD_EXPRESSION)
    (directory / "notyaml.yaml").write_text("id: [unclosed\n")
    with app.app_context():
        problems = [str(p) for p in SUITES["health_status"].check(str(tmp_path))]
    text = "\n".join(problems)
    for expected in ["broken.yaml: id", "broken.yaml: version", "doses_required", "broken.yaml: tests",
                     "expr.yaml: outcomes[0] (a).when", "expr.yaml: outcomes[0] (a).reason",
                     "tests.t: `day` is outside", "unknown outcome 'c'", "notyaml.yaml: line 2"]:
        assert expected in text, (expected, text)
    with app.app_context():
        assert health.rule_sets(str(tmp_path)) == []  # invalid files never decide anything


def test_a_status_renders_its_reason_once_per_language(ctx):
    """Statuses are kept per distinct facts and their reason is rendered once per language: the same status
    answers in Vietnamese and in English, each time the same text."""
    from backoffice.health import status as health
    from flask_babel import force_locale
    facts = health.facts_from([("pfizer", date(2021, 10, 1))], [], date(2021, 10, 10),
                              health.rule_set_for(date(2021, 10, 10)).spec.vaccines)
    status = health.decide(health.rule_set_for(date(2021, 10, 10)), facts)
    assert status.reason_in("vi") == "1 mũi, 9 ngày — chưa đủ 14 ngày" == status.reason_in("vi")
    english = status.reason_in("en")
    assert english != status.reason_in("vi") and "9" in english
    with force_locale("en"):
        assert status.reason == english
