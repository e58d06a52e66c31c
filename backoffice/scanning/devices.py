"""Per-checkpoint API tokens for scanning devices: created by an organization admin (the secret is shown once),
revoked at will, stored as a SHA-256 hash only."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from backoffice import audit
from backoffice.auth.policy import may
from backoffice.auth.scope import get_in_scope_or_404
from backoffice.database import HotStatement, commit, serialized_writes
from backoffice.errors import OutOfRole
from backoffice.extensions import db
from backoffice.models import Checkpoint, DeviceToken, Location, Organization, User
from backoffice.models.base import utcnow
from backoffice.scanning import person_records
from backoffice.scanning.person_records import Prefetched
from backoffice.scanning.points import ScanPoint
from backoffice.scanning.service import reject

TOKEN_PREFIX = "bod_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_device_token(checkpoint_id: int, name: str, *, user: User) -> tuple[DeviceToken, str]:
    """A new token for a checkpoint of the admin's organization; returns the row and the secret (shown once)."""
    if not may(user, "devices.issue"):
        raise OutOfRole(code="device_token.create")
    checkpoint = get_in_scope_or_404(Checkpoint, checkpoint_id, user)
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
    if not may(user, "devices.revoke"):
        raise OutOfRole(code="device_token.revoke")
    token = get_in_scope_or_404(DeviceToken, token_id, user)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("device_tokens.revoke", token, actor=user, after={"revoked_at": token.revoked_at.isoformat()})
        db.session.commit()
    return token


@dataclass(frozen=True, slots=True)
class DeviceAuth:
    """An authenticated device: its token's id and organization, where it scans, and the scanned person when
    asked for along (`authenticate_device(person_ref=…)`)."""
    id: int
    organization_id: int
    checkpoint_id: int
    point: ScanPoint
    prefetched: Prefetched | None = None


# The token, its checkpoint, location and organization status in one Core row: the scan needs all of them, and
# the ORM's joined loading of four objects cost as much as the rest of the scan.
_D, _C, _L, _O = (model.__table__ for model in (DeviceToken, Checkpoint, Location, Organization))
_TOKEN_COLUMNS = (
    _D.c.id, _D.c.organization_id, _D.c.checkpoint_id, _D.c.token_hash, _D.c.revoked_at, _D.c.last_used_at,
    _C.c.name.label("checkpoint_name"), _C.c.active.label("checkpoint_active"), _C.c.direction,
    _C.c.location_id, _L.c.name.label("location_name"), _L.c.active.label("location_active"),
    _L.c.organization_id.label("location_organization_id"), _O.c.status.label("organization_status"))
_TOKEN_JOIN = (_D.join(_C, _C.c.id == _D.c.checkpoint_id).join(_L, _L.c.id == _C.c.location_id)
               .join(_O, _O.c.id == _L.c.organization_id))
_BY_HASH = select(*_TOKEN_COLUMNS).select_from(_TOKEN_JOIN).where(_D.c.token_hash == bindparam("digest"))
# The same row with the person whose reference the scanned text carries, their doses (a row each) and latest
# recovery: a device's scan then reads everything in one round trip (on PostgreSQL, a third of the scan's).
_BY_HASH_WITH_PERSON = HotStatement(select(*_TOKEN_COLUMNS, *person_records.columns(_L.c.organization_id)).select_from(
    _TOKEN_JOIN.outerjoin(person_records.PERSONS, person_records.PERSONS.c.qr_ref == bindparam("ref"))
    .outerjoin(*person_records.DOSES_JOIN)).where(_D.c.token_hash == bindparam("digest")))
_TOUCH = update(_D).where(_D.c.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


def authenticate_device(secret: str | None, *, method: str = "device", person_ref: str | None = None,
                        day: date | None = None, connection: Connection | None = None) -> DeviceAuth:
    """The active token for a secret sent as `Authorization: Bearer …`; a rejected scan otherwise.

    With `person_ref` (and the scan `day`), the person with that reference is read in the same query and handed
    on as `DeviceAuth.prefetched`. `connection`: one from `database.scan_connection()`, else the ORM session's."""
    secret = (secret or "").strip()
    rows = []
    if secret.startswith(TOKEN_PREFIX) and len(secret) < 128:
        digest = hash_secret(secret)
        reads = connection or db.session.connection()
        if person_ref is not None and day is not None:
            rows = _BY_HASH_WITH_PERSON.rows(reads, {"digest": digest, "ref": person_ref, "day": day})
        else:
            rows = reads.execute(_BY_HASH, {"digest": digest}).all()
        if rows and not hmac.compare_digest(rows[0].token_hash, digest):
            rows = []
    if not rows:
        reject("bad_token", method=method, prefix=secret[:12] if secret.startswith(TOKEN_PREFIX) else None)
    row = rows[0]
    prefetched = (Prefetched(person_ref, day, person_records.PersonRecords.from_rows(rows))
                  if person_ref is not None and day is not None else None)
    device = DeviceAuth(row.id, row.organization_id, row.checkpoint_id, ScanPoint.from_row(row), prefetched)
    if row.revoked_at is not None:
        reject("revoked_token", method=method, device_token=device, entity_id=device.id)
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        # At most one write a minute: the hot path stays cheap, the admin still sees when a device was last used.
        # Committed at once: a scan must not hold SQLite's write lock while it queues for serialized_writes().
        with serialized_writes():
            (connection or db.session.connection()).execute(_TOUCH, {"token_id": device.id, "now": now})
            commit(connection)
    return device
