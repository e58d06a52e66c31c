"""The JSON API for device clients: `/api/v1/scans`, `/api/v1/scans/image`, `/api/v1/keys`.

Device clients authenticate with a per-checkpoint token (`Authorization: Bearer bod_…`); the API never reads the
cookie session, which is why its blueprint is exempt from CSRF. Errors are JSON `{"error": {"code", "message"}}`
with a stable code and a message in the language of `Accept-Language` (Vietnamese by default; see
`i18n.select_locale`).
"""
from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, request

from backoffice.extensions import csrf
from backoffice.scanning import keyring
from backoffice.scanning import limits
from backoffice.scanning.payload import ScanRejected

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


def _answer(result):
    return jsonify(result.to_json()), 201 if result.action == "check_in" else 200


# A scan's JSON is a few hundred bytes; anything near this is not one (and is read before the token is checked).
SCAN_BODY_LIMIT = 16 * 1024


@bp.post("/scans")
@limits.per_device
@limits.per_ip
def scans():
    """JSON `{"payload": "<scanned text>", "checkpoint": <id, optional: the token's>}`."""
    from backoffice.scanning.device_scans import record_device_scan
    request.max_content_length = min(SCAN_BODY_LIMIT, current_app.config["MAX_CONTENT_LENGTH"] or SCAN_BODY_LIMIT)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    return _answer(record_device_scan(_bearer(), body.get("payload"), checkpoint=body.get("checkpoint")))


@bp.post("/scans/image")
@limits.per_device
@limits.per_ip
def scan_image():
    """A photo as multipart field `image` (optional field `checkpoint`), or as the raw request body."""
    from backoffice.scanning.device_scans import record_device_image_scan

    def read_request() -> tuple[bytes, object]:
        upload = request.files.get("image")
        data = upload.read() if upload is not None else (b"" if request.form or request.files else request.get_data())
        return data, request.form.get("checkpoint") or request.args.get("checkpoint")

    return _answer(record_device_image_scan(_bearer(), read_request))


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
