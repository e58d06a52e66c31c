"""The public self check-in page at a location QR's URL (`/c/<token>`): a visitor's phone opens it and the
visitor gives their personal QR (live camera through the browser's BarcodeDetector, or a photo decoded on
the server) or types their ID number; the check-in is recorded by `qr.service.record_scan` with method
"self". CSRF-protected (the anonymous session carries the token) and rate-limited per address and per poster.

Typing an ID number proves nothing about who types it, so that path shows only the initials of the name,
and it is recorded as an unsigned declaration (the national 1405 text with LoaiDinhDanh 1, "declared on
their behalf"), never as a signed scan.

This module is also where engineer B's other QR parts plug in (`qr/__init__` loads it): the printing pages.
"""
from __future__ import annotations

import unicodedata

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from backoffice import identifiers
from backoffice.extensions import db, limiter
from backoffice.models import Location, Person
from backoffice.qr import locations, service
from backoffice.qr.payload import ScanRejected
from backoffice.timeutil import to_local

bp = Blueprint("selfcheckin", __name__, template_folder="templates")
MAX_PHOTO_BYTES = 15 * 1024 * 1024


def _ip_limit() -> str:
    return current_app.config.get("SELF_CHECKIN_LIMIT_PER_IP", "20 per minute")


def _poster_limit() -> str:
    return current_app.config.get("SELF_CHECKIN_LIMIT_PER_QR", "300 per minute")


def _token_key() -> str:
    return "selfcheckin:" + str((request.view_args or {}).get("token", ""))[:64]


def national_text(person: Person) -> str:
    """The 1405 text for a person identified by a typed ID number (upper case ASCII name, declared on their
    behalf), so the scan takes the same unsigned path as a scanned national QR."""
    name = unicodedata.normalize("NFD", person.full_name.replace("Đ", "D").replace("đ", "d"))
    name = " ".join("".join(ch for ch in name if not unicodedata.combining(ch)).upper().split())
    born = person.birth_date.isoformat() if person.birth_date else ""
    return f"{person.id_number}|{name or '-'}|{born}|1|{person.qid or ''}|"


def initials(full_name: str) -> str:
    """"Nguyễn Văn An" → "N. V. A.": enough for the visitor to see it is them, too little to unmask anyone."""
    return " ".join(word[0] + "." for word in full_name.split())


def _page(target, error: str | None = None, status: int = 200, code: str | None = None):
    return render_template("qr/selfcheckin.html", target=target, places=target.active_locations(), error=error,
                           code=code), status


def _closed(exc: locations.TokenError):
    message = _("This QR code has been revoked. Ask the staff for the current one.") if exc.code == "revoked" \
        else _("This QR code is not a check-in code of this system.")
    return render_template("qr/selfcheckin_closed.html", message=message, code=exc.code), exc.status


@bp.route("/c/<token>", methods=["GET"])
def page(token: str):
    try:
        target = locations.resolve(token)
    except locations.TokenError as exc:
        return _closed(exc)
    return _page(target)


@bp.route("/c/<token>", methods=["POST"])
@limiter.limit(_ip_limit)
@limiter.limit(_poster_limit, key_func=_token_key)
def submit(token: str):
    try:
        target = locations.resolve(token)
    except locations.TokenError as exc:
        return _closed(exc)
    places = target.active_locations()
    location = _chosen(places, request.form.get("location_id"))
    if location is None:
        message = _("This organization has no active location to check in to.") if not places else \
            _("Choose the place you are entering.")
        return _page(target, message, 409 if not places else 400, "location")
    masked = False
    try:
        text = request.form.get("qr_text", "")
        photo = request.files.get("photo")
        id_number = request.form.get("id_number", "").strip()[:32]
        if photo is not None and photo.filename:
            text = _decode(photo, location)
        elif id_number:
            text, masked = _from_id_number(id_number, location), True
        elif not text.strip():
            return _page(target, _("Scan your personal QR code, send a photo of it, or type your ID number."), 400,
                         "empty")
        result = service.record_scan(text, location=location, method="self")
    except ScanRejected as exc:
        return _page(target, exc.message, exc.status, exc.code)
    name = initials(result.name) if masked else result.name
    return render_template("qr/selfcheckin_result.html", result=result, name=name, target=target,
                           location=location, scanned=to_local(result.scanned_at).strftime("%H:%M %d/%m/%Y"))


def _chosen(places: list[Location], value: str | None) -> Location | None:
    if len(places) == 1:
        return places[0]
    by_id = {str(place.id): place for place in places}
    return by_id.get((value or "").strip())


def _decode(photo, location: Location) -> str:
    from backoffice.qr.decode import decode_image
    data = photo.stream.read(MAX_PHOTO_BYTES + 1)
    try:
        if len(data) > MAX_PHOTO_BYTES:
            raise ScanRejected("image_too_large")
        return decode_image(data)
    except ScanRejected as exc:
        service.reject(exc.code, method="self", organization_id=location.organization_id, location=location.id,
                       size=len(data))
        raise  # unreachable: reject() raises


def _from_id_number(value: str, location: Location) -> str:
    try:
        id_number = identifiers.clean_id_number(value)[0]
    except ValueError as exc:
        service.reject("bad_request", detail=str(exc), method="self", organization_id=location.organization_id,
                       location=location.id, typed=True)
    person = db.session.scalar(select(Person).where(Person.id_number == id_number))
    if person is None:
        service.reject("unknown_person", method="self", organization_id=location.organization_id,
                       location=location.id, typed=True)
    return national_text(person)


def init_app(app) -> None:
    app.register_blueprint(bp)
    from backoffice.qr import print_views
    print_views.init_app(app)
