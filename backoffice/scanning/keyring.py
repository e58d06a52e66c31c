"""The Ed25519 key ring that signs personal QR payloads.

Keys live in `signing_keys`: the public key in clear (it is published at `GET /api/v1/keys`), the private
key encrypted with a key derived from SECRET_KEY (Fernet over HKDF-SHA256). Production may instead supply
private keys through configuration — `BACKOFFICE_SIGNING_KEYS` (``kid=<base64url 32-byte seed>`` separated by
commas) or `BACKOFFICE_SIGNING_KEYS_FILE` (one such entry per line) — and then the row holds no secret.

Rotation: `rotate()` adds the *next* key: published (and verifying) at once, it signs only from
`BACKOFFICE_KEY_ACTIVATION_SECONDS` later (default 6 minutes: the caches here and at GET /api/v1/keys) or from
the following rotation, so every
process and offline verifier has it before the first code it signs; `rotate(now=True)` (a compromised key)
switches at once. Older keys keep verifying until `retire()`d. The embedded default creates a first key the first
time something needs to sign, and logs that it did.

Verification is on the scan hot path, so public keys are cached per process for a few seconds
(`BACKOFFICE_KEY_CACHE_SECONDS`, default 30); changes made in this process clear the cache at once, and a key id
the cache does not know makes it read the ring again (at most once a second), so a key another process just added
verifies here at once.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from backoffice import audit
from backoffice.database import insert_on_conflict
from backoffice.errors import Refused
from backoffice.extensions import db
from backoffice.models import SigningKey
from backoffice.models.base import utcnow

log = logging.getLogger(__name__)


class KeyRingError(Refused):
    """A key-ring request that cannot be met (unknown key, retiring the signer…)."""


@dataclass(frozen=True)
class PublicKeyInfo:
    kid: str
    public_key: bytes
    created_at: datetime
    retired_at: datetime | None
    signing: bool

    @property
    def active(self) -> bool:
        return self.retired_at is None


@dataclass(frozen=True)
class Signer:
    kid: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def kid_for(public_raw: bytes) -> str:
    """A short, stable key id: 8 base32 characters of the public key's SHA-256 (upper case, QR-alphanumeric)."""
    return base64.b32encode(hashlib.sha256(public_raw).digest()[:5]).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"backoffice-signing-keys",
               info=b"fernet").derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- configured keys -------------------------------------------------------------------------------

def configured_keys() -> dict[str, Ed25519PrivateKey]:
    """Private keys supplied by configuration (production), by key id."""
    entries: list[str] = []
    inline = current_app.config.get("BACKOFFICE_SIGNING_KEYS") or ""
    entries += [e for e in inline.replace("\n", ",").split(",") if e.strip()]
    path = current_app.config.get("BACKOFFICE_SIGNING_KEYS_FILE")
    if path:
        entries += [line for line in Path(path).read_text().splitlines() if line.strip() and not line.startswith("#")]
    keys: dict[str, Ed25519PrivateKey] = {}
    for entry in entries:
        kid, _, seed = entry.strip().partition("=")
        try:
            key = Ed25519PrivateKey.from_private_bytes(_unb64(seed.strip()))
        except ValueError:
            raise KeyRingError(f"configured signing key {kid.strip()!r} is not a base64url 32-byte seed") from None
        if kid_for(_raw_public(key)) != kid.strip():
            raise KeyRingError(f"configured signing key {kid.strip()!r} does not match its public key")
        keys[kid.strip()] = key
    return keys


def _sync_configured() -> None:
    """Make sure every configured key has its (secret-less) row, so it is published and verifies.

    Every process of every host runs this as it starts, often at the same moment: a row another process has just
    inserted is skipped (insert … on conflict do nothing), only the rows this process inserted are audited, and
    when the ring has no signer the first configured key becomes it, the same one whichever process gets there."""
    configured = configured_keys()
    if not configured:
        return
    rows = dict(db.session.execute(select(SigningKey.kid, SigningKey.retired_at)
                                   .where(SigningKey.kid.in_(configured))).all())
    missing = [kid for kid in configured if kid not in rows]
    if not missing:
        return
    table = SigningKey.__table__
    inserted = [kid for kid in missing if db.session.scalar(
        insert_on_conflict(table, conflict=[table.c.kid]).returning(table.c.kid).values(
            kid=kid, public_key=_raw_public(configured[kid]), private_key=None, created_at=utcnow(),
            signing=False)) is not None]
    # Retired rows are old and committed, so every process sees them and picks the same candidate.
    candidate = next((kid for kid in configured if rows.get(kid) is None), None)
    if candidate is not None:
        other = aliased(SigningKey)
        signer = select(other.kid).where(other.signing.is_(True), other.retired_at.is_(None))
        db.session.execute(update(SigningKey).where(SigningKey.kid == candidate, SigningKey.retired_at.is_(None),
                                                    ~signer.exists()).values(signing=True))
    for kid in inserted:
        audit.record("signing_key.configured", entity_name="signing_keys", entity_id=kid, after={"kid": kid})
    db.session.commit()
    invalidate()


# --- public keys (cached) --------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, PublicKeyInfo]]] = {}


def invalidate() -> None:
    with _cache_lock:
        _cache.clear()
        _signer_cache.clear()


def _cache_key() -> str:
    return str(current_app.config["SQLALCHEMY_DATABASE_URI"])


_REFRESH_UNKNOWN_EVERY = 1.0  # seconds: random key ids cannot make every scan read the ring
_refreshed: dict[str, float] = {}  # when an unknown key id last made this process reread the ring


def public_keys(include_retired: bool = False, *, refresh: bool = False) -> dict[str, PublicKeyInfo]:
    """Every key of the ring by id (retired ones only when asked); cached for a few seconds. `refresh` (a key id
    the cache does not know) reads the ring again, at most once a second."""
    ttl = float(current_app.config.get("BACKOFFICE_KEY_CACHE_SECONDS", 30))
    key = _cache_key()
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if refresh and now - _refreshed.get(key, -_REFRESH_UNKNOWN_EVERY) >= _REFRESH_UNKNOWN_EVERY:
            _refreshed[key] = now
        else:
            refresh = False
    if hit is None or now - hit[0] > ttl or refresh:
        # On a connection of its own, returned at once: read through the ORM session, the scan's request held
        # that session's transaction (and so a server connection, behind PgBouncer in transaction mode) open
        # beside its scan connection; two such requests through a pool of two waited for each other.
        with db.engine.connect() as connection:
            rows = connection.execute(select(SigningKey.kid, SigningKey.public_key, SigningKey.created_at,
                                             SigningKey.retired_at, SigningKey.signing)).all()
        keys = {r.kid: PublicKeyInfo(r.kid, bytes(r.public_key), r.created_at, r.retired_at, bool(r.signing))
                for r in rows}
        with _cache_lock:
            _cache[key] = (now, keys)
        hit = (now, keys)
    return {k: v for k, v in hit[1].items() if include_retired or v.active}


@functools.lru_cache(maxsize=64)
def _loaded(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify(kid: str, signature: bytes, data: bytes) -> str:
    """'ok', 'unknown_key', 'retired_key' or 'bad_signature'."""
    info = public_keys(include_retired=True).get(kid)
    if info is None:
        # Perhaps a key another process added since this one cached the ring.
        info = public_keys(include_retired=True, refresh=True).get(kid)
    if info is None:
        return "unknown_key"
    if not info.active:
        return "retired_key"
    try:
        _loaded(info.public_key).verify(signature, data)
    except InvalidSignature:
        return "bad_signature"
    return "ok"


# --- signing ---------------------------------------------------------------------------------------

_signer_cache: dict[str, Signer] = {}


def _private_key_of(row: SigningKey) -> Ed25519PrivateKey:
    configured = configured_keys()
    if row.kid in configured:
        return configured[row.kid]
    if not row.private_key:
        raise KeyRingError(f"the private key of {row.kid} is not configured on this server")
    try:
        raw = _fernet().decrypt(row.private_key.encode("ascii"))
    except InvalidToken:
        raise KeyRingError(f"the private key of {row.kid} cannot be decrypted: SECRET_KEY changed?") from None
    return Ed25519PrivateKey.from_private_bytes(raw)


def current_signer() -> Signer:
    """The key that signs now; the embedded default creates the first one on demand."""
    _sync_configured()
    _promote_due()
    row = db.session.scalar(select(SigningKey).where(SigningKey.signing.is_(True), SigningKey.retired_at.is_(None))
                            .order_by(SigningKey.created_at.desc(), SigningKey.kid).limit(1))
    if row is None:
        row = _create(signing=True, action="signing_key.first")
        log.warning("No signing key existed: created %s for personal QR payloads (kept encrypted in the "
                    "database; set BACKOFFICE_SIGNING_KEYS in production).", row.kid)
    cached = _signer_cache.get(row.kid)
    if cached is None:
        cached = Signer(row.kid, _private_key_of(row))
        _signer_cache[row.kid] = cached
    return cached


def activation_delay() -> timedelta:
    """How long a rotated-in key is published before it signs: by default longer than the caches, so
    every process has read it (and offline verifiers fetching /api/v1/keys have had time to)."""
    configured = current_app.config.get("BACKOFFICE_KEY_ACTIVATION_SECONDS")
    if configured is None or configured == "":
        # twice the cache time, plus the 5 minutes GET /api/v1/keys lets offline verifiers cache the key set
        configured = 2 * float(current_app.config.get("BACKOFFICE_KEY_CACHE_SECONDS", 30)) + 300
    return timedelta(seconds=max(0.0, float(configured)))


def _pending() -> list[SigningKey]:
    return list(db.session.scalars(select(SigningKey).where(
        SigningKey.signing.is_(False), SigningKey.retired_at.is_(None), SigningKey.signs_from.is_not(None))
        .order_by(SigningKey.signs_from, SigningKey.kid)))


def _make_signer(row: SigningKey, action: str) -> None:
    for other in db.session.scalars(select(SigningKey).where(SigningKey.signing.is_(True), SigningKey.kid != row.kid)):
        other.signing = False
    row.signing, row.signs_from = True, None
    audit.record(action, entity_name="signing_keys", entity_id=row.kid, after={"kid": row.kid, "signing": True})


def _promote_due() -> None:
    """A next key whose time has come becomes the signer (whichever process asks first; the others agree)."""
    due = [row for row in _pending() if row.signs_from <= utcnow()]
    if due:
        _make_signer(due[-1], "signing_key.activate")
        db.session.commit()
        invalidate()


def _create(*, signing: bool, action: str, signs_from: datetime | None = None) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public_raw = _raw_public(private)
    row = SigningKey(kid=kid_for(public_raw), public_key=public_raw,
                     private_key=_fernet().encrypt(_raw_private(private)).decode("ascii"),
                     created_at=utcnow(), signing=signing, signs_from=signs_from)
    if signing:
        for other in db.session.scalars(select(SigningKey).where(SigningKey.signing.is_(True))):
            other.signing = False
    db.session.add(row)
    audit.record(action, entity_name="signing_keys", entity_id=row.kid, after={"kid": row.kid, "signing": signing})
    db.session.commit()
    invalidate()
    return row


def generate() -> SigningKey:
    """Add a key; it signs only if the ring has no signer yet (otherwise `rotate` makes a key the signer)."""
    has_signer = db.session.scalar(select(SigningKey.kid).where(SigningKey.signing.is_(True),
                                                                SigningKey.retired_at.is_(None)).limit(1))
    return _create(signing=has_signer is None, action="signing_key.generate")


def rotate(*, now: bool = False) -> SigningKey:
    """Publish a new next key, which signs after `activation_delay()`; a next key published by an earlier
    rotation signs from now on. `now=True` makes the new key sign at once (a compromised signer: codes it signs
    may fail for up to the cache time on verifiers that have not fetched the key yet). Older keys still verify
    until retired."""
    _sync_configured()
    _promote_due()
    has_signer = db.session.scalar(select(SigningKey.kid).where(SigningKey.signing.is_(True),
                                                                SigningKey.retired_at.is_(None)).limit(1))
    if now or has_signer is None:
        return _create(signing=True, action="signing_key.rotate")
    for waiting in _pending():  # the key published by the previous rotation: everyone has it by now
        _make_signer(waiting, "signing_key.activate")
    return _create(signing=False, action="signing_key.rotate", signs_from=utcnow() + activation_delay())


def _unretired(kid: str, retired: str) -> SigningKey:
    """The key named, refused with `retired` in the message when it no longer verifies."""
    row = db.session.get(SigningKey, kid)
    if row is None:
        raise KeyRingError(f"no key {kid!r}")
    if row.retired_at is not None:
        raise KeyRingError(f"key {kid} {retired}")
    return row


def use(kid: str) -> SigningKey:
    """Make an existing key the signer, e.g. one newly given in configuration (`BACKOFFICE_SIGNING_KEYS`).
    Its private key must be available here; the previous signer keeps verifying until retired."""
    _sync_configured()
    row = _unretired(kid, "is retired")
    _private_key_of(row)  # refuse a key this server cannot sign with
    _make_signer(row, "signing_key.use")
    db.session.commit()
    invalidate()
    return row


def retire(kid: str) -> SigningKey:
    """Stop accepting a key: payloads it signed are rejected from now on. The signer cannot be retired
    (rotate first), so the ring always has a key to sign with."""
    _promote_due()
    row = _unretired(kid, "is already retired")
    if row.signing:
        raise KeyRingError(f"key {kid} is the current signer: rotate first, then retire it")
    row.retired_at = utcnow()
    row.private_key = None  # a retired key never signs again
    row.signs_from = None
    audit.record("signing_key.retire", entity_name="signing_keys", entity_id=kid, after={"kid": kid})
    db.session.commit()
    invalidate()
    return row


def list_keys() -> list[SigningKey]:
    _promote_due()
    return list(db.session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid)))


def jwks() -> dict:
    """The published key set for offline verifiers (JWK, OKP/Ed25519), active keys only."""
    keys = sorted(public_keys().values(), key=lambda k: (k.created_at, k.kid))
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": k.kid, "x": _b64(k.public_key), "use": "sig",
                      "alg": "EdDSA", "signing": k.signing, "created_at": k.created_at.isoformat()} for k in keys]}
