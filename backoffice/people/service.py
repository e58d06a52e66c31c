"""The verbs of the residents' registry: register (create), update and delete a resident; add, change and delete
a vaccination, a test result or a recovery. Each is one unit of work in the caller's transaction
(`backoffice.records`: the values applied, the record kept in the actor's scope, the audit entry written); the
caller commits. Each model's verbs are one `records.Operations` (`PERSONS.create(actor, values)`, …).

A resident's QR reference is made by `backoffice.models.people.new_qr_ref` only, once, when the resident is
registered; it never changes afterwards (printed cards carry it).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from backoffice import records
from backoffice.models import Person, Recovery, TestResult, Vaccination, new_qr_ref
from backoffice.timeutil import local_to_utc

PERSON_FIELDS = ("full_name", "id_type", "id_number", "birth_date", "gender", "phone", "address", "ward")
VACCINATION_FIELDS = ("person", "vaccine", "dose_number", "vaccinated_on")
TEST_RESULT_FIELDS = ("person", "kind", "result", "tested_at")
RECOVERY_FIELDS = ("person", "recovered_on")


class _Persons(records.Operations):
    def new(self) -> Person:
        return Person(qr_ref=new_qr_ref())  # registered once, with the reference printed cards will carry

    def prepare(self, values: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(values)
        if "gender" in values:
            values["gender"] = values["gender"] or None  # the form's blank choice is "not recorded"
        return values


class _TestResults(records.Operations):
    def prepare(self, values: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(values)
        tested_at = values.get("tested_at")
        if isinstance(tested_at, datetime) and tested_at.tzinfo is None:
            values["tested_at"] = local_to_utc(tested_at)  # typed in the city's time
        return values


PERSONS = _Persons(Person, PERSON_FIELDS)
VACCINATIONS = records.Operations(Vaccination, VACCINATION_FIELDS)
TEST_RESULTS = _TestResults(TestResult, TEST_RESULT_FIELDS)
RECOVERIES = records.Operations(Recovery, RECOVERY_FIELDS)
