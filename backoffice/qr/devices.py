"""Per-checkpoint API tokens for scanning devices: created by an organization admin (the secret is shown once),
revoked at will, stored as a SHA-256 hash only."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import abort
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from backoffice import audit
from backoffice.auth.permissions import deny
from backoffice.auth.scope import in_scope
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import Checkpoint, DeviceToken, Location, Organization, User
from backoffice.models.base import utcnow
from backoffice.qr.service import reject

TOKEN_PREFIX = "bod_"
CREATORS = {Role.ORG_ADMIN.value}
REVOKERS = {Role.ORG_ADMIN.value, Role.CITY_ADMIN.value}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_device_token(checkpoint_id: int, name: str, *, user: User) -> tuple[DeviceToken, str]:
    """A new token for a checkpoint of the admin's organization; returns the row and the secret (shown once)."""
    if user.role not in CREATORS:
        deny("device_token.create")
    if not in_scope(Checkpoint, checkpoint_id, user):
        abort(404)
    checkpoint = db.session.get(Checkpoint, checkpoint_id)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = DeviceToken(organization_id=checkpoint.organization_id, checkpoint_id=checkpoint.id,
                        name=name.strip()[:128], token_hash=hash_secret(secret), token_prefix=secret[:12],
                        created_by_id=user.id, created_at=utcnow())
    db.session.add(token)
    db.session.flush()
    audit.record("device_tokens.create", token, actor=user, after=audit.snapshot(token))
    db.session.commit()
    return token, secret


def revoke_device_token(token_id: int, *, user: User) -> DeviceToken:
    if user.role not in REVOKERS:
        deny("device_token.revoke")
    if not in_scope(DeviceToken, token_id, user):
        abort(404)
    token = db.session.get(DeviceToken, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("device_tokens.revoke", token, actor=user, after={"revoked_at": token.revoked_at.isoformat()})
        db.session.commit()
    return token


def authenticate_device(secret: str | None, *, method: str = "device") -> DeviceToken:
    """The active token for a secret sent as `Authorization: Bearer …`; a rejected scan otherwise."""
    secret = (secret or "").strip()
    token = None
    if secret.startswith(TOKEN_PREFIX) and len(secret) < 128:
        digest = hash_secret(secret)
        # The checkpoint, its location and organization come in the same query: the scan needs all three.
        # The organization's ward and district (joined by default for admin lists) are not needed here.
        organization = joinedload(DeviceToken.checkpoint).joinedload(Checkpoint.location).joinedload(
            Location.organization)
        token = db.session.scalar(select(DeviceToken).where(DeviceToken.token_hash == digest).options(
            organization, organization.lazyload(Organization.ward), organization.lazyload(Organization.district)))
        if token is not None and not hmac.compare_digest(token.token_hash, digest):
            token = None
    if token is None:
        reject("bad_token", method=method, prefix=secret[:12] if secret.startswith(TOKEN_PREFIX) else None)
    if token.revoked_at is not None:
        reject("revoked_token", method=method, device_token=token, entity_id=token.id)
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        # At most one write a minute: the hot path stays cheap, the admin still sees when a device was last used.
        db.session.execute(update(DeviceToken).where(DeviceToken.id == token.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
    return token
