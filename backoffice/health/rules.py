"""Health-status rule files (`rules/health_status/*.yaml`): their schema (pydantic v2), loading with every problem
reported at once, compilation of the `when` expressions with `rule-engine` (typed, no `eval`), and the set in
force on a day. Deciding a person's status from facts is `health.status`.
"""
from __future__ import annotations

import logging
import os
import re
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import rule_engine
from flask import current_app
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backoffice import rules_in_force
from backoffice.health.vaccines import vaccine_key
from backoffice.rulebook import Problem, read_model

if TYPE_CHECKING:
    from backoffice.health.status import HealthStatus

log = logging.getLogger(__name__)
SUBDIR = "health_status"
FACT_TYPES = {
    "doses": rule_engine.DataType.FLOAT, "other_doses": rule_engine.DataType.FLOAT,
    "days_since_first_dose": rule_engine.DataType.FLOAT, "days_since_last_dose": rule_engine.DataType.FLOAT,
    "doses_required": rule_engine.DataType.FLOAT, "fully_vaccinated": rule_engine.DataType.BOOLEAN,
    "recovered_days": rule_engine.DataType.FLOAT,
}


# --- schema ----------------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VaccineSpec(_Strict):
    name: str = Field(min_length=1, max_length=64)
    doses_required: int = Field(ge=1, le=10)
    synonyms: list[str] = []  # what people write instead of the code or name (see health.vaccines)


class OutcomeSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    colour: Literal["green", "black"]
    when: str
    reason: str = Field(min_length=1)


class DoseSpec(_Strict):
    vaccine: str
    days_ago: int = Field(ge=-36_500, le=36_500)  # a century either way; more overflows the date


class ExpectSpec(_Strict):
    colour: Literal["green", "black"]
    outcome: str | None = None
    reason: dict[Literal["vi", "en"], str] = {}  # by the app's languages (another would fail in Babel)


class TestCaseSpec(_Strict):
    name: str
    day: date | None = None  # the scan day; not `on`, which YAML 1.1 reads as a boolean
    vaccinations: list[DoseSpec] = []
    recovered_days_ago: int | None = Field(None, ge=-36_500, le=36_500)
    expect: ExpectSpec


class RuleFile(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    valid_from: date
    valid_to: date | None = None
    title: dict[str, str]
    source: str = ""
    vaccines: dict[str, VaccineSpec] = Field(min_length=1)
    params: dict[str, int | float] = {}
    outcomes: list[OutcomeSpec] = Field(min_length=1)
    tests: list[TestCaseSpec] = Field(min_length=1)

    @field_validator("params")
    @classmethod
    def _no_shadowing(cls, value: dict) -> dict:
        clash = set(value) & set(FACT_TYPES)
        if clash:
            raise ValueError(f"params may not reuse fact names: {sorted(clash)}")
        return value

    @field_validator("vaccines")
    @classmethod
    def _one_vocabulary(cls, value: dict[str, VaccineSpec]) -> dict[str, VaccineSpec]:
        """Codes are what doses store (the column holds 32 characters); every code, name and synonym must resolve
        to one product only, or a typed name would be counted under whichever came first."""
        owner: dict[str, str] = {}
        for code, spec in value.items():
            if not re.fullmatch(r"[a-z0-9_]{1,32}", code):
                raise ValueError(f"vaccine code {code!r}: lower-case letters, digits and _ only, at most 32")
            for text in (code, spec.name, *spec.synonyms):
                key = vaccine_key(text)
                if not key:
                    raise ValueError(f"{code}: {text!r} has no letter or digit")
                if owner.setdefault(key, code) != code:
                    raise ValueError(f"{code}: {text!r} is also a name of {owner[key]} (synonyms must be unique "
                                     f"across products; case, spaces, punctuation and diacritics are ignored)")
        return value

    @model_validator(mode="after")
    def _window_and_fallback(self) -> "RuleFile":
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if self.outcomes[-1].when.strip() != "true":
            raise ValueError("the last outcome must have `when: \"true\"` so every person gets an answer")
        return self


DECIDED_MAX = 100_000


@dataclass
class RuleSet:
    spec: RuleFile
    file: str
    compiled: list[tuple[OutcomeSpec, rule_engine.Rule]]
    decided: dict[tuple, HealthStatus] = field(default_factory=dict, repr=False, compare=False)  # see health.decide()

    def in_force(self, day: date) -> bool:
        return self.spec.valid_from <= day and (self.spec.valid_to is None or day <= self.spec.valid_to)

# --- loading ---------------------------------------------------------------------------------------

def _context_for(params: dict) -> rule_engine.Context:
    types = dict(FACT_TYPES)
    types.update({name: rule_engine.DataType.FLOAT for name in params})
    return rule_engine.Context(type_resolver=rule_engine.type_resolver_from_dict(types))


def load_file(path: Path) -> tuple[RuleSet | None, list[Problem]]:
    """Parse, validate and compile one rule file; every problem found is returned, none raised."""
    name = path.name
    spec, _raw, problems = read_model(path, name, RuleFile, "the file must be a mapping (id, version, outcomes…)")
    if spec is None:
        return None, problems
    compiled = []
    context = _context_for(spec.params)
    names = set(FACT_TYPES) | set(spec.params)
    for index, outcome in enumerate(spec.outcomes):
        where = f"outcomes[{index}] ({outcome.id})"
        try:
            compiled.append((outcome, rule_engine.Rule(outcome.when, context=context)))
        except rule_engine.errors.EngineError as exc:
            problems.append(Problem(name, where + ".when", f"{type(exc).__name__}: {exc.message}"))
        # Placeholders are plain fact or param names: "{doses[0]}" or "{recovered_days.real}" would fail (or
        # read an attribute) only at scan time, when the fact is None or a float.
        try:
            fields = [f for _text, f, _spec, _conv in string.Formatter().parse(outcome.reason) if f is not None]
            outcome.reason.format(**{n: 1 for n in names})
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            problems.append(Problem(name, where + ".reason", f"unknown placeholder {exc}"))
        else:
            for placeholder in fields:
                if placeholder not in names:
                    problems.append(Problem(name, where + ".reason", f"placeholder {{{placeholder}}} is not a fact "
                                                                     f"or param name"))
    ids = [o.id for o in spec.outcomes]
    if len(set(ids)) != len(ids):
        problems.append(Problem(name, "outcomes", "outcome ids must be unique"))
    for test in spec.tests:
        if test.day is not None and not RuleSet(spec, name, []).in_force(test.day):
            problems.append(Problem(name, f"tests.{test.name}", "`day` is outside the file's validity window"))
        if test.expect.outcome and test.expect.outcome not in ids:
            problems.append(Problem(name, f"tests.{test.name}", f"unknown outcome {test.expect.outcome!r}"))
    return (None if problems else RuleSet(spec, name, compiled)), problems


def _directory(rules_dir: str | None = None) -> Path:
    return Path(rules_dir or current_app.config["BACKOFFICE_RULES_DIR"]) / SUBDIR


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_all(rules_dir: str | None = None) -> tuple[list[RuleSet], list[Problem]]:
    sets, problems = [], []
    for path in _files(_directory(rules_dir)):
        rule_set, found = load_file(path)
        problems += found
        if rule_set:
            sets.append(rule_set)
    # Two files in force on the same day would make the answer depend on file order.
    ordered = sorted(sets, key=lambda s: s.spec.valid_from)
    for earlier, later in zip(ordered, ordered[1:]):
        if earlier.spec.valid_to is None or earlier.spec.valid_to >= later.spec.valid_from:
            if earlier.spec.valid_to is not None:
                problems.append(Problem(later.file, "valid_from",
                                        f"overlaps {earlier.file} (in force until {earlier.spec.valid_to})"))
    if not sets and not problems:
        problems.append(Problem(SUBDIR, "", "no health-status rule file"))
    return sets, problems


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, tuple, list[RuleSet]]] = {}
# Each scan asks for the rules; listing the directory for every one would cost more than deciding. An edited file
# is picked up within this many seconds (stored check-ins keep the rule id and version they were decided by).
RECHECK_SECONDS = 1.0


def rule_sets(rules_dir: str | None = None) -> list[RuleSet]:
    """Valid rule sets, reloaded when a file changes (invalid files are logged and left out)."""
    key = rules_dir or current_app.config["BACKOFFICE_RULES_DIR"]
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < RECHECK_SECONDS:
        return hit[2]
    directory = _directory(rules_dir)
    try:
        signature = tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in sorted(
            os.scandir(directory), key=lambda e: e.name) if e.name.endswith((".yaml", ".yml")))
    except FileNotFoundError:
        signature = ()
    if hit and hit[1] == signature:
        sets = hit[2]
    else:
        sets, problems = load_all(rules_dir)
        for problem in problems:
            log.error("health-status rules: %s", problem)
        if rules_dir is None:
            # What this host scores with, compared with the files in force on every host (rules_in_force).
            rules_in_force.loaded(SUBDIR, key, rules_in_force.file_digests(_files(directory)),
                                  valid=[s.file for s in sets])
    with _cache_lock:
        _cache[key] = (now, signature, sets)
    return sets


def rule_set_for(day: date, rules_dir: str | None = None) -> RuleSet | None:
    """The rule set in force on `day` (the latest-starting one, if windows were left open)."""
    candidates = [s for s in rule_sets(rules_dir) if s.in_force(day)]
    if rules_dir is None:
        rules_in_force.require(SUBDIR)
    return max(candidates, key=lambda s: s.spec.valid_from) if candidates else None
