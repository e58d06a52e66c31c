"""Turning a stored result (codes and numbers) into the reader's language, with the frozen set's texts."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import gettext as _

from backoffice.criteria.engine import NOT_EVALUABLE_LEVEL, CompiledSet
from backoffice.criteria.facts import FACTS, REASONS
from backoffice.criteria.schema import AnswerKind, Criterion


def locale() -> str:
    return str(get_locale() or "vi")


@dataclass
class LevelView:
    id: str
    label: str
    description: str
    may_operate: bool | None
    colour: str
    reason: str


def level_view(compiled: CompiledSet, result: dict | None) -> LevelView | None:
    if not result:
        return None
    lang = locale()
    if result["level"] == NOT_EVALUABLE_LEVEL:
        return LevelView(NOT_EVALUABLE_LEVEL, _("Not evaluable"), _("No criterion could be evaluated."), None,
                         "secondary", "")
    level = compiled.spec.level(result["level"])
    index = result.get("classification_rule")
    rule = compiled.spec.classification[index] if index is not None else None
    return LevelView(level.id, level.label.get(lang), level.description.get(lang) if level.description else "",
                     level.may_operate, level.colour, rule.reason.get(lang) if rule and rule.reason else "")


def level_label(compiled: CompiledSet | None, level_id: str | None) -> str:
    if not level_id:
        return ""
    if level_id == NOT_EVALUABLE_LEVEL:
        return _("Not evaluable")
    level = compiled.spec.level(level_id) if compiled else None
    return level.label.get(locale()) if level else level_id


def format_value(crit: Criterion, value) -> str:
    if value is None:
        return "—"
    if crit.answer == AnswerKind.YES_NO:
        return _("Yes") if value else _("No")
    if crit.answer == AnswerKind.CHOICE:
        option = next((o for o in crit.options or [] if o.id == value), None)
        return option.label.get(locale()) if option else str(value)
    if crit.fact == "staff_green_share":
        return f"{value * 100:.1f}%".replace(".0%", "%")
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    unit = crit.unit.get(locale()) if crit.unit else ""
    return f"{text} {unit}".strip()


def reason_text(crit: Criterion, row: dict) -> str:
    reason = row.get("reason") or {}
    kind = reason.get("kind")
    if kind == "answer":
        return _("Answer: %(answer)s", answer=format_value(crit, row.get("value")))
    if kind in ("band", "otherwise"):
        band = crit.points[reason["band"]] if isinstance(crit.points, list) else None
        if band is not None and band.label:
            return band.label.get(locale())
        if kind == "band":
            return _("%(value)s meets the condition “%(when)s”", value=format_value(crit, row.get("value")),
                     when=reason.get("when", ""))
        return _("%(value)s meets none of the conditions above", value=format_value(crit, row.get("value")))
    code = reason.get("code")
    if code == "fact":
        detail = REASONS.get(reason.get("fact_reason"), REASONS["not_provided"])
        return _("Not evaluable: %(reason)s", reason=str(detail))
    if code == "depends":
        return _("Not evaluable: it depends on %(names)s, which has no value.", names=", ".join(reason.get("names", [])))
    if code == "math_error":
        return _("Not evaluable: the value cannot be computed (for example a division by zero).")
    if code == "missing_answer":
        return _("Not evaluable: not answered.")
    return ""


@dataclass
class CriterionView:
    id: str
    group: str
    text: str
    source: str  # asked / computed from data / computed
    critical: bool
    unverified: bool
    value: str
    points: float | None
    max: float
    passed: bool | None
    status: str
    reason: str


def criterion_views(compiled: CompiledSet, result: dict | None) -> list[CriterionView]:
    lang = locale()
    rows = {r["id"]: r for r in (result or {}).get("criteria", [])}
    views = []
    for group in compiled.spec.groups:
        for crit in group.criteria:
            row = rows.get(crit.id, {})
            if crit.fact:
                source = _("From data: %(fact)s", fact=str(FACTS[crit.fact].label))
            elif crit.compute:
                source = _("Computed: %(expression)s", expression=crit.compute)
            else:
                source = _("Answered")
            views.append(CriterionView(
                crit.id, group.title.get(lang), crit.text.get(lang), source, crit.critical, crit.unverified,
                format_value(crit, row.get("value")), row.get("points"),
                row.get("max", crit.max_points), row.get("passed"), row.get("status", ""),
                reason_text(crit, row) if row else ""))
    return views
