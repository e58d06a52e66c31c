"""Personal QR payloads and the key ring: round trip, tampering, rotation, retirement, the national text."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from backoffice.extensions import db
from backoffice.models import Person, SigningKey
from backoffice.scanning import keyring
from backoffice.scanning.payload import PREFIX, ScanRejected, issue_personal_payload, parse_scan_text
from factories import person

ALNUM = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def green_resident() -> Person:
    """Demo resident 079090000001 (seed.KNOWN_RESIDENTS), green."""
    return person("079090000001")


def rejected(text: str) -> str:
    with pytest.raises(ScanRejected) as info:
        parse_scan_text(text)
    return info.value.code


def test_round_trip_is_compact_ascii_and_reveals_nothing(ctx):
    p = green_resident()
    now = datetime(2021, 11, 1, 3, 0, tzinfo=timezone.utc)
    text = issue_personal_payload(p, now=now)
    assert text.startswith(PREFIX) and set(text) <= ALNUM and len(text) < 180
    assert p.id_number not in text and "Nguy" not in text
    parsed = parse_scan_text(text, now=now)
    assert (parsed.kind, parsed.signed, parsed.qr_ref, parsed.issued_at) == ("signed", True, p.qr_ref, now)
    assert parsed.kid == keyring.current_signer().kid and parsed.status_colour is None


def test_status_snapshot_and_expiry(ctx):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    parsed = parse_scan_text(issue_personal_payload(person("079190000002"), now=now, with_status=True))
    assert parsed.status_colour == "black" and parsed.status_expires_at == now + timedelta(hours=24)
    assert parse_scan_text(issue_personal_payload(green_resident(), with_status=True)).status_colour == "green"


def test_tampering_with_any_character_fails(ctx):
    text = issue_personal_payload(green_resident())
    for index in range(len(text)):
        for replacement in {"A", "Q", "7", "a", "Z"} - {text[index]}:
            forged = text[:index] + replacement + text[index + 1:]
            assert rejected(forged) in {"malformed", "bad_signature", "unknown_key", "unknown_prefix"}, (index,)
    assert rejected(text[:-1]) == "malformed"
    assert rejected(text + "A") in {"malformed", "bad_signature"}


def test_flipping_any_bit_of_the_signed_bytes_fails(ctx):
    import base64
    text = issue_personal_payload(green_resident())
    raw = bytearray(base64.b32decode(text[len(PREFIX):] + "=" * (-len(text[len(PREFIX):]) % 8)))
    for index in range(len(raw)):
        forged = bytearray(raw)
        forged[index] ^= 0x01
        encoded = base64.b32encode(bytes(forged)).decode().rstrip("=")
        assert rejected(PREFIX + encoded) in {"malformed", "bad_signature", "unknown_key"}


def test_a_signature_from_another_key_is_refused(ctx):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from backoffice.scanning.credentials import signed as payload_module
    signer = keyring.current_signer()
    body = payload_module._encode_body(signer.kid, green_resident().qr_ref, datetime.now(timezone.utc), None, None)
    forged = Ed25519PrivateKey.generate().sign(PREFIX.encode() + body)
    assert rejected(PREFIX + payload_module._b32(body + forged)) == "bad_signature"
    unknown = payload_module._encode_body("ZZZZZZZZ", green_resident().qr_ref, datetime.now(timezone.utc), None, None)
    assert rejected(PREFIX + payload_module._b32(unknown + forged)) == "unknown_key"


def test_rotation_keeps_old_codes_valid_until_retired(ctx):
    old_text = issue_personal_payload(green_resident())
    old_kid = keyring.current_signer().kid
    new = keyring.rotate(now=True)
    assert keyring.current_signer().kid == new.kid != old_kid
    new_text = issue_personal_payload(green_resident())
    assert parse_scan_text(old_text).kid == old_kid
    assert parse_scan_text(new_text).kid == new.kid
    assert {k["kid"] for k in keyring.jwks()["keys"]} >= {old_kid, new.kid}
    with pytest.raises(keyring.KeyRingError):
        keyring.retire(new.kid)  # the signer: rotate first
    keyring.retire(old_kid)
    assert rejected(old_text) == "retired_key"
    assert parse_scan_text(new_text).signed
    assert old_kid not in {k["kid"] for k in keyring.jwks()["keys"]}
    assert db.session.get(SigningKey, old_kid).private_key is None


def test_private_keys_are_stored_encrypted(ctx):
    signer = keyring.current_signer()
    row = db.session.get(SigningKey, signer.kid)
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    raw = signer.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert raw.hex() not in row.private_key and keyring._b64(raw) not in row.private_key


def test_configured_key_signs_without_a_stored_secret(app):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    private = Ed25519PrivateKey.generate()
    seed = keyring._b64(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    kid = keyring.kid_for(keyring._raw_public(private))
    with app.app_context():
        app.config["BACKOFFICE_SIGNING_KEYS"] = f"{kid}={seed}"
        try:
            assert db.session.get(SigningKey, kid) is None
            keyring.rotate()  # the ring already has a signer: make the configured key sign by rotating to it
            keyring._sync_configured()
            row = db.session.get(SigningKey, kid)
            assert row is not None and row.private_key is None
            assert keyring.verify(kid, private.sign(b"x"), b"x") == "ok"
        finally:
            app.config["BACKOFFICE_SIGNING_KEYS"] = ""
            keyring.invalidate()


def test_a_configured_key_becomes_the_signer_with_use(app):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    private = Ed25519PrivateKey.generate()
    seed = keyring._b64(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    kid = keyring.kid_for(keyring._raw_public(private))
    runner = app.test_cli_runner()
    with app.app_context():
        previous = keyring.current_signer().kid
        app.config["BACKOFFICE_SIGNING_KEYS"] = f"{kid}={seed}"
        try:
            result = runner.invoke(args=["keys", "use", kid])
            assert result.exit_code == 0, result.output
            assert keyring.current_signer().kid == kid
            text = issue_personal_payload(green_resident())
            assert parse_scan_text(text).kid == kid  # signed by the configured key, verified from its public half
            assert db.session.get(SigningKey, kid).private_key is None
            assert keyring.verify(previous, b"\0" * 64, b"x") == "bad_signature"  # still in the ring, verifying
        finally:
            keyring.use(previous)
            app.config["BACKOFFICE_SIGNING_KEYS"] = ""
            keyring.invalidate()
        assert runner.invoke(args=["keys", "use", "NOSUCHKY"]).exit_code != 0


def test_keys_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate", "--now"])
    assert result.exit_code == 0 and "signs from now on" in result.output
    listing = runner.invoke(args=["keys", "list"]).output
    assert "signing" in listing and "verifying" in listing
    assert runner.invoke(args=["keys", "retire", "NOSUCHKY"]).exit_code != 0
    text = runner.invoke(args=["qr", "personal", "079090000001"]).output.strip()
    with app.app_context():
        assert parse_scan_text(text).qr_ref == green_resident().qr_ref


@pytest.mark.parametrize("text, code", [
    ("", "empty"), ("   \r\n", "empty"), ("x" * 5000, "too_long"), ("hello world", "unknown_prefix"),
    ("HC1:6BFOXN%TS3DH0YOJ58S", "unknown_prefix"), ("HCMBO1:", "malformed"), ("HCMBO1:abc", "malformed"),
    ("HCMBO1:AAAAAAAA", "malformed"), ("HCMBO1:AB\x00CD", "malformed"), ("HCMBO1:0189", "malformed"),
    ("a|b", "national_invalid"), ("12345|NGUYEN VAN A|1987-01-18|0|1629|", "national_invalid"),
    ("001093029317||1987-01-18|0|162979388586171100|", "national_invalid"),
    ("001093029317|NGUYEN VAN A|18/01/1987|0|162979388586171100|", "national_invalid"),
    ("001093029317|NGUYEN VAN A|1987-01-18|7|162979388586171100|", "national_invalid"),
    ("٠٧٩٠٩٠٠٠٠٠٠١|NGUYEN VAN AN|1990-01-15|0||", "national_invalid"),  # Arabic-Indic digits
    ("０７９０９０００００１２|NGUYEN VAN AN|1990-01-15|0||", "national_invalid"),  # full-width digits
    ("|NGUYEN VAN A|1987-01-18|0||", "national_invalid"),
])
def test_bad_texts_have_stable_codes_and_messages(ctx, text, code):
    with pytest.raises(ScanRejected) as info:
        parse_scan_text(text)
    assert info.value.code == code and 400 <= info.value.status < 500 and info.value.message


def test_national_text_parses_unsigned(ctx):
    parsed = parse_scan_text("001093029317|NGUYEN VAN A|1987-01-18|0|162979388586171100|<1<00<0123232422\r\n")
    assert (parsed.kind, parsed.signed, parsed.id_number, parsed.qid) == (
        "national", False, "001093029317", "162979388586171100")


def _reference_b32decode(text: str) -> bytes | None:
    """What the payload's base32 must mean: RFC 4648 decoding, accepted only if re-encoding gives the text back."""
    import base64
    import binascii
    import re
    if not re.fullmatch(r"[A-Z2-7]+", text):
        return None
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    return data if base64.b32encode(data).decode().rstrip("=") == text else None


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.binary(max_size=120).map(lambda b: __import__("base64").b32encode(b).decode().rstrip("=")),
                 st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=a1 ", max_size=40)),
       st.integers(min_value=0, max_value=200), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
def test_the_fast_base32_decoder_agrees_with_rfc_4648(text, position, replacement):
    """The scan path reads base32 as one integer; it must accept and refuse exactly what base64 does, for canonical
    encodings and for every one-character change of them."""
    from backoffice.scanning.credentials.signed import _strict_b32decode
    for candidate in (text, text[:position] + replacement + text[position + 1:] if text else text):
        try:
            ours = _strict_b32decode(candidate)
        except ScanRejected:
            ours = None
        assert ours == _reference_b32decode(candidate), candidate


def test_peek_reads_the_reference_without_trusting_it(ctx):
    from backoffice.scanning.payload import peek_person_ref
    p = green_resident()
    text = issue_personal_payload(p)
    assert peek_person_ref(text + "\r\n") == p.qr_ref
    forged = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    assert peek_person_ref(forged) == p.qr_ref and rejected(forged) in ("bad_signature", "malformed")
    for junk in (None, 5, "", "HCMBO1:", "HCMBO1:!!!!", "079090000001|A|1990|0||", "x" * 5000):
        assert peek_person_ref(junk) is None
