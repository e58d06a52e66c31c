"""Operations: register an organization, approve or reject a registration."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.auth import service as accounts
from backoffice.auth.scope import in_scope
from backoffice.domain import OrgStatus, Role
from backoffice.extensions import db
from backoffice.models import Organization, User, Ward
from backoffice.models.base import utcnow


class RegistrationError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class Registration:
    name: str
    tax_code: str  # canonical (forms.TaxCode)
    sector: str
    address: str
    ward_code: int
    contact_name: str
    phone: str | None
    email: str
    username: str
    password: str


def register_organization(data: Registration) -> Organization:
    """Create a pending organization and its (inactive) admin account in one transaction."""
    ward = db.session.get(Ward, data.ward_code)
    if ward is None:
        raise RegistrationError(_("Unknown ward."), "ward")
    if db.session.scalar(select(Organization.id).where(Organization.tax_code == data.tax_code)):
        raise RegistrationError(_("An organization with this tax code is already registered."), "tax_code")
    org = Organization(name=data.name.strip(), tax_code=data.tax_code, sector=data.sector, address=data.address.strip(),
                       ward_code=ward.code, district_code=ward.district_code, contact_name=data.contact_name.strip(),
                       phone=data.phone, email=data.email, status=OrgStatus.PENDING.value)
    db.session.add(org)
    try:
        db.session.flush()
        user = accounts.create_user(data.username, data.password, Role.ORG_ADMIN.value, full_name=data.contact_name,
                                    email=data.email, organization_id=org.id, commit=False)
    except accounts.AccountError as exc:
        db.session.rollback()
        raise RegistrationError(str(exc), "username") from None
    except IntegrityError:
        db.session.rollback()  # a concurrent registration took the tax code between check and insert
        raise RegistrationError(_("An organization with this tax code is already registered."), "tax_code") from None
    user.active = False  # activated on approval
    audit.record("organization.register", org, actor=user, after=audit.snapshot(org))
    db.session.commit()
    return org


def decide(org: Organization, approve: bool, decided_by: User, note: str = "") -> None:
    """Approve (organization and its admin accounts become active) or reject a pending registration."""
    if not in_scope(Organization, org.id, decided_by) or decided_by.role not in (Role.CITY_ADMIN, Role.INSPECTOR):
        raise PermissionError("out of scope")
    if org.status != OrgStatus.PENDING:
        raise RegistrationError(_("This registration has already been decided."))
    before = audit.snapshot(org, ["status"])
    org.status = (OrgStatus.ACTIVE if approve else OrgStatus.REJECTED).value
    org.decided_at = utcnow()
    org.decided_by_id = decided_by.id
    org.decision_note = note[:500] or None
    if approve:
        for user in db.session.scalars(select(User).where(User.organization_id == org.id, User.role == Role.ORG_ADMIN)):
            accounts.set_active(user, True)
    audit.record("organization.approve" if approve else "organization.reject", org, actor=decided_by,
                 before=before, after={"status": org.status, "note": note[:500]})
    db.session.commit()
