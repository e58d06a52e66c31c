"""Personal QR payloads: the signed one issued here, and the national 1405 text read at scanners.

Ours: ``HCMBO1:`` + base32 (RFC 4648, upper case, no padding) of ``body || signature``. Base32 keeps the whole
text in the QR alphanumeric set (A–Z, 2–7, ':'), which is denser than byte mode and survives keyboard-wedge
scanners. The body is binary and compact:

    kid_len:u8  kid:ascii  ref_len:u8  qr_ref:ascii  issued_at:u32 (Unix s)  flags:u8
    [colour:u8 (0 green, 1 black)  status_expires:u32]      only when flags & 1

The Ed25519 signature covers the prefix and the body, so the version cannot be swapped. No ID number, name
or health datum is carried in clear; the status snapshot (for offline verifiers) is just a colour and an
expiry, and the server always recomputes the current status.

`parse_scan_text` rejects every bad input with `ScanRejected(code, message)`: the code is stable (API clients
and tests rely on it), the message is in the user's language.
"""
from __future__ import annotations

import base64
import re
import struct
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.domain import Colour
from backoffice.scanning import keyring
from backoffice.timeutil import now_utc

PREFIX = "HCMBO1:"
MAX_TEXT = 1024  # longer than any payload we or the 1405 format produce
SIGNATURE_LEN = 64
_COLOURS = [Colour.GREEN.value, Colour.BLACK.value]
_B32_RE = re.compile(r"^[A-Z2-7]+$")

# Reason codes → (HTTP status, message). One table for the API, the reception page and the audit log.
REASONS: dict[str, tuple[int, object]] = {
    "empty": (422, _l("Nothing was scanned.")),
    "too_long": (422, _l("The scanned text is too long to be a personal QR code.")),
    "malformed": (422, _l("The QR code could not be read: its content is damaged or incomplete.")),
    "unknown_prefix": (422, _l("This is not a personal QR code this system knows.")),
    "bad_signature": (422, _l("The QR code's signature is not valid: it was altered or forged.")),
    "unknown_key": (422, _l("The QR code was signed with a key this system does not know.")),
    "retired_key": (422, _l("The QR code was signed with a key that has been withdrawn. Print a new card.")),
    "not_in_future": (422, _l("The QR code's issue time is in the future.")),
    "unknown_person": (422, _l("This person is not in the registry.")),
    # One code and one message whichever of ID number, name and date of birth differs: the answer must not tell
    # someone guessing which of the three they got right.
    "identity_mismatch": (422, _l("The ID number, name and date of birth do not match the registry together.")),
    "national_invalid": (422, _l("The national QR text is not valid: %(detail)s")),
    "unknown_checkpoint": (404, _l("This checkpoint does not exist or is not yours.")),
    "checkpoint_inactive": (409, _l("This checkpoint is deactivated.")),
    "revoked_location": (410, _l("This location's QR code has been revoked.")),
    "not_exit_stay": (409, _l("This person has no open check-in here.")),
    "bad_token": (401, _l("The device token is wrong.")),
    "revoked_token": (401, _l("The device token has been revoked.")),
    "not_image": (415, _l("The file is not an image (JPEG, PNG, WebP, GIF, BMP or TIFF).")),
    "truncated_image": (422, _l("The image is truncated or damaged.")),
    "image_too_large": (413, _l("The image is too large.")),
    "body_too_large": (413, _l("The request is too large.")),
    "no_image": (400, _l("No image was sent.")),
    "no_qr": (422, _l("No QR code was found in the image.")),
    "several_qr": (422, _l("The image contains several QR codes: photograph one at a time.")),
    "bad_request": (400, _l("The request is missing a field or has a wrong one: %(detail)s")),
}


# What the person at reception does next, per code (issue 22, point 5): staff read this, never the code. A code
# without its own sentence (one added elsewhere, e.g. the decoder's) gets the general one.
ADVICE: dict[str, object] = {
    "empty": _l("Nothing was read — scan the code again."),
    "too_long": _l("This is not a personal QR code — ask the visitor to show their personal QR code."),
    "malformed": _l("The QR code cannot be read — ask the visitor to open the code on their phone again."),
    "unknown_prefix": _l("This is not a personal QR code — ask the visitor to open their personal QR code "
                         "(PC-Covid or the city's card)."),
    "bad_signature": _l("The QR code is not genuine — ask for the visitor's ID card and their personal QR code."),
    "unknown_key": _l("The code is not from this city's system — ask the visitor for their national QR code "
                      "(PC-Covid)."),
    "retired_key": _l("The card is out of date — the visitor asks their ward for a new card; scan the national "
                      "QR code (PC-Covid) meanwhile."),
    "not_in_future": _l("The QR code's date is wrong — ask the visitor to open the code again."),
    "unknown_person": _l("The code is not recognised — ask the visitor for their national QR code (PC-Covid)."),
    "identity_mismatch": _l("The details do not match — check the visitor's ID card; ask them to open the QR "
                            "code again."),
    "national_invalid": _l("The QR code is incomplete — ask the visitor to open the code on their phone again."),
    "unknown_checkpoint": _l("This checkpoint is not yours — choose your checkpoint above and scan again."),
    "checkpoint_inactive": _l("This checkpoint is switched off — ask your organization administrator."),
    "revoked_location": _l("This location no longer takes check-ins — ask your organization administrator."),
    "not_image": _l("Take a photo of the QR code and send it again."),
    "truncated_image": _l("The photo did not arrive whole — take it again."),
    "image_too_large": _l("The photo is too large — take it again, closer to the code."),
    "body_too_large": _l("The photo is too large — take it again, closer to the code."),
    "no_image": _l("Take a photo of the QR code and send it again."),
    "no_qr": _l("No QR code in the photo — take it again, with the whole code in the picture."),
    "several_qr": _l("Several QR codes in the photo — take one code at a time."),
    "bad_request": _l("The page was interrupted — reload it and scan again."),
    "rate_limited": _l("Too many scans at once — wait a minute, then scan again."),
}
ADVICE_OTHERWISE = _l("The scan was not accepted — scan again; if it keeps failing, ask your organization "
                      "administrator.")


def advice_for(code: str) -> str:
    """The sentence staff read for a rejection code."""
    return str(ADVICE.get(code, ADVICE_OTHERWISE))


class ScanRejected(Exception):
    """A scan that cannot be accepted. `code` is stable; `message` is translated when read."""

    def __init__(self, code: str, detail: str = "", **audit_details: object):
        super().__init__(code)
        if code not in REASONS:
            raise KeyError(f"unknown scan rejection code {code!r}")
        self.code = code
        self.detail = detail
        self.audit_details = audit_details

    @property
    def status(self) -> int:
        return REASONS[self.code][0]

    @property
    def message(self) -> str:
        template = str(REASONS[self.code][1])
        return template.replace("%(detail)s", str(self.detail)) if "%(detail)s" in template else template

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class ParsedPayload:
    kind: str  # "signed" (ours) or "national" (1405)
    signed: bool
    qr_ref: str | None = None
    kid: str | None = None
    issued_at: datetime | None = None
    status_colour: str | None = None
    status_expires_at: datetime | None = None
    # national 1405 fields
    id_number: str | None = None
    full_name: str | None = None
    birth_date: str | None = None
    id_declared: str | None = None  # LoaiDinhDanh: 0 by the person, 1 on their behalf
    qid: str | None = None
    ext: str | None = None


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


# --- parsing ---------------------------------------------------------------------------------------

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


def _parse_signed(text: str, now: datetime) -> ParsedPayload:
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
    return ParsedPayload(kind="signed", signed=True, qr_ref=ref, kid=kid, issued_at=issued_at,
                         status_colour=colour, status_expires_at=expires)


_D_STROKE = str.maketrans({"Đ": "D", "đ": "d"})


def normalise_name(name: str) -> str:
    """A name as the 1405 text writes it: upper case, no diacritics, single spaces ("Đặng  Thị Ánh" → "DANG THI
    ANH"). NFKD splits each accented letter into its base and combining marks, which are dropped; Đ/đ are
    letters of their own (no decomposition), hence the one special case."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_D_STROKE))
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper().split())


_CONTROL_RE = re.compile(r"[\x00-\x1f]")
# ASCII digits only: \d would also take Arabic-Indic or full-width digits, which no registry holds.
_ID_RE = re.compile(r"^(\d{9}|\d{12}|[A-Z]\d{7,8})$", re.ASCII)
_QID_RE = re.compile(r"^\d{6,32}$", re.ASCII)


def _parse_national(text: str) -> ParsedPayload:
    """`SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT` (EXT optional). Unsigned: matched against the registry."""
    fields = text.split("|")
    if len(fields) not in (5, 6):
        raise ScanRejected("national_invalid", _l("expected 6 fields separated by |"))
    id_number, name, born, declared, qid = (f.strip() for f in fields[:5])
    ext = fields[5] if len(fields) == 6 else ""
    id_number = id_number.upper()
    if id_number and not _ID_RE.match(id_number):
        raise ScanRejected("national_invalid", _l("the ID number must be 9 or 12 digits or a passport number"))
    if qid and not _QID_RE.match(qid):
        raise ScanRejected("national_invalid", _l("the QID must be digits"))
    if not id_number and not qid:
        raise ScanRejected("national_invalid", _l("neither an ID number nor a QID"))
    if not name:
        raise ScanRejected("national_invalid", _l("the name is missing"))
    if born:
        try:
            date.fromisoformat(born) if len(born) == 10 else int(born)
        except ValueError:
            raise ScanRejected("national_invalid", _l("the birth date must be YYYY-MM-DD")) from None
    if declared not in ("", "0", "1"):
        raise ScanRejected("national_invalid", _l("the declaration type must be 0 or 1"))
    return ParsedPayload(kind="national", signed=False, id_number=id_number or None, full_name=name,
                         birth_date=born or None, id_declared=declared or None, qid=qid or None, ext=ext)


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


def parse_scan_text(text: str, *, now: datetime | None = None) -> ParsedPayload:
    """Parse (and for ours, verify) what a scanner read; raise ScanRejected for anything else."""
    if text is None:
        raise ScanRejected("empty")
    if len(text) > MAX_TEXT:
        raise ScanRejected("too_long")
    # Keyboard-wedge scanners end with Enter (sometimes CR LF or a tab); nothing else is trimmed.
    text = text.strip(" \r\n\t")
    if not text:
        raise ScanRejected("empty")
    if _CONTROL_RE.search(text):
        raise ScanRejected("malformed")
    now = now or now_utc()
    if text.startswith(PREFIX):
        return _parse_signed(text, now)
    if "|" in text:
        return _parse_national(text)
    raise ScanRejected("unknown_prefix")
