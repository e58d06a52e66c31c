"""The schema of a criteria set file (rules/criteria/*.yaml), validated with pydantic v2.

A set is a list of groups of criteria. A criterion is either *asked* (`answer: yes_no | choice | number`),
a *fact computed from data* (`fact: staff_green_share`, never asked), or *computed* from other values
(`compute: "floor_area_m2 / workers_on_site"`). Unscored questions that computed criteria need are `inputs`.
Expressions (rule-engine syntax) name criteria and inputs by their id with "." read as "_" (G1.1 → G1_1),
facts by their name, and a criterion's own value as `value`. Levels are decided by `classification`:
ordered rules over the aggregates (percent, score, critical_failed, …), the first that matches wins,
the last must be `otherwise`.
"""
from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.]*$"
SET_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
VERSION_PATTERN = r"^\d+(\.\d+){0,2}$"


class Mode(StrEnum):
    RISK = "risk_percent"  # risk points, percentage bands, higher is worse (1203, 2194)
    SAFETY = "safety_percent"  # safety points with critical criteria, higher is safer (1369, 3589)
    PASS_FAIL = "pass_fail"  # pass/fail counts with mandatory criteria (3588, MoET)


class AnswerKind(StrEnum):
    YES_NO = "yes_no"
    CHOICE = "choice"
    NUMBER = "number"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    """A text in Vietnamese (shown by default) with its English version."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.vi


class Source(Strict):
    reference: str = Field(min_length=1)  # e.g. "1203/QĐ-BCĐ (06/04/2020)"
    title: Text
    url: str | None = None
    note: Text | None = None


class Band(Strict):
    """`{when: "value >= 16", points: 1}` or the final `{otherwise: 10}`."""

    when: str | None = None
    points: float | None = None
    otherwise: float | None = None
    label: Text | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "Band":
        if self.otherwise is not None:
            if self.when is not None or self.points is not None:
                raise ValueError("a band is either {when, points} or {otherwise}")
        elif self.when is None or self.points is None:
            raise ValueError("a band needs both 'when' and 'points' (or is the final 'otherwise')")
        return self

    @property
    def value(self) -> float:
        return self.otherwise if self.otherwise is not None else self.points  # type: ignore[return-value]


class Option(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: Text
    points: float | None = None  # None for an unscored input


class Input(Strict):
    """An asked value that scores nothing itself (a computed criterion uses it)."""

    id: str = Field(pattern=ID_PATTERN)
    text: Text
    help: Text | None = None
    answer: AnswerKind
    unit: Text | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    options: list[Option] | None = None


def _yes_no_points(value: Any) -> Any:
    """Reject the YAML 1.1 trap (bare yes/no read as booleans) with a message that says what to write."""
    if isinstance(value, dict) and any(isinstance(k, bool) for k in value):
        raise ValueError('points keys must be the strings "yes" and "no" in quotes: YAML 1.1 reads bare '
                         "yes/no as true/false")
    return value


class Criterion(Strict):
    id: str = Field(pattern=ID_PATTERN)
    text: Text
    help: Text | None = None
    critical: bool = False  # safety mode: a critical criterion; pass/fail mode: a mandatory one
    unverified: bool = False  # the points or text could not be checked against the primary source
    # Exactly one of answer / fact / compute.
    answer: AnswerKind | None = None
    fact: str | None = None
    compute: str | None = None
    unit: Text | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    options: list[Option] | None = None
    points: dict[str, float] | list[Band] | None = None
    # The points from which the criterion counts as passed (default: its maximum; risk mode: unused).
    pass_points: float | None = None

    _check_yes_no = field_validator("points", mode="before")(_yes_no_points)

    @model_validator(mode="after")
    def _shape(self) -> "Criterion":
        sources = [name for name in ("answer", "fact", "compute") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError("a criterion needs exactly one of 'answer', 'fact' or 'compute'"
                             + (f" (has {', '.join(sources)})" if sources else ""))
        if self.answer == AnswerKind.YES_NO:
            if not isinstance(self.points, dict) or set(self.points) != {"yes", "no"}:
                raise ValueError('a yes_no criterion needs points: {"yes": <n>, "no": <n>}')
        elif self.answer == AnswerKind.CHOICE:
            if not self.options:
                raise ValueError("a choice criterion needs options")
            if self.points is not None:
                raise ValueError("a choice criterion gives points in its options, not in 'points'")
            if any(o.points is None for o in self.options):
                raise ValueError("every option of a scored choice needs points")
            if len({o.id for o in self.options}) != len(self.options):
                raise ValueError("duplicate option id")
        else:
            if not isinstance(self.points, list) or not self.points:
                raise ValueError("a number, fact or computed criterion needs points bands: "
                                 '[{when: "value >= …", points: n}, …, {otherwise: n}]')
            if self.points[-1].otherwise is None:
                raise ValueError("the last points band must be {otherwise: n}, so every value scores")
            if any(b.otherwise is not None for b in self.points[:-1]):
                raise ValueError("only the last points band may be 'otherwise'")
        if self.answer == AnswerKind.NUMBER and (self.min is None or self.max is None or self.min > self.max):
            raise ValueError("a number criterion needs bounds min <= max")
        return self

    def point_values(self) -> list[float]:
        if self.options:
            return [o.points for o in self.options if o.points is not None]
        if isinstance(self.points, dict):
            return list(self.points.values())
        return [b.value for b in self.points or []]

    @property
    def max_points(self) -> float:
        return max(self.point_values())

    @property
    def asked(self) -> bool:
        return self.answer is not None


class Group(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: Text
    criteria: list[Criterion] = Field(min_length=1)


class Level(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Text
    description: Text | None = None
    may_operate: bool
    colour: Literal["success", "info", "warning", "danger", "dark", "secondary"] = "secondary"


class Classification(Strict):
    """`{when: "percent < 30", level: low}`, with an optional reason; the last is `{otherwise: <level>}`."""

    when: str | None = None
    level: str | None = None
    otherwise: str | None = None
    reason: Text | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "Classification":
        if self.otherwise is not None:
            if self.when is not None or self.level is not None:
                raise ValueError("a classification rule is either {when, level} or {otherwise: <level>}")
        elif self.when is None or self.level is None:
            raise ValueError("a classification rule needs 'when' and 'level' (or is the final 'otherwise')")
        return self

    @property
    def target(self) -> str:
        return self.otherwise if self.otherwise is not None else self.level  # type: ignore[return-value]


class Scoring(Strict):
    mode: Mode
    # Every criterion is scored on the same scale up to `scale` (1203: each indicator 1..10, index = sum/100),
    # whatever its own highest option: the percentage is then out of scale × criteria.
    scale: float | None = Field(default=None, gt=0)


class TestExpect(Strict):
    level: str
    score: float | None = None
    percent: float | None = None
    points: dict[str, float] | None = None
    not_evaluable: list[str] | None = None


class TestCase(Strict):
    name: str = Field(min_length=1)
    answers: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, float | None] = Field(default_factory=dict)
    expect: TestExpect


class CriteriaSet(Strict):
    id: str = Field(pattern=SET_ID_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)
    valid_from: date
    valid_to: date | None = None
    title: Text
    description: Text | None = None
    sectors: list[str] = Field(default_factory=list)
    source: Source
    illustrative: bool
    scoring: Scoring
    levels: list[Level] = Field(min_length=1)
    classification: list[Classification] = Field(min_length=1)
    inputs: list[Input] = Field(default_factory=list)
    groups: list[Group] = Field(min_length=1)
    tests: list[TestCase] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 1.0` is read by YAML as a float; accept it as the text the author wrote.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    def criteria(self) -> list[Criterion]:
        return [c for g in self.groups for c in g.criteria]

    def level(self, level_id: str) -> Level | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def var_name(item_id: str) -> str:
    """The name an expression uses for a criterion or input id (G1.1 → G1_1)."""
    return item_id.replace(".", "_")
