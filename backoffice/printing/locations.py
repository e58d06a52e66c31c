"""Location and organization QR codes: the self check-in URL, its token, revocation, posters.

Each location, and the organization itself ("Mã QR đơn vị"), carries an unguessable token (128 random bits,
`models.orgs.new_token`); its QR is the URL `BACKOFFICE_PUBLIC_URL/c/<token>` (ASCII, short: a low QR
version that prints and scans well). Outside development that public URL must be configured (an address visitors'
phones reach): without it no poster is printed (`PublicUrlMissing`), since a poster pointing to the server's own
idea of itself (it used to be http://127.0.0.1:5000) is dead paper on a wall. In development the URL is the one
the page was opened with (`request.host_url`). Rotating the token revokes every printed poster. A revoked token is
remembered only by its SHA-256 fingerprint, as the entity id of the audit entry of the rotation, so an old
poster scanned later can be told "revoked" (rather than "unknown") through the audit log's (entity,
entity_id) index; a deactivated location, or an organization that is not active, answers "revoked" too.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import select

from backoffice import audit
from backoffice.auth.policy import may
from backoffice.auth.scope import get_in_scope_or_404, in_scope, scope
from backoffice.domain import OrgStatus
from backoffice.errors import OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.models import AuditLog, Location, Organization
from backoffice.models.orgs import new_token
from backoffice.printing.render import Poster

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,43}$")
REVOKED_ENTITY = "revoked_qr_token"
log = logging.getLogger(__name__)


class TokenError(Exception):
    """`code` is "unknown" (404) or "revoked" (410)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
        self.status = 410 if code == "revoked" else 404


class NotAllowed(OutOfRole):
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


class PublicUrlMissing(Exception):
    """No usable public URL outside development: `reason` is "missing" (not set), "invalid" (not an http(s)
    address) or "local" (an address of this machine, which no visitor's phone reaches)."""

    def __init__(self, reason: str, value: str = ""):
        super().__init__(reason)
        self.reason, self.value = reason, value


def development(app: Flask | None = None) -> bool:
    """BACKOFFICE_ENV=development|testing or FLASK_DEBUG (config: BACKOFFICE_DEVELOPMENT), else debug or testing."""
    app = app or current_app
    flag = app.config.get("BACKOFFICE_DEVELOPMENT")
    return bool(flag) if flag is not None else bool(app.debug or app.testing)


def _configured(app: Flask) -> str:
    """The configured public URL without its trailing slash, or PublicUrlMissing saying what is wrong with it."""
    value = (app.config.get("BACKOFFICE_PUBLIC_URL") or "").strip()
    if not value:
        raise PublicUrlMissing("missing")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isascii() \
            or parts.query or parts.fragment:
        raise PublicUrlMissing("invalid", value)
    host = parts.hostname
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost" or host.endswith(".localhost")
    if local and not development(app):
        raise PublicUrlMissing("local", value)
    return value.rstrip("/")


def public_url(app: Flask | None = None) -> str:
    """The base of every check-in URL: the configured one; in development without one, the address this request
    came to (what the developer's browser, and a phone on the same network, reached)."""
    app = app or current_app
    try:
        return _configured(app)
    except PublicUrlMissing:
        if development(app) and has_request_context():
            return request.host_url.rstrip("/")
        raise


def public_url_problem(app: Flask | None = None) -> PublicUrlMissing | None:
    """Why posters cannot be printed now, or None."""
    try:
        public_url(app)
    except PublicUrlMissing as exc:
        return exc
    return None


def warn_if_unconfigured(app: Flask) -> None:
    """At startup: outside development, say in the log that posters are refused until the URL is set."""
    if development(app):
        return
    try:
        _configured(app)
    except PublicUrlMissing as exc:
        log.warning("BACKOFFICE_PUBLIC_URL is %s%s: location QR posters will not be printed until it is set to the "
                    "address visitors' phones open (e.g. https://backoffice.example.vn)",
                    {"missing": "not set", "invalid": "not an http(s) URL",
                     "local": "an address of this machine"}[exc.reason], f" ({exc.value!r})" if exc.value else "")


def checkin_url(token: str) -> str:
    """The URL a location's (or the organization's) QR encodes; PublicUrlMissing when none may be printed."""
    return public_url() + "/c/" + token


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


def _check(user: Any, action: str, model: type, pk: int) -> None:
    if not may(user, action):
        raise NotAllowed(code=action)
    if not in_scope(model, pk, user):
        raise OutOfScope(pk)


def rotate(user: Any, target: Organization | Location) -> str:
    """Give a location (or the organization QR) a new token: every poster printed before is revoked."""
    _check(user, "printing.rotate", type(target), target.id)
    old = target.qr_token
    target.qr_token = new_token()
    is_org = isinstance(target, Organization)
    org_id = target.id if is_org else target.organization_id
    audit.record("qr_token.rotate", entity_name=REVOKED_ENTITY, entity_id=fingerprint(old),
                 organization_id=org_id,
                 after={"organization_id": org_id, "location_id": None if is_org else target.id})
    db.session.commit()
    return target.qr_token


PRINT_ACTION = "qr_poster.print"


def record_print(user: Any, org: Organization, location: Location | None, fmt: str, count: int = 1) -> None:
    """A poster (or the organization's batch) was made: audited in its own transaction (the download is a GET),
    and what the organization's first steps tick as "poster printed"."""
    target = location or org
    audit.record_now(PRINT_ACTION, actor=user, entity_name=type(target).__tablename__, entity_id=target.id,
                     organization_id=org.id, district_code=org.district_code,
                     after={"format": fmt, "posters": count})


def posters_printed(org_id: int) -> bool:
    """Whether any poster of the organization was ever made (one row on the audit log's organization index)."""
    return db.session.scalar(select(AuditLog.id).where(AuditLog.organization_id == org_id,
                                                       AuditLog.action == PRINT_ACTION).limit(1)) is not None


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
    _may_see_posters(user)
    return list(db.session.scalars(scope(select(Organization), user).order_by(Organization.name).limit(200)))


def _may_see_posters(user: Any) -> None:
    if not may(user, "printing.posters"):
        raise NotAllowed(code="printing.posters")


def get_organization(user: Any, org_id: Any) -> Organization:
    """An organization whose posters the user may see; OutOfScope (a LookupError) when not in reach."""
    _may_see_posters(user)
    return get_in_scope_or_404(Organization, org_id, user)


def get_location(user: Any, location_id: Any) -> Location:
    """A location whose poster the user may see; OutOfScope (a LookupError) when not in reach."""
    _may_see_posters(user)
    return get_in_scope_or_404(Location, location_id, user)
