"""Admin views over organizations, their locations, checkpoints and staff."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from backoffice.admin.base import ScopedModelView
from backoffice.admin.filters import choice_filter, district_filter, ward_filter
from backoffice.auth.policy import model_access
from backoffice.domain import (
    DIRECTION_LABELS, ORG_STATUS_LABELS, SECTOR_LABELS, Direction, OrgStatus, Role, Sector, choices,
)
from backoffice.forms import Phone, TaxCode, UniqueTaxCode, ward_in_district
from backoffice.identifiers import format_phone
from backoffice.models import Organization
from backoffice.models.orgs import BLACK_INSTRUCTION_MAX
from backoffice.orgs import service as orgs
from backoffice.staff import labels as staff_labels


def _label(labels):
    def formatter(view, context, model, name):
        value = getattr(model, name)
        try:
            return labels[type(next(iter(labels)))(value)]
        except (ValueError, KeyError, StopIteration):
            return value
    return formatter


def _phone(view, context, model, name):
    return format_phone(getattr(model, name))


ORG_LABELS = {
    "name": _l("Name"), "tax_code": _l("Tax code"), "sector": _l("Sector"), "address": _l("Address"),
    "ward": _l("Ward"), "district": _l("District"), "contact_name": _l("Contact person"), "phone": _l("Phone"),
    "email": _l("E-mail"), "workers_on_site": _l("Workers on site"), "status": _l("Status"),
    "created_at": _l("Created"), "updated_at": _l("Updated"), "organization": _l("Organization"),
    "location": _l("Location"), "direction": _l("Direction"), "active": _l("Active"), "position": _l("Position"),
    "full_name": _l("Full name"), "id_number": _l("ID number"), "person": _l("Resident record"),
    "district_code": _l("District"), "ward_code": _l("Ward"), "decided_at": _l("Decided at"),
    "decision_note": _l("Decision note"), "admit_black": _l("Admit black visitors"),
    "black_instruction": _l("Instruction on the black screen"), **staff_labels.COLUMN_LABELS,
}
_link_status = staff_labels.link_status


class OrganizationView(ScopedModelView):
    operations = orgs.ORGANIZATIONS
    access = model_access("organization")
    # The sector decides which inspector's scope the organization is in: not the organization's to change.
    locked_fields = {Role.ORG_ADMIN: {"tax_code", "district", "status", "sector"},
                     # The reception policy is the organization's (and the city's) decision, not an inspector's.
                     Role.INSPECTOR: {"admit_black", "black_instruction"}}
    org_admin_hidden = ("tax_code", "district", "status", "sector")

    column_list = ["name", "tax_code", "sector", "district", "ward", "workers_on_site", "status"]
    column_details_list = ["name", "tax_code", "sector", "address", "ward", "district", "contact_name", "phone",
                           "email", "workers_on_site", "status", "admit_black", "black_instruction", "decided_at",
                           "decision_note", "created_at", "updated_at"]
    column_export_list = ["name", "tax_code", "sector", "address", "ward", "district", "contact_name", "phone",
                          "email", "workers_on_site", "status", "created_at"]
    column_labels = ORG_LABELS
    column_searchable_list = ["name", "tax_code"]
    column_sortable_list = ["name", "tax_code", "sector", "workers_on_site", "status", "created_at"]
    column_default_sort = ("id", True)
    column_formatters = {"sector": _label(SECTOR_LABELS), "status": _label(ORG_STATUS_LABELS), "phone": _phone}
    column_formatters_export = {"sector": _label(SECTOR_LABELS), "status": _label(ORG_STATUS_LABELS)}
    form_columns = ["name", "tax_code", "sector", "address", "district", "ward", "contact_name", "phone", "email",
                    "workers_on_site", "status", "admit_black", "black_instruction"]
    reception_policy = ("admit_black", "black_instruction")
    form_overrides = {"sector": SelectField, "status": SelectField}
    form_args = {
        "name": {"validators": [DataRequired(), Length(max=255)]},
        "tax_code": {"validators": [DataRequired(), TaxCode(), UniqueTaxCode(lambda form: form._obj_id)],
                     "description": _l("10 digits, with -001…-999 for a branch, e.g. 0100047516-001")},
        "sector": {"choices": choices(SECTOR_LABELS), "default": Sector.OTHER.value},
        "status": {"choices": choices(ORG_STATUS_LABELS), "default": OrgStatus.ACTIVE.value},
        "address": {"validators": [Length(max=255)]},
        "contact_name": {"validators": [Length(max=128)]},
        "phone": {"validators": [Phone()]},
        "email": {"validators": [Optional(), Email(), Length(max=254)]},
        "workers_on_site": {"validators": [Optional(), NumberRange(min=0, max=1_000_000)]},
        "admit_black": {"description": _l("Off (the default): a black visitor or staff member is refused at the "
                                          "door; the scan is kept for tracing but not counted as on site.")},
        "black_instruction": {"validators": [Optional(), Length(max=BLACK_INSTRUCTION_MAX)],
                              "filters": [lambda value: " ".join(value.split()) or None if value else None],
                              "description": _l("Shown to staff on the black screen (at most %(max)s characters). "
                                                "Empty: “Not eligible to enter”.", max=BLACK_INSTRUCTION_MAX)},
        "district": {"validators": [DataRequired()]},
        "ward": {"validators": [DataRequired()]},
    }

    @property
    def column_filters(self):  # type: ignore[override]
        return [
            district_filter(Organization.district_code, _l("District")),
            ward_filter(Organization.ward_code, _l("Ward")),
            choice_filter(Organization.sector, _l("Sector"), SECTOR_LABELS),
            choice_filter(Organization.status, _l("Status"), ORG_STATUS_LABELS),
        ]

    def _prepare(self, form, obj=None):
        form._obj_id = obj.id if obj is not None else None
        if current_user.role == Role.ORG_ADMIN:
            for name in self.org_admin_hidden:
                if name in form:
                    del form[name]
        elif current_user.role not in (Role.CITY_ADMIN, Role.ORG_ADMIN):
            for name in self.reception_policy:
                if name in form:
                    del form[name]
        return form

    def create_form(self, obj=None):
        return self._prepare(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._prepare(super().edit_form(obj), obj)

    def validate_form(self, form) -> bool:
        ok = super().validate_form(form)
        if "ward" in form and "district" in form:
            ok = ward_in_district(form) and ok
        elif "ward" in form and form.ward.data is not None and current_user.role == Role.ORG_ADMIN:
            # An organization admin may move within its district, not out of it.
            org = current_user.organization
            if org is not None and form.ward.data.district_code != org.district_code:
                form.ward.errors = list(form.ward.errors) + [str(_l("This ward is not in the chosen district."))]
                ok = False
        return ok


class LocationView(ScopedModelView):
    operations = orgs.LOCATIONS
    access = model_access("location")
    column_list = ["organization", "name", "address", "active", "created_at"]
    column_labels = ORG_LABELS
    column_searchable_list = ["name"]
    column_filters = ["active"]
    column_default_sort = ("id", True)
    form_columns = ["organization", "name", "address", "active"]
    form_args = {"name": {"validators": [DataRequired(), Length(max=128)]},
                 "address": {"validators": [Length(max=255)]},
                 "organization": {"validators": [DataRequired()]}}
    column_export_list = ["organization", "name", "address", "active", "created_at"]


class CheckpointView(ScopedModelView):
    operations = orgs.CHECKPOINTS
    access = model_access("checkpoint")
    column_list = ["organization", "location", "name", "direction", "active"]
    column_labels = ORG_LABELS
    column_searchable_list = ["name"]
    column_default_sort = ("id", True)
    column_formatters = {"direction": _label(DIRECTION_LABELS)}
    form_columns = ["location", "name", "direction", "active"]
    form_overrides = {"direction": SelectField}
    form_args = {"name": {"validators": [DataRequired(), Length(max=128)]},
                 "direction": {"choices": choices(DIRECTION_LABELS), "default": Direction.ENTRY.value},
                 "location": {"validators": [DataRequired()]}}
    column_export_list = ["organization", "location", "name", "direction", "active"]


class StaffView(ScopedModelView):
    operations = orgs.STAFF
    access = model_access("staff")
    column_list = ["organization", "full_name", "id_number", "phone", "position", "active", "link_method"]
    # Never the linked resident (its name and ID would be the registry's data): the link's status only.
    column_details_list = ["organization", "full_name", "id_number", "phone", "position", "active", "link_method",
                           "linked_at", "created_at", "updated_at"]
    column_labels = ORG_LABELS
    column_searchable_list = ["full_name", "id_number"]
    column_filters = ["active", "position"]
    column_default_sort = ("id", True)
    column_formatters = {
        "phone": _phone, "link_method": _link_status,
    }
    column_formatters_export = {"link_method": _link_status}
    form_columns = ["organization", "full_name", "id_number", "phone", "position", "active"]
    form_args = {"full_name": {"validators": [DataRequired(), Length(max=128)]},
                 "id_number": {"validators": [Optional(), Length(max=20)]},
                 "phone": {"validators": [Phone()]},
                 "organization": {"validators": [DataRequired()]}}
    column_export_list = ["organization", "full_name", "id_number", "phone", "position", "active", "link_method"]
