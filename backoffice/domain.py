"""Vocabularies of the domain: one home for each enumeration the models, forms and importers share.

Labels are lazy so they follow the user's language (Vietnamese by default).
"""
from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Role(StrEnum):
    CITY_ADMIN = "city_admin"
    INSPECTOR = "inspector"
    WARD_OFFICER = "ward_officer"
    ORG_ADMIN = "org_admin"
    CHECKPOINT_STAFF = "checkpoint_staff"


ROLE_LABELS = {
    Role.CITY_ADMIN: _l("City administrator"),
    Role.INSPECTOR: _l("Department / district inspector"),
    Role.WARD_OFFICER: _l("Ward officer"),
    Role.ORG_ADMIN: _l("Organization administrator"),
    Role.CHECKPOINT_STAFF: _l("Checkpoint staff"),
}


class Sector(StrEnum):
    ENTERPRISE = "enterprise"
    OFFICE = "office"
    SUPERMARKET = "supermarket"
    MARKET = "market"
    FOOD_SERVICE = "food_service"
    SCHOOL = "school"
    OTHER = "other"


SECTOR_LABELS = {
    Sector.ENTERPRISE: _l("Enterprise, production site"),
    Sector.OFFICE: _l("Office, agency"),
    Sector.SUPERMARKET: _l("Supermarket, mall, convenience store"),
    Sector.MARKET: _l("Traditional market"),
    Sector.FOOD_SERVICE: _l("Food service"),
    Sector.SCHOOL: _l("School"),
    Sector.OTHER: _l("Other"),
}


class OrgStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"


ORG_STATUS_LABELS = {
    OrgStatus.PENDING: _l("Pending approval"),
    OrgStatus.ACTIVE: _l("Active"),
    OrgStatus.SUSPENDED: _l("Suspended"),
    OrgStatus.REJECTED: _l("Rejected"),
}


class Direction(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


DIRECTION_LABELS = {Direction.ENTRY: _l("Entry"), Direction.EXIT: _l("Exit")}


class IdType(StrEnum):
    CCCD = "cccd"
    CMND = "cmnd"
    PASSPORT = "passport"


ID_TYPE_LABELS = {IdType.CCCD: _l("Citizen ID (CCCD)"), IdType.CMND: _l("ID card (CMND)"), IdType.PASSPORT: _l("Passport")}


class Colour(StrEnum):
    GREEN = "green"
    BLACK = "black"


COLOUR_LABELS = {Colour.GREEN: _l("Green"), Colour.BLACK: _l("Black")}


class ScanMethod(StrEnum):
    SCANNER = "scanner"  # keyboard-wedge text at the reception page
    IMAGE = "image"  # photo decoded on the server
    CAMERA = "camera"  # live camera in the browser (BarcodeDetector)
    DEVICE = "device"  # API client with a checkpoint token
    SELF = "self"  # visitor's own phone at the location QR
    MANUAL = "manual"  # typed ID number


class TestKind(StrEnum):
    PCR = "pcr"
    RAPID = "rapid"


class TestOutcome(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class AssessmentKind(StrEnum):
    SELF = "self"
    INSPECTION = "inspection"


class AssessmentState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


def choices(labels: dict) -> list[tuple[str, str]]:
    """(value, label) pairs for a WTForms select field, labels translated at render time."""
    return [(str(value), label) for value, label in labels.items()]
