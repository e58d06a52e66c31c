"""Operations: register an organization, approve or reject a registration."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backoffice import audit
from backoffice.auth import service as accounts
from backoffice.auth.passwords import verify_password
from backoffice.auth.policy import may
from backoffice.auth.scope import scope
from backoffice.domain import OrgStatus, Role
from backoffice.errors import Invalid, OutOfRole
from backoffice.extensions import db
from backoffice.models import Organization, User, Ward
from backoffice.models.base import utcnow


class RegistrationError(Invalid):
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
    requested = data.username.strip().lower()
    username = _free_username(requested, data.tax_code)
    try:
        db.session.flush()
        user = accounts.create_user(username, data.password, Role.ORG_ADMIN.value, full_name=data.contact_name,
                                    email=data.email, organization_id=org.id, commit=False)
    except accounts.AccountError as exc:
        db.session.rollback()
        # Only the password can be refused here (the username is free by now): say so on its field.
        raise RegistrationError(str(exc), "password" if exc.field == "new" else "username") from None
    except IntegrityError:
        db.session.rollback()  # a concurrent registration took the tax code between check and insert
        raise RegistrationError(_("An organization with this tax code is already registered."), "tax_code") from None
    user.active = False  # activated on approval
    after = audit.snapshot(org) | {"admin_username": username}
    if username != requested:
        after["requested_username"] = requested  # the approving officer gives the applicant the name to use
    audit.record("organization.register", org, actor=user, after=after)
    db.session.commit()
    return org


def _free_username(requested: str, tax_code: str) -> str:
    """The requested username, or when it is taken, a free one derived from it and the tax code.

    The public form must not tell whether a username exists (it would list the city's accounts), so a taken
    name gets the same answer as a free one: the account is created under a derived name, which the district
    officer who approves the registration gives the applicant with the approval (by phone or e-mail, as
    they contact every applicant anyway; the approval list and the audit log show it)."""
    if not accounts.username_taken(requested):
        return requested
    digits = "".join(ch for ch in tax_code if ch.isdigit())
    for n in range(0, 1000):
        suffix = f".{digits[-6:]}" + (f"-{n}" if n else "")
        candidate = requested[:64 - len(suffix)] + suffix
        if not accounts.username_taken(candidate):
            return candidate
    raise RegistrationError(_("This registration cannot be accepted now. Please try again later."), "username")


def decide(org: Organization, approve: bool, decided_by: User, note: str = "") -> None:
    """Approve (organization and its admin accounts become active) or reject a pending registration."""
    if not may(decided_by, "registration.decide", org):
        raise OutOfRole("out of scope", "registration.decide")
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


def undecided_status(username: str, password: str) -> str | None:
    """'pending' (or 'rejected') when these are the right credentials of an organization admin whose registration
    is not approved (yet); None otherwise. For the login page, after `authenticate` refused: it tells the applicant
    why, and only someone who knows the password learns it. Every call checks one password hash (a dummy one
    when the name is not such an applicant), so failures of every kind take the same time."""
    name = (username or "").strip().lower()
    row = db.session.execute(
        select(User.password_hash, Organization.status).join(Organization, User.organization_id == Organization.id)
        .where(func.lower(User.username) == name, User.active.is_(False), User.role == Role.ORG_ADMIN.value,
               Organization.status.in_([OrgStatus.PENDING.value, OrgStatus.REJECTED.value]))).first() if name else None
    if not verify_password(row.password_hash if row else None, password or "") or row is None:
        return None
    return row.status


def pending_registrations(user: User, limit: int = 10) -> tuple[int, list[Organization]]:
    """The registrations awaiting a decision that `user` may decide (scope: the city, or the inspector's
    districts and sector), oldest first, and how many there are in all."""
    if not may(user, "registration.decide"):
        return 0, []
    query = scope(select(Organization), user, Organization).where(Organization.status == OrgStatus.PENDING.value)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(query.order_by(Organization.created_at, Organization.id).limit(limit)))
    return total, rows
