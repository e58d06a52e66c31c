"""Admin views over residents and their health records."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from backoffice.admin.base import ScopedModelView
from backoffice.admin.filters import choice_filter, ward_filter
from backoffice.admin.orgs import _label, _phone
from backoffice.auth.policy import model_access
from backoffice.date_bounds import Bounded, birth_date, recovery_date, test_time, vaccination_date
from backoffice.domain import ID_TYPE_LABELS, TestKind, TestOutcome, choices
from backoffice.forms import IdNumber, Phone
from backoffice.models import Person, mask_id
from backoffice.people import service as people

PEOPLE_LABELS = {
    "id_number": _l("ID number"), "id_type": _l("ID type"), "qid": _l("National QR id"), "full_name": _l("Full name"),
    "birth_date": _l("Date of birth"), "gender": _l("Gender"), "phone": _l("Phone"), "address": _l("Address"),
    "ward": _l("Ward"), "person": _l("Resident"), "vaccine": _l("Vaccine"), "dose_number": _l("Dose"),
    "vaccinated_on": _l("Vaccinated on"), "kind": _l("Kind"), "result": _l("Result"), "tested_at": _l("Tested at"),
    "recovered_on": _l("Recovered on"), "created_at": _l("Created"),
}

GENDER_CHOICES = [("", "—"), ("1", _l("Male")), ("2", _l("Female")), ("0", _l("Other"))]
TEST_KIND_LABELS = {TestKind.PCR: _l("RT-PCR"), TestKind.RAPID: _l("Rapid antigen test")}
TEST_RESULT_LABELS = {TestOutcome.POSITIVE: _l("Positive"), TestOutcome.NEGATIVE: _l("Negative")}


class PersonView(ScopedModelView):
    operations = people.PERSONS
    access = model_access("person")
    column_list = ["full_name", "id_number", "birth_date", "phone", "ward"]
    column_details_list = ["full_name", "id_number", "id_type", "qid", "birth_date", "gender", "phone", "address",
                           "ward", "created_at"]
    column_export_list = ["full_name", "id_number", "id_type", "birth_date", "phone", "address", "ward"]
    column_labels = PEOPLE_LABELS
    column_searchable_list = ["full_name", "id_number"]
    column_sortable_list = ["full_name", "birth_date", "created_at"]
    column_default_sort = ("id", True)
    # Lists mask ID numbers as the national QR's default display does; details show them in full.
    column_formatters = {"id_number": lambda v, c, m, n: mask_id(m.id_number), "phone": _phone,
                         "id_type": _label(ID_TYPE_LABELS)}
    column_formatters_detail = {"id_type": _label(ID_TYPE_LABELS), "phone": _phone}
    form_columns = ["full_name", "id_type", "id_number", "birth_date", "gender", "phone", "address", "ward"]
    form_overrides = {"id_type": SelectField, "gender": SelectField}
    form_args = {
        "full_name": {"validators": [DataRequired(), Length(max=128)]},
        "id_type": {"choices": choices(ID_TYPE_LABELS)},
        "id_number": {"validators": [DataRequired(), IdNumber("id_type")]},
        "gender": {"choices": GENDER_CHOICES, "validators": [Optional()]},
        "phone": {"validators": [Phone()]},
        "address": {"validators": [Length(max=255)]},
        "ward": {"validators": [DataRequired()]},
        "birth_date": {"validators": [Optional(), Bounded(birth_date)]},
    }

    @property
    def column_filters(self):  # type: ignore[override]
        return [ward_filter(Person.ward_code, _l("Ward")), choice_filter(Person.id_type, _l("ID type"), ID_TYPE_LABELS)]


def _vaccine_choices() -> list[tuple[str, str]]:
    from backoffice.health.vaccines import vocabulary
    return vocabulary().choices()


def _vaccine_name(code: str) -> str:
    from backoffice.health.vaccines import vocabulary
    return vocabulary().name(code)


class VaccinationView(ScopedModelView):
    operations = people.VACCINATIONS
    access = model_access("vaccination")
    column_list = ["person", "vaccine", "dose_number", "vaccinated_on"]
    column_labels = PEOPLE_LABELS
    column_filters = ["vaccine", "dose_number", "vaccinated_on"]
    column_default_sort = ("id", True)
    form_columns = ["person", "vaccine", "dose_number", "vaccinated_on"]
    form_ajax_refs = {"person": {"fields": ["full_name", "id_number"], "page_size": 10}}
    # The rules' vaccine vocabulary (health.vaccines), read when each form is built: a product they do not know cannot
    # be chosen, so no dose is stored to be silently ignored.
    form_overrides = {"vaccine": SelectField}
    form_args = {"vaccine": {"choices": _vaccine_choices, "validators": [DataRequired()]},
                 "dose_number": {"validators": [DataRequired(), NumberRange(min=1, max=10)]},
                 "vaccinated_on": {"validators": [DataRequired(), Bounded(vaccination_date)]}}
    column_formatters = {"vaccine": lambda v, c, m, n: _vaccine_name(m.vaccine)}


class TestResultView(ScopedModelView):
    operations = people.TEST_RESULTS
    access = model_access("testresult")
    column_list = ["person", "kind", "result", "tested_at"]
    column_labels = PEOPLE_LABELS
    column_default_sort = ("id", True)
    column_formatters = {"kind": _label(TEST_KIND_LABELS), "result": _label(TEST_RESULT_LABELS)}
    form_columns = ["person", "kind", "result", "tested_at"]
    form_overrides = {"kind": SelectField, "result": SelectField}
    form_ajax_refs = {"person": {"fields": ["full_name", "id_number"], "page_size": 10}}
    form_args = {"kind": {"choices": choices(TEST_KIND_LABELS)}, "result": {"choices": choices(TEST_RESULT_LABELS)},
                 "tested_at": {"validators": [DataRequired(), Bounded(test_time)]}}

    @property
    def column_filters(self):  # type: ignore[override]
        from backoffice.models import TestResult
        return [choice_filter(TestResult.result, _l("Result"), TEST_RESULT_LABELS), TestResult.tested_at]


class RecoveryView(ScopedModelView):
    operations = people.RECOVERIES
    access = model_access("recovery")
    column_list = ["person", "recovered_on"]
    column_labels = PEOPLE_LABELS
    column_default_sort = ("id", True)
    form_columns = ["person", "recovered_on"]
    form_ajax_refs = {"person": {"fields": ["full_name", "id_number"], "page_size": 10}}
    form_args = {"recovered_on": {"validators": [DataRequired(), Bounded(recovery_date)]}}
