"""The JSON API for device clients: `/api/v1/scans`, `/api/v1/scans/image`, `/api/v1/keys`.

Device clients authenticate with a per-checkpoint token (`Authorization: Bearer bod_…`); the API never reads the
cookie session, which is why its blueprint is exempt from CSRF. Errors are JSON `{"error": {"code", "message"}}`
with a stable code and a message in the language of `Accept-Language` (Vietnamese by default; see
`i18n.select_locale`).
"""
from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Flask, jsonify, request

from backoffice.extensions import csrf
from backoffice.qr import keyring
from backoffice.qr.payload import ScanRejected

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value if scheme.lower() == "bearer" else None


@bp.errorhandler(ScanRejected)
def _rejected(exc: ScanRejected):
    return jsonify(error={"code": exc.code, "message": exc.message}), exc.status


@bp.errorhandler(413)
def _too_large(exc):  # noqa: ARG001
    """Bodies over MAX_CONTENT_LENGTH never reach the view: audit them all the same, named for what was sent."""
    from backoffice.qr.service import reject
    image = request.path.rstrip("/").endswith("/image")
    try:
        reject("image_too_large" if image else "body_too_large", method="image" if image else "device",
               size=request.content_length)
    except ScanRejected as rejected:
        return _rejected(rejected)


def _checkpoint_matches(token, method: str, given) -> None:
    from backoffice.qr.service import reject
    if given in (None, ""):
        return
    try:
        if int(given) == token.checkpoint_id:
            return
    except (TypeError, ValueError):
        pass
    reject("unknown_checkpoint", method=method, device_token=token, entity_id=str(given)[:32])


def _scan(text: str, token, method: str):
    from backoffice.qr.service import record_scan
    result = record_scan(text, point=token.point, method=method, device_token=token)
    return jsonify(result.to_json()), 201 if result.action == "check_in" else 200


@bp.post("/scans")
def scans():
    """JSON `{"payload": "<scanned text>", "checkpoint": <id, optional: the token's>}`."""
    from backoffice.qr.devices import authenticate_device
    from backoffice.qr.service import reject
    token = authenticate_device(_bearer())
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("payload"), str):
        reject("bad_request", method="device", device_token=token, detail="payload")
    _checkpoint_matches(token, "device", body.get("checkpoint"))
    return _scan(body["payload"], token, "device")


@bp.post("/scans/image")
def scan_image():
    """A photo as multipart field `image` (optional field `checkpoint`), or as the raw request body."""
    from backoffice.qr.decode import decode_image
    from backoffice.qr.devices import authenticate_device
    from backoffice.qr.service import reject
    token = authenticate_device(_bearer(), method="image")
    upload = request.files.get("image")
    data = upload.read() if upload is not None else (b"" if request.form or request.files else request.get_data())
    _checkpoint_matches(token, "image", request.form.get("checkpoint") or request.args.get("checkpoint"))
    try:
        text = decode_image(data)
    except ScanRejected as exc:
        reject(exc.code, method="image", device_token=token, entity_id=token.checkpoint_id, size=len(data))
    return _scan(text, token, "image")


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
