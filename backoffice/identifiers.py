"""Vietnamese identifiers: tax codes (python-stdnum), phone numbers (phonenumbers), ID documents.

Each `clean_*` returns the canonical form or raises ValueError with a translated message a person can act on.
Used by forms, the importer, the registration page and the scan parser alike.
"""
from __future__ import annotations

import re

import phonenumbers
from flask_babel import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.vn import mst

# re.ASCII: `\d` alone also matches Arabic-Indic, full-width… digits, which would be stored as they came.
_TAX_RE = re.compile(r"^(\d{9,10})(?:-?(\d{3}))?$", re.ASCII)


def clean_tax_code(value: object) -> str:
    """Canonical tax code `0123456789` or `0123456789-001`.

    Accepts the forms spreadsheets produce: spaces and dots, a lost leading zero (9 digits), numbers (int/float).
    """
    if value is None:
        raise ValueError(_("Tax code is required."))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"[\s.]", "", str(value))
    if not text:
        raise ValueError(_("Tax code is required."))
    match = _TAX_RE.match(text)
    if not match:
        raise ValueError(_("Tax code must be 10 digits, optionally followed by a branch suffix -001 to -999."))
    digits, branch = match.groups()
    digits = digits.zfill(10)
    candidate = digits + (branch or "")
    try:
        mst.validate(candidate)
    except stdnum_errors.InvalidChecksum:
        raise ValueError(_("Tax code %(code)s has a wrong check digit.", code=digits)) from None
    except stdnum_errors.ValidationError:
        raise ValueError(_("Tax code %(code)s is not valid.", code=text)) from None
    return f"{digits}-{branch}" if branch else digits


def clean_phone(value: object, *, required: bool = False) -> str | None:
    """A Vietnamese mobile or landline number in E.164 (`+84903123456`)."""
    if value is None or str(value).strip() == "":
        if required:
            raise ValueError(_("Phone number is required."))
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if isinstance(value, int) or (text.isdigit() and not text.startswith(("0", "84"))):
        text = "0" + text  # a number cell lost its leading zero
    try:
        number = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException:
        raise ValueError(_("%(value)s is not a phone number.", value=text)) from None
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        raise ValueError(_("%(value)s is not a valid Vietnamese phone number.", value=text))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str | None) -> str:
    """Display form used in Vietnam: 0903 123 456."""
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "VN"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


_CCCD_RE = re.compile(r"^\d{12}$", re.ASCII)
_CMND_RE = re.compile(r"^\d{9}$", re.ASCII)
_PASSPORT_RE = re.compile(r"^[A-Z][0-9]{7,8}$")


def clean_id_number(value: object, id_type: str | None = None) -> tuple[str, str]:
    """Return (id_number, id_type) for a CCCD (12 digits), CMND (9 digits) or passport (letter + 7-8 digits)."""
    if value is None:
        raise ValueError(_("ID number is required."))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"\s", "", str(value)).upper()
    if not text:
        raise ValueError(_("ID number is required."))
    if id_type in (None, "", "cccd") and _CCCD_RE.match(text):
        return text, "cccd"
    if id_type in (None, "", "cmnd") and _CMND_RE.match(text):
        return text, "cmnd"
    if id_type in (None, "", "passport") and _PASSPORT_RE.match(text):
        return text, "passport"
    if id_type == "cccd" and text.isascii() and text.isdigit() and len(text) == 11:
        return text.zfill(12), "cccd"  # a number cell lost its leading zero (province codes start with 0)
    raise ValueError(_("%(value)s is not a CCCD (12 digits), CMND (9 digits) or passport number.", value=text))
