"""The JSON API for device clients: `/api/v1/scans`, `/api/v1/scans/image`, `/api/v1/keys`.

Device clients authenticate with a per-checkpoint token (`Authorization: Bearer bod_…`); the API never reads the
cookie session, which is why its blueprint is exempt from CSRF. Errors are JSON `{"error": {"code", "message"}}`
with a stable code and a message in the language of `Accept-Language` (Vietnamese by default; see
`i18n.select_locale`).
"""
from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, request

from backoffice.database import scan_connection
from backoffice.extensions import csrf
from backoffice.scanning import keyring
from backoffice.scanning import limits
from backoffice.scanning.payload import ScanRejected
from backoffice.timeutil import now_utc

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value if scheme.lower() == "bearer" else None


@bp.errorhandler(ScanRejected)
def _rejected(exc: ScanRejected):
    return jsonify(error={"code": exc.code, "message": exc.message}), exc.status


@bp.errorhandler(429)
def _too_many(exc):
    return limits.json_answer(exc)


@bp.errorhandler(413)
def _too_large(exc):  # noqa: ARG001
    """Bodies over MAX_CONTENT_LENGTH never reach the view: audit them all the same, named for what was sent."""
    from backoffice.scanning.service import reject
    image = request.path.rstrip("/").endswith("/image")
    try:
        reject("image_too_large" if image else "body_too_large", method="image" if image else "device",
               size=request.content_length)
    except ScanRejected as rejected:
        return _rejected(rejected)


def _checkpoint_matches(token, method: str, given) -> None:
    from backoffice.scanning.service import reject
    if given in (None, ""):
        return
    try:
        if int(given) == token.checkpoint_id:
            return
    except (TypeError, ValueError):
        pass
    reject("unknown_checkpoint", method=method, device_token=token, entity_id=str(given)[:32])


def _scan(text: str, token, method: str, connection, now: datetime | None = None):
    from backoffice.scanning.service import record_scan
    result = record_scan(text, point=token.point, method=method, device_token=token, now=now,
                         prefetched=token.prefetched, connection=connection)
    return jsonify(result.to_json()), 201 if result.action == "check_in" else 200


# A scan's JSON is a few hundred bytes; anything near this is not one (and is read before the token is checked).
SCAN_BODY_LIMIT = 16 * 1024


@bp.post("/scans")
@limits.per_device
@limits.per_ip
def scans():
    """JSON `{"payload": "<scanned text>", "checkpoint": <id, optional: the token's>}`."""
    from backoffice.scanning.devices import authenticate_device
    from backoffice.health.status import scan_day
    from backoffice.scanning.payload import peek_person_ref
    from backoffice.scanning.service import reject
    request.max_content_length = min(SCAN_BODY_LIMIT, current_app.config["MAX_CONTENT_LENGTH"] or SCAN_BODY_LIMIT)
    body = request.get_json(silent=True)
    text = body.get("payload") if isinstance(body, dict) else None
    now = now_utc()
    with scan_connection() as connection:
        # The token and the person the text names are read together (one round trip); the text is verified
        # after, in record_scan.
        token = authenticate_device(_bearer(), person_ref=peek_person_ref(text), day=scan_day(now),
                                    connection=connection)
        if not isinstance(text, str):
            reject("bad_request", method="device", device_token=token, detail="payload")
        _checkpoint_matches(token, "device", body.get("checkpoint"))
        return _scan(text, token, "device", connection, now)


@bp.post("/scans/image")
@limits.per_device
@limits.per_ip
def scan_image():
    """A photo as multipart field `image` (optional field `checkpoint`), or as the raw request body."""
    from backoffice.scanning.decode import decode_image
    from backoffice.scanning.devices import authenticate_device
    from backoffice.scanning.service import reject
    with scan_connection() as connection:
        token = authenticate_device(_bearer(), method="image", connection=connection)
        upload = request.files.get("image")
        data = upload.read() if upload is not None else (b"" if request.form or request.files else request.get_data())
        _checkpoint_matches(token, "image", request.form.get("checkpoint") or request.args.get("checkpoint"))
        try:
            text = decode_image(data)
        except ScanRejected as exc:
            reject(exc.code, method="image", device_token=token, entity_id=token.checkpoint_id, size=len(data))
        return _scan(text, token, "image", connection)


@bp.get("/keys")
def keys():
    """The active public keys (JWK set, Ed25519) for offline verifiers."""
    if not keyring.public_keys():
        keyring.current_signer()  # the embedded default creates the first key on demand
    response = jsonify(keyring.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/openapi.json")
def openapi():
    """This API described in OpenAPI 3 (backoffice/api/openapi.yaml), for client generators and contract tests."""
    return jsonify(_openapi_document())


@functools.cache
def _openapi_document() -> dict:
    import yaml
    return yaml.safe_load((Path(__file__).with_name("openapi.yaml")).read_text(encoding="utf-8"))


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
