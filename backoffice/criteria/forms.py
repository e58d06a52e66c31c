"""WTForms forms generated from a criteria set: one field per asked item, Vietnamese labels and help."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, Field, FloatField, IntegerField, RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from backoffice.criteria.engine import CompiledSet
from backoffice.criteria.inspections import FINDINGS_MAX, NOTE_MAX
from backoffice.criteria.schema import AnswerKind, Criterion, Input, var_name


def field_name(item_id: str) -> str:
    return "q_" + var_name(item_id)


def note_name(criterion_id: str) -> str:
    """The field of an inspector's note on one criterion."""
    return "n_" + var_name(criterion_id)


class DayField(DateField):
    """A date (the browser's date picker sends YYYY-MM-DD); anything else is refused in the reader's language."""

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Enter a date."))) from None


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
                formdata: Any = None, record: dict | None = None) -> FlaskForm:
    """A form for the set's asked items, pre-filled with `answers` (stored form) when not posting; with an
    inspection's `record` (notes, findings, deadline) its own fields too."""

    class AnswerForm(FlaskForm):
        pass

    for item in compiled.asked():
        setattr(AnswerForm, field_name(item.id), _field(item, locale, required))
    data = {field_name(k): v for k, v in answers.items()}
    if record is not None:  # an inspection: a note per criterion, the findings and the deadline to remedy
        length = Length(max=NOTE_MAX, message=_l("At most %(max)d characters."))
        for cc in compiled.criteria:
            setattr(AnswerForm, note_name(cc.spec.id),
                    TextAreaField(_l("Inspector's note"), validators=[Optional(), length]))
        AnswerForm.findings = TextAreaField(_l("Findings"), validators=[
            Optional(), Length(max=FINDINGS_MAX, message=_l("At most %(max)d characters."))],
            description=_l("What the inspection found, and what the organization must remedy."))
        AnswerForm.remedy_deadline = DayField(_l("Deadline to remedy"), validators=[Optional()],
                                              description=_l("Required when a critical criterion fails or the "
                                                             "organization may not operate."))
        data.update({note_name(k): v for k, v in (record.get("notes") or {}).items()},
                    findings=record.get("findings") or "", remedy_deadline=record.get("deadline"))
    form = AnswerForm(formdata=formdata, data=data) if formdata is not None else AnswerForm(formdata=None, data=data)
    form.items = {field_name(item.id): item for item in compiled.asked()}
    return form


def answers_from(form: FlaskForm, compiled: CompiledSet) -> dict[str, Any]:
    return {item.id: form[field_name(item.id)].data for item in compiled.asked()}


def record_from(form: FlaskForm, compiled: CompiledSet) -> dict[str, Any]:
    """An inspection's notes, findings and deadline as the service takes them."""
    return {"notes": {cc.spec.id: form[note_name(cc.spec.id)].data or "" for cc in compiled.criteria},
            "findings": form.findings.data or "", "remedy_deadline": form.remedy_deadline.data}
