"""Criteria sets: every shipped set's own test cases, each scoring mode's boundaries, broken files rejected
with precise messages, and the app refusing to start on them."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backoffice.config import PROJECT_ROOT
from backoffice.criteria.loader import load_dir, parse_file, run_tests

RULES = PROJECT_ROOT / "rules"
OUTCOMES = run_tests(RULES)


def test_shipped_sets_are_valid_and_cover_every_sector():
    sets, problems = load_dir(RULES)
    assert problems == []
    sectors = {sector for s in sets for sector in s.spec.sectors}
    assert {"enterprise", "office", "supermarket", "market", "food_service", "school"} <= sectors
    modes = {s.spec.id: s.spec.scoring.mode.value for s in sets}
    assert modes["hcm-1203-risk"] == "risk_percent" and modes["hcm-school"] == "pass_fail"
    assert modes["hcm-food-service"] == "safety_percent"
    for s in sets:
        assert s.spec.source.reference
        if s.spec.id != "hcm-1203-risk":
            assert s.spec.illustrative, s.spec.id  # official texts unavailable: they must say so
    risk = next(s for s in sets if s.spec.id == "hcm-1203-risk").spec
    unverified = {c.id for c in risk.criteria() if c.unverified}
    assert unverified == {f"TP{i}" for i in range(5, 11)}


@pytest.mark.parametrize("outcome", OUTCOMES, ids=[f"{Path(o.file).stem}: {o.name}" for o in OUTCOMES])
def test_set_test_case(outcome):
    assert outcome.passed, outcome.detail


def _compiled(set_id: str):
    sets, _ = load_dir(RULES)
    return next(s.compiled for s in sets if s.spec.id == set_id)


BEST_1203 = {"floor_area_m2": 2000, "TP3": "yes", "TP4": "yes", "TP5": "yes", "TP6": "no_canteen", "TP7": 0,
             "TP8": "no_shuttle", "TP9": "yes", "TP10": "none"}


def test_risk_mode_boundaries():
    risk = _compiled("hcm-1203-risk")
    level = lambda answers, workers: risk.score(dict(BEST_1203, **answers), {"workers_on_site": workers})
    assert level({}, 50)["level"] == "very_low"  # 10%
    r = level({"TP3": "no"}, 50)  # 19%
    assert (r["aggregates"]["percent"], r["level"]) == (19, "low")
    # 30% with one indicator at 7 (workers 1000–4999) is not "medium".
    r = level({"floor_area_m2": 6000, "TP6": "partial", "TP7": 10, "TP8": "apart", "TP10": "some"}, 1200)
    assert r["aggregates"]["percent"] == 30 and r["aggregates"]["highest_points"] == 7
    assert r["level"] == "medium_high_indicator"
    r = level({"floor_area_m2": 3500, "TP6": "partial", "TP7": 10, "TP8": "apart", "TP10": "most"}, 700)
    assert (r["aggregates"]["percent"], r["level"]) == (30, "medium")
    assert level({"TP3": "no", "TP4": "no", "TP5": "no", "TP9": "no", "TP6": "crowded"}, 50)["level"] == "high"
    # TP1 bands at their edges.
    points = lambda workers: next(c["points"] for c in level({}, workers)["criteria"] if c["id"] == "TP1")
    assert [points(w) for w in (99, 100, 499, 500, 999, 1000, 4999, 5000)] == [1, 2, 2, 5, 5, 7, 7, 10]


def test_safety_mode_boundaries():
    food = _compiled("hcm-food-service")
    base = {"C1": "none", "C2": 90, "C3": "no", "C4": "none", "C8": "yes", "C9": "fortnightly", "C10": "yes"}
    facts = {"staff_green_share": 1.0, "active_checkpoints": 1, "checkins_last_7_days": 10}
    at_50 = food.score(base, facts)
    assert (at_50["aggregates"]["percent"], at_50["level"]) == (50, "may_operate")
    below = food.score(dict(base, C9="none"), facts)
    assert below["aggregates"]["percent"] == 45 and below["level"] == "closed"
    critical = food.score(dict(base, C1="full", C3="yes", C10="no"), facts)
    assert critical["aggregates"]["percent"] == 60 and critical["level"] == "must_fix"
    assert critical["aggregates"]["critical_failed"] == 1


def test_pass_fail_mode_boundaries():
    school = _compiled("hcm-school")
    five = {"S2": "yes", "S3": "yes", "S4": "yes", "S5": "no", "S6": "no", "S7": "no", "S8": "crowded", "S9": 21}
    facts = {"staff_green_share": 1.0, "active_checkpoints": 1}
    assert school.score(five, facts)["level"] == "not_allowed"  # 5 passes (S1, S2-S4, S10)
    assert school.score(dict(five, S9=20), facts)["level"] == "may_operate"  # 6 passes
    all_yes = {k: "yes" for k in ("S2", "S3", "S4", "S5", "S6", "S7")} | {"S8": "none", "S9": 15}
    assert school.score(all_yes, dict(facts, staff_green_share=0.99))["level"] == "not_allowed"  # mandatory S1


def test_not_evaluable_is_never_zero():
    food = _compiled("hcm-food-service")
    answers = {"C1": "full", "C2": 40, "C3": "yes", "C4": "both", "C8": "yes", "C9": "weekly", "C10": "yes"}
    result = food.score(answers, {"staff_green_share": {"value": None, "reason": "no_staff"},
                                  "active_checkpoints": 1, "checkins_last_7_days": 80})
    c5 = next(c for c in result["criteria"] if c["id"] == "C5")
    assert c5["status"] == "not_evaluable" and c5["points"] is None
    assert c5["reason"] == {"kind": "not_evaluable", "code": "fact", "fact": "staff_green_share",
                            "fact_reason": "no_staff"}
    assert result["aggregates"]["max_score"] == 90 and result["level"] == "incomplete"
    # Division by zero in a computed criterion is "not evaluable" too, not a crash.
    enterprise = _compiled("hcm-enterprise")
    r = enterprise.score({"floor_area_m2": 100}, {"workers_on_site": 0, "checkins_last_7_days": 5})
    e7 = next(c for c in r["criteria"] if c["id"] == "E7")
    assert e7["status"] == "not_evaluable" and e7["reason"]["code"] == "math_error"


GOOD = (RULES / "criteria" / "hcm-school.yaml").read_text(encoding="utf-8")

BROKEN = {
    "bad_expression": (GOOD.replace('{when: "value <= 20", points: 1}', '{when: "value <=", points: 1}'),
                       "criterion S9", "bad expression \"value <=\""),
    "unknown_fact": (GOOD.replace("fact: active_checkpoints", "fact: active_gates"),
                     "criterion S10", "unknown fact 'active_gates'"),
    "unknown_name": (GOOD.replace('{when: "value <= 20", points: 1}', '{when: "pupils <= 20", points: 1}'),
                     "criterion S9", "unknown name 'pupils'"),
    "type_mismatch": (GOOD.replace('{when: "value <= 20", points: 1}', '{when: "value <= \'twenty\'", points: 1}'),
                      "criterion S9", "type mismatch"),
    "not_a_condition": (GOOD.replace('{when: "value <= 20", points: 1}', '{when: "value + 1", points: 1}'),
                        "criterion S9", "must be a true/false condition"),
    "missing_level": (GOOD.replace("{when: \"passed >= 6\", level: may_operate}",
                                   "{when: \"passed >= 6\", level: may_open}"),
                      "classification rule 3", "missing level 'may_open'"),
    "no_otherwise": (GOOD.replace("  - {otherwise: not_allowed}\n", ""),
                     "classification", "missing level for the remaining cases"),
    "duplicate_id": (GOOD.replace("      - id: S3\n", "      - id: S2\n"), "criterion S2", "duplicate id 'S2'"),
    "yaml_yes_no": (GOOD.replace('points: {"yes": 1, "no": 0}', "points: {yes: 1, no: 0}", 1),
                    "criterion S2: points", "YAML 1.1 reads bare yes/no"),
    "test_unknown_level": (GOOD.replace("expect: {level: may_operate, score: 6}", "expect: {level: open, score: 6}"),
                           "test 'exactly 6 passes including the mandatory one may operate'",
                           "expects level 'open'"),
    "pass_fail_points": (GOOD.replace('points: {"yes": 1, "no": 0}', 'points: {"yes": 10, "no": 0}', 1),
                         "criterion S2", "points are 1 (pass) or 0 (fail)"),
    "missing_levels_key": (GOOD.replace("levels:\n  - id: incomplete", "leves:\n  - id: incomplete"),
                           "levels", "Field required"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_rejected_precisely(tmp_path, name):
    text, where, message = BROKEN[name]
    assert text != GOOD, "the replacement did not apply"
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    loaded, problems = parse_file(path)
    assert loaded is None
    assert any(p.file == str(path) and p.where == where and message in p.message for p in problems), problems


def _broken_rules_dir(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    for name in ("bad_expression", "unknown_fact", "duplicate_id"):
        (rules / "criteria" / f"zz-{name}.yaml").write_text(BROKEN[name][0], encoding="utf-8")
    return rules


def test_rules_check_reports_every_problem_of_every_file(app, tmp_path):
    rules = _broken_rules_dir(tmp_path)
    runner = app.test_cli_runner()
    old = app.config["BACKOFFICE_RULES_DIR"]
    app.config["BACKOFFICE_RULES_DIR"] = str(rules)
    try:
        check = runner.invoke(args=["rules", "check"])
        test = runner.invoke(args=["rules", "test"])
    finally:
        app.config["BACKOFFICE_RULES_DIR"] = old
    assert check.exit_code == 1 and test.exit_code == 1
    for name in ("bad_expression", "unknown_fact", "duplicate_id"):
        _text, where, message = BROKEN[name]
        assert f"zz-{name}.yaml: {where}: " in check.output and message in check.output
    assert runner.invoke(args=["rules", "check"]).exit_code == 0
    shipped = runner.invoke(args=["rules", "test"])
    assert shipped.exit_code == 0 and " 0 failed" in shipped.output


def test_app_refuses_to_start_on_an_invalid_set(tmp_path):
    from backoffice import create_app
    from backoffice.criteria.registry import CriteriaSetError
    from conftest import test_config
    rules = _broken_rules_dir(tmp_path)
    with pytest.raises(CriteriaSetError) as info:
        create_app(test_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", BACKOFFICE_RULES_DIR=str(rules)))
    assert "zz-unknown_fact.yaml: criterion S10: unknown fact 'active_gates'" in str(info.value)
    assert "zz-duplicate_id.yaml: criterion S2: duplicate id 'S2'" in str(info.value)
