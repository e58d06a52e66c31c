"""Rate limits of the scan endpoints: per device token, per staff user, per client address.

A scan answers whether an identity is in the registry and what its colour is, so an endpoint that scans without
limit is an oracle to enumerate. The levels come from the busiest real checkpoint we plan for: one person every
2–3 s, i.e. 20–30 scans a minute and at most 1,800 an hour kept up for the whole hour (a re-scan after a misread
or an exit scan counts as one more). Defaults, each several times that, so no real checkpoint reaches them:

- per device token and per staff user: 90 a minute (3 × 30), 3,000 an hour (1.7 × 1,800 sustained);
- per client address: 600 a minute, 20,000 an hour — one address may be a venue's NAT with ~10 busy checkpoints
  (devices and reception pages together).

Each is a Flask-Limiter *shared* limit: the reception's text and photo scans count together, as do a device's
text and image scans, and the address counter spans every scan endpoint. Settings (config or environment):
SCAN_LIMIT_PER_DEVICE, SCAN_LIMIT_PER_USER, SCAN_LIMIT_PER_IP. With RATELIMIT_STORAGE_URI on Redis the counters
hold across processes; in memory they are per process (each gunicorn worker counts on its own).

When a limit trips, the client gets 429 with a message in its language, and the audit log one
"scan.rate_limited" alert per key and window (not one per refused request: a flood must not flood the log).
"""
from __future__ import annotations

import hashlib

from flask import current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_login import current_user
from sqlalchemy import select

from backoffice import audit
from backoffice.extensions import client_ip, db, limiter

DEFAULTS = {
    "SCAN_LIMIT_PER_DEVICE": "90 per minute;3000 per hour",
    "SCAN_LIMIT_PER_USER": "90 per minute;3000 per hour",
    "SCAN_LIMIT_PER_IP": "600 per minute;20000 per hour",
}


def _level(name: str):
    return lambda: current_app.config.get(name) or DEFAULTS[name]


def _device_digest() -> str:
    """The SHA-256 of the bearer secret, as DeviceToken.token_hash stores it (the secret never reaches storage)."""
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip() if scheme.lower() == "bearer" else ""
    return hashlib.sha256(secret[:128].encode("utf-8")).hexdigest()


def device_key() -> str:
    return "device:" + _device_digest()[:32]


def user_key() -> str:
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return "user:-" + client_ip()  # refused by the view anyway; counted apart from every real account


def ip_key() -> str:
    return "ip:" + client_ip()


def alert(breach: RequestLimit) -> None:
    """One audit entry per key and window: the first refused request of a window takes a one-hit slot of the
    same length in the limiter's storage (shared across processes like the counters); the others find it taken."""
    item = type(breach.limit)(1, breach.limit.multiples, namespace="SCANALERT")
    if not breach.limiter.hit(item, breach.key):
        return
    ident = breach.key.split("/")[1] if breach.key.count("/") >= 2 else ""
    kind = ident.split(":", 1)[0]
    if kind not in ("device", "user", "ip"):
        kind = "poster" if ident.startswith("selfcheckin:") else "ip"  # the self check-in page's own limits
    after = {"limit": str(breach.limit), "per": kind, "path": request.path[:128]}
    organization_id = None
    actor = None
    if kind == "device":
        from backoffice.models import DeviceToken
        row = db.session.execute(select(DeviceToken.id, DeviceToken.organization_id)
                                 .where(DeviceToken.token_hash == _device_digest())).first()
        if row is not None:
            after["device_token"], organization_id = row.id, row.organization_id
    if getattr(current_user, "is_authenticated", False):
        actor = current_user._get_current_object()
        organization_id = organization_id or actor.organization_id
    audit.record_now("scan.rate_limited", actor=actor, entity_name="scans", entity_id=kind, after=after,
                     organization_id=organization_id)


def _shared(setting: str, scope: str, key_func):
    return limiter.shared_limit(_level(setting), scope=scope, key_func=key_func, on_breach=alert)


per_device = _shared("SCAN_LIMIT_PER_DEVICE", "scan-device", device_key)
per_user = _shared("SCAN_LIMIT_PER_USER", "scan-user", user_key)
per_ip = _shared("SCAN_LIMIT_PER_IP", "scan-ip", ip_key)


def message() -> str:
    return _("Too many scans in a short time from this device, account or address. Wait a minute and scan again.")


def json_answer(exc):
    """The 429 of the JSON scan endpoints (API, reception), shaped like their other errors."""
    response = jsonify(error={"code": "rate_limited", "message": message()})
    response.status_code = 429
    retry = getattr(exc, "retry_after", None)
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


def page_answer(exc):  # noqa: ARG001
    """The 429 of the self check-in page: the public error page, in the visitor's language."""
    return render_template("error.html", code=429, message=message()), 429
