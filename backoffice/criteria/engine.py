"""Compile a validated criteria set once (typed rule-engine expressions) and score answers + facts with it.

Scoring is a pure function of (set, answers, facts): re-scoring a stored assessment with its frozen set
gives its stored result back. The result is plain JSON: reasons are codes and parameters, rendered in the
reader's language when shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import rule_engine

from backoffice.criteria.facts import FACTS
from backoffice.criteria.schema import AnswerKind, Band, CriteriaSet, Criterion, Input, Mode, var_name

ENGINE_VERSION = 1
NOT_EVALUABLE_LEVEL = "not_evaluable"
AGGREGATES = ("score", "max_score", "percent", "passed", "failed", "critical_failed", "critical_not_evaluable",
              "not_evaluable", "evaluated", "highest_points", "criteria_count")
_TYPES = {AnswerKind.YES_NO: rule_engine.DataType.BOOLEAN, AnswerKind.CHOICE: rule_engine.DataType.STRING,
          AnswerKind.NUMBER: rule_engine.DataType.FLOAT}


class CompileError(ValueError):
    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


@dataclass
class Expr:
    """A compiled expression and the names it reads (so a missing value makes it 'not evaluable')."""

    source: str
    rule: rule_engine.Rule
    names: tuple[str, ...]
    _cache: dict = field(default_factory=dict)

    def evaluate(self, values: dict[str, Any]) -> Any:
        # Expressions are pure, and real answers repeat (yes/no, a few bands): memoise on the inputs.
        key = tuple(values[n] for n in self.names)
        try:
            return self._cache[key]
        except KeyError:
            pass
        result = self.rule.evaluate({n: values[n] for n in self.names})
        if len(self._cache) < 50_000:
            self._cache[key] = result
        return result


def _compile(source: str, types: dict[str, rule_engine.DataType], where: str, want: rule_engine.DataType) -> Expr:
    names: list[str] = []

    def resolver(name: str):
        if name not in types:
            raise rule_engine.errors.SymbolResolutionError(name)
        if name not in names:
            names.append(name)
        return types[name]

    context = rule_engine.Context(type_resolver=resolver, default_timezone="UTC")
    try:
        rule = rule_engine.Rule(source, context=context)
    except rule_engine.errors.SymbolResolutionError as exc:
        raise CompileError(where, f"unknown name '{exc.symbol_name}' in expression \"{source}\" "
                                  f"(known: {', '.join(sorted(types))})") from None
    except rule_engine.errors.RuleSyntaxError as exc:
        raise CompileError(where, f"bad expression \"{source}\": {exc.message}") from None
    except rule_engine.errors.EvaluationError as exc:
        raise CompileError(where, f"type mismatch in expression \"{source}\": {exc.message}") from None
    except rule_engine.errors.EngineError as exc:
        raise CompileError(where, f"bad expression \"{source}\": {exc.message}") from None
    got = rule.statement.expression.result_type
    if got != want and got != rule_engine.DataType.UNDEFINED:
        what = "a true/false condition" if want == rule_engine.DataType.BOOLEAN else f"a {want.name.lower()}"
        raise CompileError(where, f"expression \"{source}\" must be {what}, not a {got.name.lower()}")
    return Expr(source, rule, tuple(names))


def _item_type(item: Criterion | Input) -> rule_engine.DataType:
    return _TYPES[item.answer] if item.answer is not None else rule_engine.DataType.FLOAT


@dataclass
class CompiledCriterion:
    spec: Criterion
    var: str
    max_points: float
    pass_points: float
    bands: list[tuple[Expr | None, Band]] = field(default_factory=list)
    compute: Expr | None = None
    option_points: dict[str, float] = field(default_factory=dict)


class CompiledSet:
    """A criteria set ready to score; build with `compile_set`."""

    def __init__(self, spec: CriteriaSet, criteria: list[CompiledCriterion], inputs: dict[str, Input],
                 classification: list[tuple[Expr | None, int]], fact_names: set[str]):
        self.spec, self.criteria, self.inputs = spec, criteria, inputs
        self.classification, self.fact_names = classification, fact_names
        self.key = (spec.id, spec.version)
        self._asked = list(inputs.values()) + [c.spec for c in criteria if c.spec.asked]
        self._asked_vars = [(item, var_name(item.id)) for item in self._asked]
        self._by_id = {c.spec.id: c for c in criteria}

    def criterion(self, criterion_id: str) -> CompiledCriterion | None:
        return self._by_id.get(criterion_id)

    # --- answers ---------------------------------------------------------------------------------
    def asked(self) -> list[Criterion | Input]:
        """What a form asks, in order: the inputs, then the asked criteria."""
        return list(self._asked)

    def score(self, answers: dict[str, Any], facts: dict[str, Any]) -> dict:
        values: dict[str, Any] = {}
        fact_reasons: dict[str, str] = {}
        for name in self.fact_names:
            raw = facts.get(name)
            value = raw.get("value") if isinstance(raw, dict) else raw
            values[name] = None if value is None else float(value)
            if value is None:
                fact_reasons[name] = (raw.get("reason") if isinstance(raw, dict) else None) or "not_provided"
        for item, var in self._asked_vars:
            values[var] = _answer_value(item, answers.get(item.id))
        rows = [self._score_one(crit, values, fact_reasons) for crit in self.criteria]
        aggregates = _aggregates(self.spec.scoring.mode, rows)
        level, rule_index = self._classify(aggregates)
        return {"engine": ENGINE_VERSION, "set_id": self.spec.id, "version": self.spec.version,
                "mode": self.spec.scoring.mode.value, "level": level, "classification_rule": rule_index,
                "aggregates": aggregates, "criteria": rows}

    def _score_one(self, crit: CompiledCriterion, values: dict, fact_reasons: dict) -> dict:
        spec = crit.spec
        row = {"id": spec.id, "critical": spec.critical, "max": crit.max_points, "status": "not_evaluable",
               "points": None, "passed": None, "value": None}
        if spec.fact is not None:
            value = values[spec.fact]
            if value is None:
                row["reason"] = {"kind": "not_evaluable", "code": "fact", "fact": spec.fact,
                                 "fact_reason": fact_reasons.get(spec.fact, "not_provided")}
                return row
        elif spec.compute is not None:
            missing = [n for n in crit.compute.names if values[n] is None]
            if missing:
                row["reason"] = {"kind": "not_evaluable", "code": "depends", "names": missing}
                return row
            try:
                value = float(crit.compute.evaluate(values))
            except (rule_engine.errors.EvaluationError, ArithmeticError, TypeError):
                row["reason"] = {"kind": "not_evaluable", "code": "math_error", "expression": spec.compute}
                return row
        else:
            value = values[crit.var]
            if value is None:
                row["reason"] = {"kind": "not_evaluable", "code": "missing_answer"}
                return row
        row["value"] = value
        if spec.answer == AnswerKind.YES_NO:
            answer = "yes" if value else "no"
            points, reason = spec.points[answer], {"kind": "answer", "answer": answer}
        elif spec.answer == AnswerKind.CHOICE:
            points, reason = crit.option_points[value], {"kind": "answer", "answer": value}
        else:
            points, reason = self._band(crit, values, value)
            if points is None:
                row["reason"] = reason
                return row
        row.update(status="scored", points=points, passed=points >= crit.pass_points, reason=reason)
        return row

    def _band(self, crit: CompiledCriterion, values: dict, value: float) -> tuple[float | None, dict]:
        scope = values  # our own dict: `value` is this criterion's, overwritten by the next one
        scope["value"] = value
        for index, (expr, band) in enumerate(crit.bands):
            if expr is None:
                return band.value, {"kind": "otherwise", "band": index}
            missing = [n for n in expr.names if scope[n] is None]
            if missing:
                return None, {"kind": "not_evaluable", "code": "depends", "names": missing}
            if expr.evaluate(scope):
                return band.value, {"kind": "band", "band": index, "when": expr.source}
        raise AssertionError("the last band is 'otherwise' (schema)")

    def _classify(self, aggregates: dict) -> tuple[str, int | None]:
        if aggregates["evaluated"] == 0:
            return NOT_EVALUABLE_LEVEL, None
        for expr, index in self.classification:
            if expr is None or expr.evaluate(aggregates):
                return self.spec.classification[index].target, index
        raise AssertionError("the last classification rule is 'otherwise' (schema)")


def _answer_value(item: Criterion | Input, raw: Any) -> Any:
    """A stored answer as the expression type; None when missing (validated on the way in)."""
    if raw is None or raw == "":
        return None
    if item.answer == AnswerKind.YES_NO:
        return raw is True or raw == "yes"
    if item.answer == AnswerKind.CHOICE:
        return str(raw)
    return float(raw)


def _aggregates(mode: Mode, rows: list[dict]) -> dict:
    scored = [r for r in rows if r["status"] == "scored"]
    score = sum(r["points"] for r in scored)
    max_score = sum(r["max"] for r in scored)
    passed = sum(1 for r in scored if r["passed"])
    return {
        "score": round(score, 4),
        "max_score": round(max_score, 4),
        # score*100/max rather than score/max*100: 30/100*100 is 30.000000000000004, which breaks a band edge.
        "percent": round(score * 100 / max_score, 4) if max_score else 0.0,
        "passed": passed,
        "failed": len(scored) - passed,
        "critical_failed": sum(1 for r in scored if r["critical"] and not r["passed"]),
        "critical_not_evaluable": sum(1 for r in rows if r["critical"] and r["status"] != "scored"),
        "not_evaluable": len(rows) - len(scored),
        "evaluated": len(scored),
        "highest_points": max((r["points"] for r in scored), default=0),
        "criteria_count": len(rows),
    }


class CompileErrors(ValueError):
    """Every compile error of one set."""

    def __init__(self, errors: list[CompileError]):
        super().__init__("; ".join(f"{e.where}: {e}" for e in errors))
        self.errors = errors


def compile_set(spec: CriteriaSet) -> CompiledSet:
    """Compile every expression with declared types; raise CompileErrors naming each criterion at fault."""
    errors: list[CompileError] = []
    items: dict[str, rule_engine.DataType] = {}
    seen: dict[str, str] = {}
    inputs = {i.id: i for i in spec.inputs}
    for item in list(spec.inputs) + spec.criteria():
        var = var_name(item.id)
        kind = "input" if item.id in inputs else "criterion"
        if var in seen:
            errors.append(CompileError(f"{kind} {item.id}", f"duplicate id '{item.id}' (also used by {seen[var]})"))
        elif var in FACTS or var in AGGREGATES or var == "value":
            errors.append(CompileError(f"{kind} {item.id}", f"id '{item.id}' is a reserved name (a fact or aggregate)"))
        seen[var] = item.id
        items[var] = _item_type(item)
    for item in spec.inputs:
        if item.answer == AnswerKind.NUMBER and (item.min is None or item.max is None or item.min > item.max):
            errors.append(CompileError(f"input {item.id}", "a number input needs bounds min <= max"))
        if item.answer == AnswerKind.CHOICE and not item.options:
            errors.append(CompileError(f"input {item.id}", "a choice input needs options"))
    names = {**items, **{name: rule_engine.DataType.FLOAT for name in FACTS}}
    fact_names: set[str] = set()
    compiled: list[CompiledCriterion] = []
    for crit in spec.criteria():
        try:
            compiled.append(_compile_criterion(spec, crit, names, items, fact_names))
        except CompileError as exc:
            errors.append(exc)
    level_ids = {lv.id for lv in spec.levels}
    agg_types = {name: rule_engine.DataType.FLOAT for name in AGGREGATES}
    classification: list[tuple[Expr | None, int]] = []
    for index, rule in enumerate(spec.classification):
        where = f"classification rule {index + 1}"
        if rule.target not in level_ids:
            errors.append(CompileError(where, f"missing level '{rule.target}': not defined in 'levels' "
                                              f"(defined: {', '.join(sorted(level_ids))})"))
        if rule.otherwise is not None and index != len(spec.classification) - 1:
            errors.append(CompileError(where, "only the last classification rule may be 'otherwise'"))
        try:
            expr = None if rule.when is None else _compile(rule.when, agg_types, where,
                                                           rule_engine.DataType.BOOLEAN)
        except CompileError as exc:
            errors.append(exc)
            continue
        classification.append((expr, index))
    from backoffice.criteria.words import undescribable_bands
    for crit_id, condition in undescribable_bands(spec, compiled):
        # A reader sees every band as words: the condition must be simple, or labelled.
        errors.append(CompileError(f"criterion {crit_id}", f"band \"{condition}\" cannot be put in words: give "
                                                           "it a label {vi: …, en: …}"))
    if spec.classification[-1].otherwise is None:
        errors.append(CompileError("classification", "missing level for the remaining cases: the last rule must "
                                                     "be {otherwise: <level>}"))
    if errors:
        raise CompileErrors(errors)
    return CompiledSet(spec, compiled, inputs, classification, fact_names)


def _compile_criterion(spec: CriteriaSet, crit: Criterion, names: dict, items: dict,
                       fact_names: set[str]) -> CompiledCriterion:
    where = f"criterion {crit.id}"
    if crit.fact is not None:
        if crit.fact not in FACTS:
            raise CompileError(where, f"unknown fact '{crit.fact}' (known: {', '.join(sorted(FACTS))})")
        fact_names.add(crit.fact)
    values = crit.point_values()
    if spec.scoring.mode == Mode.PASS_FAIL and any(v not in (0, 1) for v in values):
        raise CompileError(where, "in pass_fail mode points are 1 (pass) or 0 (fail)")
    if any(v < 0 for v in values):
        raise CompileError(where, "points cannot be negative")
    scale = spec.scoring.scale
    if scale is not None and max(values) > scale:
        raise CompileError(where, f"points above the set's scale of {scale:g}")
    cc = CompiledCriterion(crit, var_name(crit.id), scale if scale is not None else max(values),
                           crit.pass_points if crit.pass_points is not None else max(values))
    own = {k: v for k, v in names.items() if k != cc.var}
    if crit.compute is not None:
        cc.compute = _compile(crit.compute, own, where, rule_engine.DataType.FLOAT)
        fact_names.update(n for n in cc.compute.names if n in FACTS)
        if any(n in items and _is_computed(spec, n) for n in cc.compute.names):
            raise CompileError(where, "a computed criterion may not use another computed criterion")
    if isinstance(crit.points, list):
        band_types = {**own, "value": rule_engine.DataType.FLOAT}
        for band in crit.points:
            expr = None if band.when is None else _compile(band.when, band_types, where,
                                                           rule_engine.DataType.BOOLEAN)
            if expr is not None:
                fact_names.update(n for n in expr.names if n in FACTS)
            cc.bands.append((expr, band))
    if crit.options:
        cc.option_points = {o.id: o.points for o in crit.options}
    return cc


def _is_computed(spec: CriteriaSet, var: str) -> bool:
    return any(var_name(c.id) == var and c.compute is not None for c in spec.criteria())
