"""Turning a stored result (codes and numbers) into the reader's language, with the frozen set's texts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.criteria import words
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


def _number(crit: Criterion):
    """How a threshold of `crit` reads: as its values do (a share as a percentage, a count with its unit)."""
    return lambda number: format_value(crit, number) if crit.answer != AnswerKind.YES_NO else f"{number:g}"


def _names_text(compiled: CompiledSet | None, names: list[str]) -> str:
    """The names an expression reads, as the items' texts or the facts' labels (never variable names)."""
    out = []
    for name in names:
        text = words.item_text(compiled.spec, name, locale()) if compiled else None
        out.append(f"“{text}”" if text else f"“{FACTS[name].label}”" if name in FACTS else name)
    return ", ".join(out)


def reason_text(crit: Criterion, row: dict, compiled: CompiledSet | None = None) -> str:
    reason = row.get("reason") or {}
    kind = reason.get("kind")
    if kind == "answer":
        return _("Answer: %(answer)s", answer=format_value(crit, row.get("value")))
    if kind in ("band", "otherwise"):
        value = format_value(crit, row.get("value"))
        band = crit.points[reason["band"]] if isinstance(crit.points, list) else None
        if band is not None and band.label:
            return _("%(value)s: %(band)s", value=value, band=band.label.get(locale()))
        if kind == "band" and compiled is not None:
            cc = compiled.criterion(crit.id)
            said = words.band_words(compiled.spec, crit, reason["band"], cc.bands[reason["band"]][0],
                                    _number(crit), locale()) if cc else None
            if said:
                return _("%(value)s: in the band “%(band)s”", value=value, band=said)
        if kind == "band":
            return _("%(value)s: meets a condition for these points", value=value)
        return _("%(value)s meets none of the conditions above", value=value)
    code = reason.get("code")
    if code == "fact":
        detail = REASONS.get(reason.get("fact_reason"), REASONS["not_provided"])
        return _("Not evaluable: %(reason)s", reason=str(detail))
    if code == "depends":
        return _("Not evaluable: it depends on %(names)s, which has no value.",
                 names=_names_text(compiled, reason.get("names", [])))
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
                cc = compiled.criterion(crit.id)
                source = _("Computed from %(names)s", names=_names_text(compiled, list(cc.compute.names)))
            else:
                source = _("Answered")
            views.append(CriterionView(
                crit.id, group.title.get(lang), crit.text.get(lang), source, crit.critical, crit.unverified,
                format_value(crit, row.get("value")), row.get("points"),
                row.get("max", crit.max_points), row.get("passed"), row.get("status", ""),
                reason_text(crit, row, compiled) if row else ""))
    return views


@dataclass
class FailingView:
    """A criterion the result fails (or could not evaluate), what it got and what it needed, in words."""

    id: str
    text: str
    critical: bool
    got: str
    needed: str
    points: float | None
    max: float
    evaluable: bool


def failing_views(compiled: CompiledSet, result: dict | None) -> list[FailingView]:
    """The failed criteria of a result, critical ones first, each named by its text with the threshold it missed;
    critical criteria that could not be evaluated too, since they decide the level. Risk mode
    has no pass or fail: its indicators are read from the table."""
    if not result or result.get("mode") == "risk_percent":
        return []
    lang = locale()
    out = []
    for row in result.get("criteria", []):
        cc = compiled.criterion(row["id"])
        if cc is None:
            continue
        crit = cc.spec
        evaluable = row.get("status") == "scored"
        if evaluable and row.get("passed"):
            continue
        if not evaluable and not crit.critical:
            continue
        got = format_value(crit, row.get("value")) if evaluable else reason_text(crit, row, compiled)
        out.append(FailingView(crit.id, crit.text.get(lang), crit.critical, got,
                               words.needed_words(compiled.spec, cc, _number(crit), lang),
                               row.get("points"), row.get("max", cc.max_points), evaluable))
    out.sort(key=lambda f: not f.critical)
    return out


FOLLOW_UP_LABELS = {"open": _l("Open: to remedy"), "remedied": _l("Remedied: awaiting the inspector's check"),
                    "closed": _l("Closed")}
_FOLLOW_UP_COLOURS = {"open": "warning", "remedied": "info", "closed": "success"}


@dataclass
class FollowUpView:
    state: str
    label: str
    colour: str
    deadline: date | None
    overdue: bool


def follow_up_view(assessment, today: date) -> FollowUpView:
    """An inspection's follow-up state in words; an open one past its deadline says so."""
    from backoffice.criteria.inspections import overdue
    late = overdue(assessment, today)
    label = str(FOLLOW_UP_LABELS.get(assessment.follow_up, assessment.follow_up))
    if late:
        label = _("%(state)s, past the deadline", state=label)
    return FollowUpView(assessment.follow_up, label, "danger" if late else _FOLLOW_UP_COLOURS.get(
        assessment.follow_up, "secondary"), assessment.remedy_deadline, late)
