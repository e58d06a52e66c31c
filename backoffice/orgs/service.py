"""The verbs of organizations and what they hold: create, update and delete an organization, a location, a
checkpoint, a staff member. Each is one unit of work in the caller's transaction (`backoffice.records`: the values
applied, the record kept in the actor's scope, the audit entry written); the caller commits.

Each model's verbs are one `records.Operations` (`ORGANIZATIONS.create(actor, values)`, `.update(actor, record,
values)`, `.delete(actor, record)`). `values` name the record's fields (relations as records: `ward`, `district`, `organization`, `location`) as a
form or a file gives them, already validated for their format.
"""
from __future__ import annotations

from typing import Any, Mapping

from backoffice import records
from backoffice.errors import Invalid
from backoffice.models import Checkpoint, Location, Organization, Staff
from backoffice.staff import service as staff_links

ORGANIZATION_FIELDS = ("name", "tax_code", "sector", "address", "district", "ward", "contact_name", "phone", "email",
                       "workers_on_site", "status", "admit_black", "black_instruction")
LOCATION_FIELDS = ("organization", "name", "address", "active")
CHECKPOINT_FIELDS = ("location", "name", "direction", "active")
STAFF_FIELDS = ("organization", "full_name", "id_number", "phone", "position", "active")


ORGANIZATIONS = records.Operations(Organization, ORGANIZATION_FIELDS)
LOCATIONS = records.Operations(Location, LOCATION_FIELDS)


class _Checkpoints(records.Operations):
    def adjust(self, checkpoint: Checkpoint) -> None:
        # The denormalised organization always follows the location (scope filters rely on it).
        checkpoint.organization_id = checkpoint.location.organization_id


CHECKPOINTS = _Checkpoints(Checkpoint, CHECKPOINT_FIELDS)


def _typed(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with the ID number as the organization typed it, normalised. A typed ID number links nothing and
    asks nothing of the registry (so no answer, nor its time, tells whether it exists there): the person proves the
    link (backoffice.staff.service)."""
    values = dict(values)
    if "id_number" in values:
        try:
            values["id_number"] = staff_links.typed_id_number(values["id_number"])
        except ValueError as exc:
            raise Invalid(str(exc), "id_number") from None
    return values



class _StaffMembers(records.Operations):
    def prepare(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return _typed(values)

    def changing(self, staff: Staff, values: Mapping[str, Any]) -> None:
        if "id_number" in values and values["id_number"] != staff.id_number:
            staff_links.typed_id_changed(staff)


STAFF = _StaffMembers(Staff, STAFF_FIELDS)
