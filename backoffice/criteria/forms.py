"""WTForms forms generated from a criteria set: one field per asked item, Vietnamese labels and help."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, FloatField, IntegerField, RadioField
from wtforms.validators import InputRequired, Optional, ValidationError

from backoffice.criteria.engine import CompiledSet
from backoffice.criteria.schema import AnswerKind, Criterion, Input, var_name


def field_name(item_id: str) -> str:
    return "q_" + var_name(item_id)


def _field(item: Criterion | Input, locale: str, required: bool) -> Field:
    label = item.text.get(locale)
    help_text = item.help.get(locale) if item.help else ""
    if item.unit:
        help_text = (help_text + " " if help_text else "") + f"({item.unit.get(locale)})"
    presence = InputRequired(message=_l("This answer is required.")) if required else Optional()
    if item.answer == AnswerKind.YES_NO:
        return RadioField(label, choices=[("yes", _l("Yes")), ("no", _l("No"))], validators=[presence],
                          description=help_text)
    if item.answer == AnswerKind.CHOICE:
        return RadioField(label, choices=[(o.id, o.label.get(locale)) for o in item.options or []],
                          validators=[presence], description=help_text)
    kind = IntegerField if item.integer else FloatField
    return kind(label, validators=[presence, SameRule(item)], description=help_text)


class SameRule:
    """The service's own check of a number (bounds, whole number), so the form and the operation agree."""

    def __init__(self, item: Criterion | Input):
        self.item = item

    def __call__(self, form, field) -> None:
        from backoffice.criteria.service import _clean_one
        try:
            _clean_one(self.item, field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def answer_form(compiled: CompiledSet, locale: str, answers: dict[str, Any], required: bool,
                formdata: Any = None) -> FlaskForm:
    """A form for the set's asked items, pre-filled with `answers` (stored form) when not posting."""

    class AnswerForm(FlaskForm):
        pass

    for item in compiled.asked():
        setattr(AnswerForm, field_name(item.id), _field(item, locale, required))
    data = {field_name(k): v for k, v in answers.items()}
    form = AnswerForm(formdata=formdata, data=data) if formdata is not None else AnswerForm(formdata=None, data=data)
    form.items = {field_name(item.id): item for item in compiled.asked()}
    return form


def answers_from(form: FlaskForm, compiled: CompiledSet) -> dict[str, Any]:
    return {item.id: form[field_name(item.id)].data for item in compiled.asked()}
