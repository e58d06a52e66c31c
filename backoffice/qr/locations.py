"""Location and organization QR codes: the self check-in URL, its token, revocation, posters.

Each location, and the organization itself ("Mã QR đơn vị"), carries an unguessable token (128 random bits,
`models.orgs.new_token`); its QR is the URL `BACKOFFICE_PUBLIC_URL/c/<token>` (ASCII, short: a low QR
version that prints and scans well). Rotating the token revokes every printed poster. A revoked token is
remembered only by its SHA-256 fingerprint, as the entity id of the audit entry of the rotation, so an old
poster scanned later can be told "revoked" (rather than "unknown") through the audit log's (entity,
entity_id) index; a deactivated location, or an organization that is not active, answers "revoked" too.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from backoffice import audit
from backoffice.auth.scope import in_scope, scope
from backoffice.domain import OrgStatus, Role
from backoffice.extensions import db
from backoffice.models import AuditLog, Location, Organization
from backoffice.models.orgs import new_token
from backoffice.qr.render import Poster

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,43}$")
REVOKED_ENTITY = "revoked_qr_token"
POSTER_ROLES = {Role.CITY_ADMIN.value, Role.INSPECTOR.value, Role.ORG_ADMIN.value}
ROTATE_ROLES = {Role.CITY_ADMIN.value, Role.ORG_ADMIN.value}


class TokenError(Exception):
    """`code` is "unknown" (404) or "revoked" (410)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
        self.status = 410 if code == "revoked" else 404


class NotAllowed(Exception):
    pass


@dataclass(frozen=True)
class Target:
    """What a scanned token designates: an organization, and one of its locations unless it is the org QR."""

    organization: Organization
    location: Location | None

    def active_locations(self) -> list[Location]:
        if self.location is not None:
            return [self.location]
        return list(db.session.scalars(select(Location).where(
            Location.organization_id == self.organization.id, Location.active.is_(True)).order_by(Location.id)))


def checkin_url(token: str) -> str:
    return current_app.config["BACKOFFICE_PUBLIC_URL"].rstrip("/") + "/c/" + token


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def resolve(token: str) -> Target:
    """The organization and location a token designates, or TokenError("unknown" | "revoked")."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise TokenError("unknown")
    location = db.session.scalar(select(Location).where(Location.qr_token == token))
    if location is not None:
        org = location.organization
        if not location.active or org.status != OrgStatus.ACTIVE.value:
            raise TokenError("revoked")
        return Target(org, location)
    org = db.session.scalar(select(Organization).where(Organization.qr_token == token))
    if org is not None:
        if org.status != OrgStatus.ACTIVE.value:
            raise TokenError("revoked")
        return Target(org, None)
    revoked = db.session.scalar(select(AuditLog.id).where(AuditLog.entity == REVOKED_ENTITY,
                                                          AuditLog.entity_id == fingerprint(token)).limit(1))
    raise TokenError("revoked" if revoked else "unknown")


def _check(user: Any, roles: set[str], model: type, pk: int) -> None:
    if user is None or not getattr(user, "is_authenticated", False) or user.role not in roles:
        raise NotAllowed()
    if not in_scope(model, pk, user):
        raise LookupError(pk)


def rotate(user: Any, target: Organization | Location) -> str:
    """Give a location (or the organization QR) a new token: every poster printed before is revoked."""
    _check(user, ROTATE_ROLES, type(target), target.id)
    old = target.qr_token
    target.qr_token = new_token()
    is_org = isinstance(target, Organization)
    org_id = target.id if is_org else target.organization_id
    audit.record("qr_token.rotate", entity_name=REVOKED_ENTITY, entity_id=fingerprint(old),
                 organization_id=org_id,
                 after={"organization_id": org_id, "location_id": None if is_org else target.id})
    db.session.commit()
    return target.qr_token


def poster_for_location(location: Location) -> Poster:
    org = location.organization
    return Poster(org.name, location.name, location.address or org.address, checkin_url(location.qr_token))


def poster_for_organization(org: Organization) -> Poster:
    return Poster(org.name, "", org.address, checkin_url(org.qr_token))


def organization_posters(org: Organization) -> list[Poster]:
    """The organization QR first, then each active location's, in one batch."""
    locations = db.session.scalars(select(Location).where(Location.organization_id == org.id,
                                                          Location.active.is_(True)).order_by(Location.id))
    return [poster_for_organization(org)] + [poster_for_location(loc) for loc in locations]


def organizations_for(user: Any) -> list[Organization]:
    """Organizations whose posters the user may download (scoped; organization admins: their own)."""
    if user is None or user.role not in POSTER_ROLES:
        raise NotAllowed()
    return list(db.session.scalars(scope(select(Organization), user).order_by(Organization.name).limit(200)))


def get_organization(user: Any, org_id: Any) -> Organization:
    if user is None or user.role not in POSTER_ROLES:
        raise NotAllowed()
    try:
        key = int(org_id)
    except (TypeError, ValueError):
        raise LookupError(org_id) from None
    org = db.session.scalar(scope(select(Organization).where(Organization.id == key), user))
    if org is None:
        raise LookupError(org_id)
    return org


def get_location(user: Any, location_id: Any) -> Location:
    if user is None or user.role not in POSTER_ROLES:
        raise NotAllowed()
    try:
        key = int(location_id)
    except (TypeError, ValueError):
        raise LookupError(location_id) from None
    location = db.session.scalar(scope(select(Location).where(Location.id == key), user))
    if location is None:
        raise LookupError(location_id)
    return location
