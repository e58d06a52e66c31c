"""WTForms validators shared by the admin forms, the registration page and the import preview:
each wraps the one rule in backoffice.identifiers and reports in the user's language."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from wtforms.validators import StopValidation, ValidationError

from backoffice import identifiers
from backoffice.extensions import db
from backoffice.models import Organization


class TaxCode:
    """Normalises the field to the canonical tax code, or fails with the reason."""

    def __call__(self, form, field) -> None:
        if not field.data:
            return
        try:
            field.data = identifiers.clean_tax_code(field.data)
        except ValueError as exc:
            raise StopValidation(str(exc)) from None


class UniqueTaxCode:
    """No two organizations share a tax code (branch suffixes make branches distinct)."""

    def __init__(self, current_id=lambda form: None):
        self.current_id = current_id

    def __call__(self, form, field) -> None:
        if not field.data:
            return
        existing = db.session.scalar(select(Organization.id).where(Organization.tax_code == field.data))
        if existing is not None and existing != self.current_id(form):
            # A plain str: Flask-Admin's templates show only `str` errors and would hide a lazy string.
            raise ValidationError(_("An organization with this tax code is already registered."))


class Phone:
    def __init__(self, required: bool = False):
        self.required = required

    def __call__(self, form, field) -> None:
        try:
            field.data = identifiers.clean_phone(field.data, required=self.required)
        except ValueError as exc:
            raise StopValidation(str(exc)) from None


class IdNumber:
    def __init__(self, type_field: str | None = None):
        self.type_field = type_field

    def __call__(self, form, field) -> None:
        if not field.data:
            return
        id_type = form[self.type_field].data if self.type_field else None
        try:
            field.data, detected = identifiers.clean_id_number(field.data, id_type)
        except ValueError as exc:
            raise StopValidation(str(exc)) from None
        if self.type_field and not form[self.type_field].data:
            form[self.type_field].data = detected


def ward_in_district(form, ward_field: str = "ward", district_field: str = "district") -> bool:
    """Form-level check: the chosen ward lies in the chosen district. Adds the error to the ward field."""
    ward, district = form[ward_field].data, form[district_field].data
    if ward is None or district is None:
        return True
    ward_district = ward.district_code if hasattr(ward, "district_code") else None
    district_code = district.code if hasattr(district, "code") else district
    if ward_district != district_code:
        form[ward_field].errors = list(form[ward_field].errors) + [
            _("This ward is not in the chosen district.")]  # str: Flask-Admin hides lazy-string errors
        return False
    return True
