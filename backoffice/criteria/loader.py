"""Load criteria set files: `yaml.safe_load`, pydantic validation, compilation, test cases, content hashes.

Every problem names the file, the criterion (or field) and what is wrong, and all problems of all files are
collected at once, so `rules check` shows the whole picture in one run.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backoffice.criteria.engine import CompileErrors, CompiledSet, compile_set
from backoffice.criteria.schema import AnswerKind, CriteriaSet
from backoffice.rulebook import Problem, TestOutcome, read_model

SUBDIR = "criteria"


@dataclass
class LoadedSet:
    file: str
    spec: CriteriaSet
    compiled: CompiledSet
    content: dict  # the validated set as JSON, what gets frozen in CriteriaSetVersion
    sha256: str

    @property
    def key(self) -> tuple[str, str]:
        return self.spec.id, self.spec.version


def content_of(spec: CriteriaSet) -> tuple[dict, str]:
    """The canonical JSON of a validated set and its sha256 (comments and layout don't count, texts do)."""
    content = spec.model_dump(mode="json", exclude_none=True)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return content, hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _where(raw: Any, loc: tuple) -> str:
    """A pydantic error location as the criterion/group/level it concerns, e.g. 'criterion G1.2: points'."""
    node, path, label = raw, [], ""
    for index, part in enumerate(loc):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            path.extend(str(p) for p in loc[index:])
            break
        if isinstance(node, dict) and isinstance(part, int) and "id" in node:
            kind = {"criteria": "criterion", "groups": "group", "levels": "level", "inputs": "input",
                    "options": "option"}.get(str(loc[index - 1]) if index else "", "item")
            label, path = f"{kind} {node['id']}", []
        elif isinstance(node, dict) and isinstance(part, int) and "name" in node:
            label, path = f"test '{node['name']}'", []
        else:
            path.append(str(part))
    tail = ".".join(p for p in path if not p.isdigit() or not label)
    return f"{label}: {tail}" if label and tail else label or tail


def parse_file(path: Path) -> tuple[LoadedSet | None, list[Problem]]:
    name = str(path)
    spec, raw, problems = read_model(path, name, CriteriaSet, "the file must hold one criteria set (a mapping)",
                                     where=_where, message=lambda err: err["msg"].removeprefix("Value error, "))
    if spec is None:
        return None, problems
    problems = _duplicates(name, spec)
    if problems:
        return None, problems
    try:
        compiled = compile_set(spec)
    except CompileErrors as exc:
        return None, [Problem(name, e.where, str(e)) for e in exc.errors]
    problems = _check_tests(name, compiled)
    if problems:
        return None, problems
    content, sha = content_of(spec)
    return LoadedSet(name, spec, compiled, content, sha), []


def _duplicates(name: str, spec: CriteriaSet) -> list[Problem]:
    problems, seen = [], set()
    for kind, items in (("group", spec.groups), ("criterion", spec.criteria()), ("input", spec.inputs),
                        ("level", spec.levels)):
        seen_kind: set[str] = set()
        for item in items:
            if item.id in seen_kind or (kind in ("criterion", "input") and item.id in seen):
                problems.append(Problem(name, f"{kind} {item.id}", f"duplicate id '{item.id}'"))
            seen_kind.add(item.id)
            if kind in ("criterion", "input"):
                seen.add(item.id)
    return problems


def _check_tests(name: str, compiled: CompiledSet) -> list[Problem]:
    """Test cases must name things that exist (a typo would make a test pass for the wrong reason)."""
    problems = []
    spec = compiled.spec
    items = {item.id: item for item in compiled.asked()}
    asked = set(items)
    levels = {lv.id for lv in spec.levels} | {"not_evaluable"}
    crit_ids = {c.id for c in spec.criteria()}
    for case in spec.tests:
        where = f"test '{case.name}'"
        for key, value in case.answers.items():
            if key not in asked:
                problems.append(Problem(name, where, f"answer to unknown or unasked item '{key}'"))
            elif not _answer_fits(items[key], value):
                problems.append(Problem(name, where, f"answer {value!r} to '{key}' is not a possible answer"))
        for key in case.facts:
            if key not in compiled.fact_names:
                problems.append(Problem(name, where, f"fact '{key}' is not used by this set"))
        if case.expect.level not in levels:
            problems.append(Problem(name, where, f"expects level '{case.expect.level}', which is not defined"))
        for key in list(case.expect.points or {}) + list(case.expect.not_evaluable or []):
            if key not in crit_ids:
                problems.append(Problem(name, where, f"expects points of unknown criterion '{key}'"))
    if not spec.tests:
        problems.append(Problem(name, "tests", "a criteria set must carry at least one test case"))
    return problems


def _answer_fits(item, value: Any) -> bool:
    """A test case's answer is one the form could give (the engine trusts answers validated on the way in)."""
    if value is None or value == "":
        return True
    if item.answer == AnswerKind.YES_NO:
        return value in (True, False, "yes", "no")
    if item.answer == AnswerKind.CHOICE:
        return str(value) in {o.id for o in item.options or ()}
    try:
        return not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def criteria_files(rules_dir: str | Path) -> list[Path]:
    return sorted((Path(rules_dir) / SUBDIR).glob("*.y*ml"))


def load_dir(rules_dir: str | Path) -> tuple[list[LoadedSet], list[Problem]]:
    """Every set under rules_dir/criteria, and every problem of every file."""
    sets, problems = [], []
    for path in criteria_files(rules_dir):
        loaded, found = parse_file(path)
        problems.extend(found)
        if loaded:
            sets.append(loaded)
    seen: dict[tuple[str, str], str] = {}
    for loaded in sets:
        if loaded.key in seen:
            problems.append(Problem(loaded.file, f"set {loaded.spec.id}",
                                    f"duplicate set id and version {loaded.spec.id} {loaded.spec.version} "
                                    f"(also in {seen[loaded.key]})"))
        seen[loaded.key] = loaded.file
    if not criteria_files(rules_dir):
        problems.append(Problem(str(Path(rules_dir) / SUBDIR), "", "no criteria set files found"))
    return sets, problems


def frozen_conflicts(sets: list[LoadedSet], frozen: dict[tuple[str, str], str]) -> list[Problem]:
    """Files edited without a version bump: same id and version as a version already used, other content."""
    problems = []
    for loaded in sets:
        stored = frozen.get(loaded.key)
        if stored is not None and stored != loaded.sha256:
            problems.append(Problem(loaded.file, f"set {loaded.spec.id} version {loaded.spec.version}",
                                    f"content differs from the version already used by stored assessments "
                                    f"(sha256 {stored[:12]}… stored, {loaded.sha256[:12]}… now): give the "
                                    f"changed set a new version"))
    return problems


def run_case(compiled: CompiledSet, case) -> tuple[bool, str]:
    result = compiled.score(case.answers, case.facts)
    expect, errors = case.expect, []
    if result["level"] != expect.level:
        errors.append(f"level {result['level']!r}, expected {expect.level!r} "
                      f"(percent {result['aggregates']['percent']})")
    if expect.score is not None and abs(result["aggregates"]["score"] - expect.score) > 1e-9:
        errors.append(f"score {result['aggregates']['score']}, expected {expect.score}")
    if expect.percent is not None and abs(result["aggregates"]["percent"] - expect.percent) > 1e-6:
        errors.append(f"percent {result['aggregates']['percent']}, expected {expect.percent}")
    rows = {r["id"]: r for r in result["criteria"]}
    for cid, points in (expect.points or {}).items():
        if rows[cid]["points"] != points:
            errors.append(f"{cid}: points {rows[cid]['points']}, expected {points}")
    for cid in expect.not_evaluable or []:
        if rows[cid]["status"] != "not_evaluable":
            errors.append(f"{cid}: {rows[cid]['status']}, expected not_evaluable")
    return not errors, "; ".join(errors)


def run_tests(rules_dir: str | Path) -> list[TestOutcome]:
    sets, _problems = load_dir(rules_dir)
    return [TestOutcome(loaded.file, case.name, *run_case(loaded.compiled, case))
            for loaded in sets for case in loaded.spec.tests]
