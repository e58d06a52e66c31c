"""Our signed personal QR, issued here (printed cards, the resident's own screen).

Ours: ``HCMBO1:`` + base32 (RFC 4648, upper case, no padding) of ``body || signature``. Base32 keeps the whole
text in the QR alphanumeric set (A–Z, 2–7, ':'), which is denser than byte mode and survives keyboard-wedge
scanners. The body is binary and compact:

    kid_len:u8  kid:ascii  ref_len:u8  qr_ref:ascii  issued_at:u32 (Unix s)  flags:u8
    [colour:u8 (0 green, 1 black)  status_expires:u32]      only when flags & 1

The Ed25519 signature covers the prefix and the body, so the version cannot be swapped. No ID number, name
or health datum is carried in clear; the status snapshot (for offline verifiers) is just a colour and an
expiry, and the server always recomputes the current status.
"""
from __future__ import annotations

import base64
import re
import struct
from datetime import datetime, timedelta, timezone

from flask import current_app

from backoffice.domain import Colour
from backoffice.scanning import keyring
from backoffice.scanning.credentials.base import MAX_TEXT, Credential
from backoffice.scanning.rejections import ScanRejected
from backoffice.timeutil import now_utc

PREFIX = "HCMBO1:"
SIGNATURE_LEN = 64
_COLOURS = [Colour.GREEN.value, Colour.BLACK.value]
_B32_RE = re.compile(r"^[A-Z2-7]+$")


# --- issuing ---------------------------------------------------------------------------------------

def _encode_body(kid: str, qr_ref: str, issued_at: datetime, colour: str | None, expires: datetime | None) -> bytes:
    kid_b, ref_b = kid.encode("ascii"), qr_ref.encode("ascii")
    if len(kid_b) > 255 or len(ref_b) > 255:
        raise ValueError("key id or person reference too long")
    body = bytes([len(kid_b)]) + kid_b + bytes([len(ref_b)]) + ref_b
    body += struct.pack(">IB", int(issued_at.timestamp()), 1 if colour else 0)
    if colour:
        body += struct.pack(">BI", _COLOURS.index(colour), int(expires.timestamp()))
    return body


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def issue_personal_payload(person, *, now: datetime | None = None, with_status: bool = False) -> str:
    """The signed QR text for a person (`Person`, anything with `qr_ref` and `id`).

    `with_status` adds the colour at `now` and its expiry (BACKOFFICE_QR_STATUS_HOURS, default 24 h) for
    offline verifiers; servers ignore the snapshot and recompute."""
    now = (now or now_utc()).astimezone(timezone.utc)
    colour = expires = None
    if with_status:
        from backoffice.health import status as health
        colour = health.evaluate(person, now).colour
        expires = now + timedelta(hours=int(current_app.config.get("BACKOFFICE_QR_STATUS_HOURS", 24)))
    signer = keyring.current_signer()
    body = _encode_body(signer.kid, person.qr_ref, now, colour, expires)
    signature = signer.sign(PREFIX.encode("ascii") + body)
    return PREFIX + _b32(body + signature)


# --- reading ---------------------------------------------------------------------------------------

# RFC 4648's base32 alphabet onto the digits int(…, 32) reads.
_TO_INT_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def _strict_b32decode(text: str) -> bytes:
    """Decode unpadded base32 and insist the text is the canonical encoding of the result, so that no character
    (not even the unused low bits of the last one) can change without being noticed.

    Read as one base-32 integer: the scan path decodes a payload per request, and base64's decoder (a loop in
    Python) followed by re-encoding for the check cost more than verifying the signature."""
    if not text or not _B32_RE.match(text):
        raise ScanRejected("malformed")
    n_bytes, spare_bits = divmod(5 * len(text), 8)
    # Canonical: the length that n_bytes encode to (no character more), the bits past them zero.
    if -(-8 * n_bytes // 5) != len(text):
        raise ScanRejected("malformed")
    value = int(text.translate(_TO_INT_DIGITS), 32)
    if value & ((1 << spare_bits) - 1):
        raise ScanRejected("malformed")
    return (value >> spare_bits).to_bytes(n_bytes, "big")


def _decode_body(body: bytes) -> tuple[str, str, datetime, str | None, datetime | None]:
    try:
        pos = 0
        kid_len = body[pos]
        kid = body[pos + 1:pos + 1 + kid_len].decode("ascii")
        pos += 1 + kid_len
        ref_len = body[pos]
        ref = body[pos + 1:pos + 1 + ref_len].decode("ascii")
        pos += 1 + ref_len
        issued, flags = struct.unpack_from(">IB", body, pos)
        pos += 5
        colour = expires = None
        if flags & 1:
            colour_index, expires_ts = struct.unpack_from(">BI", body, pos)
            pos += 5
            colour = _COLOURS[colour_index]
            expires = datetime.fromtimestamp(expires_ts, timezone.utc)
        if flags & ~1 or pos != len(body) or len(kid) != kid_len or len(ref) != ref_len or not kid or not ref:
            raise ValueError("trailing or unknown fields")
    except (IndexError, struct.error, UnicodeDecodeError, ValueError):
        raise ScanRejected("malformed") from None
    return kid, ref, datetime.fromtimestamp(issued, timezone.utc), colour, expires


def _parse_signed(text: str, now: datetime) -> Credential:
    data = _strict_b32decode(text[len(PREFIX):])
    if len(data) <= SIGNATURE_LEN + 8:
        raise ScanRejected("malformed")
    body, signature = data[:-SIGNATURE_LEN], data[-SIGNATURE_LEN:]
    kid, ref, issued_at, colour, expires = _decode_body(body)
    verdict = keyring.verify(kid, signature, PREFIX.encode("ascii") + body)
    if verdict != "ok":
        raise ScanRejected(verdict, kid=kid)
    # A little clock skew between issuing servers is tolerated; more means a forged or broken clock.
    if issued_at > now + timedelta(minutes=10):
        raise ScanRejected("not_in_future")
    return Credential(kind="signed", signed=True, qr_ref=ref, kid=kid, issued_at=issued_at,
                      status_colour=colour, status_expires_at=expires)


def peek_person_ref(text: object) -> str | None:
    """The person reference our signed payload carries, read without verifying anything (None for any other
    text). Only to fetch the person early: whatever is read for it counts once `parse_scan_text` has verified
    the payload names that reference."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    text = text.strip(" \r\n\t")
    if not text.startswith(PREFIX):
        return None
    try:
        data = _strict_b32decode(text[len(PREFIX):])
        return _decode_body(data[:-SIGNATURE_LEN])[1] if len(data) > SIGNATURE_LEN + 8 else None
    except ScanRejected:
        return None


class SignedReader:
    kind = "signed"

    def recognises(self, text: str) -> bool:
        return text.startswith(PREFIX)

    def read(self, text: str, *, now: datetime) -> Credential:
        return _parse_signed(text, now)


READER = SignedReader()
