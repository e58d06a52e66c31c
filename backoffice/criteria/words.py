"""Conditions and thresholds in words: a reader sees "từ 80% trở lên", never `value >= 0.8`.

Words are derived from the structure of a band's compiled expression (rule-engine's syntax tree): comparisons of
the criterion's value with a number or with another asked item, joined by "and"/"or". A band the tree cannot
put in words must carry a `label` in its YAML (the loader refuses it otherwise: `undescribable_bands`).

What a failed criterion needed is derived from its points: the answers, options or bands that would have given
at least its pass points.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Callable

import rule_engine.ast as ast
from flask_babel import gettext as _

from backoffice.criteria.schema import AnswerKind, CriteriaSet, Criterion, Input, var_name

_FLIP = {"ge": "le", "gt": "lt", "le": "ge", "lt": "gt", "eq": "eq", "ne": "ne"}


def _operator_words(op: str, operand: str) -> str:
    # One message per operator: translators see the whole phrase ("từ %(x)s trở lên" wraps its operand).
    if op == "ge":
        return _("at least %(x)s", x=operand)
    if op == "gt":
        return _("more than %(x)s", x=operand)
    if op == "le":
        return _("at most %(x)s", x=operand)
    if op == "lt":
        return _("less than %(x)s", x=operand)
    if op == "eq":
        return _("exactly %(x)s", x=operand)
    return _("other than %(x)s", x=operand)


def item_text(spec: CriteriaSet, name: str, locale: str) -> str | None:
    """The text of the asked item (input or criterion) an expression names as `name`, or None."""
    for item in list(spec.inputs) + spec.criteria():
        if var_name(item.id) == name:
            return item.text.get(locale).rstrip(".")
    return None


def expression_words(spec: CriteriaSet, node: ast.ExpressionBase, number: Callable[[float], str],
                     locale: str) -> str | None:
    """`node` (a band's condition on `value`) in words, or None when its shape is not one we can say."""
    if isinstance(node, ast.LogicExpression):
        left = expression_words(spec, node.left, number, locale)
        right = expression_words(spec, node.right, number, locale)
        if left is None or right is None:
            return None
        return _("%(a)s and %(b)s", a=left, b=right) if node.type == "and" else \
            _("%(a)s or %(b)s", a=left, b=right)
    if isinstance(node, (ast.ArithmeticComparisonExpression, ast.ComparisonExpression)) and node.type in _FLIP:
        op, left, right = node.type, node.left, node.right
        if not (isinstance(left, ast.SymbolExpression) and left.name == "value"):
            if isinstance(right, ast.SymbolExpression) and right.name == "value":
                op, left, right = _FLIP[op], right, left
            else:
                return None
        if isinstance(right, ast.FloatExpression):
            operand = number(float(right.value) if isinstance(right.value, Decimal) else right.value)
        elif isinstance(right, ast.SymbolExpression):
            text = item_text(spec, right.name, locale)
            if text is None:
                return None
            operand = _("the value of “%(item)s”", item=text)
        else:
            return None
        return _operator_words(op, operand)
    return None


def band_words(spec: CriteriaSet, crit: Criterion, index: int, expr, number: Callable[[float], str],
               locale: str) -> str | None:
    """Band `index` of `crit` in words: its YAML label if it has one, else derived from its compiled condition."""
    band = crit.points[index]  # type: ignore[index]
    if band.label is not None:
        return band.label.get(locale)
    if expr is None:  # the final `otherwise`
        return _("any other value")
    return expression_words(spec, expr.rule.statement.expression, number, locale)


def undescribable_bands(spec: CriteriaSet, compiled_criteria) -> list[tuple[str, str]]:
    """(criterion id, condition) of each band that has no label and cannot be put in words."""
    out = []
    for cc in compiled_criteria:
        for index, (expr, band) in enumerate(cc.bands):
            if expr is not None and band.label is None and \
                    expression_words(spec, expr.rule.statement.expression, str, "en") is None:
                out.append((cc.spec.id, band.when))
    return out


def answer_words(item: Criterion | Input, answer: str, locale: str) -> str:
    if item.answer == AnswerKind.YES_NO:
        return _("Yes") if answer == "yes" else _("No")
    option = next((o for o in item.options or [] if o.id == answer), None)
    return option.label.get(locale) if option else answer


def needed_words(spec: CriteriaSet, cc, number: Callable[[float], str], locale: str) -> str:
    """What `cc` (a compiled criterion) needs to pass, in words: the answers, options or bands worth at least its
    pass points."""
    crit = cc.spec
    if crit.answer == AnswerKind.YES_NO:
        good = [answer_words(crit, a, locale) for a, p in crit.points.items() if p >= cc.pass_points]
    elif crit.answer == AnswerKind.CHOICE:
        good = [o.label.get(locale) for o in crit.options or [] if (o.points or 0) >= cc.pass_points]
    else:
        good = [band_words(spec, crit, i, expr, number, locale) or "" for i, (expr, band) in enumerate(cc.bands)
                if band.value >= cc.pass_points]
    good = [g for g in good if g]
    if not good:
        return ""
    return _(" or ").join(f"“{g}”" for g in good)
