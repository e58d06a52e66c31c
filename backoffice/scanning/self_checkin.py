"""The public self check-in page at a location QR's URL (`/c/<token>`): a visitor's phone opens it and the
visitor gives their personal QR (live camera through the browser's BarcodeDetector, or a photo decoded on
the server) or types their ID number; the check-in is recorded by `scanning.service.record_scan` with method
"self". CSRF-protected (the anonymous session carries the token) and rate-limited per address and per poster.

An ID number alone is no credential, so the typed path asks for the ID number, the full name and the date of
birth, and becomes the national 1405 text with LoaiDinhDanh 1 ("declared on their behalf"): the same unsigned
path as a scanned national QR, matched on all three (`service.identity_matches`), never a signed scan.

The page is anonymous, so it must be no oracle of the registry: it shows the colour and the initials of the name
only (no reason, no ID, no birth year), and a person not in the registry, or an identity that does not match,
gets the same answer as a person without health data (black, 200, the same page) — the rule of letter 1913
makes "no data" black anyway. Only the audit log tells the difference.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from backoffice import identifiers
from backoffice.domain import Colour
from backoffice.extensions import limiter
from backoffice.models import Location, Person
from backoffice.scanning import limits
from backoffice.printing import locations
from backoffice.scanning import service
from backoffice.scanning.payload import ScanRejected, normalise_name, parse_scan_text
from backoffice.timeutil import now_utc, to_local

bp = Blueprint("selfcheckin", __name__, template_folder="templates")
MAX_PHOTO_BYTES = 15 * 1024 * 1024


def _ip_limit() -> str:
    return current_app.config.get("SELF_CHECKIN_LIMIT_PER_IP", "20 per minute")


def _poster_limit() -> str:
    return current_app.config.get("SELF_CHECKIN_LIMIT_PER_QR", "300 per minute")


def _token_key() -> str:
    return "selfcheckin:" + str((request.view_args or {}).get("token", ""))[:64]


# The registry's answer is never shown as such: a person unknown, or not matching, reads like "no data".
NOT_MATCHED = {"unknown_person", "identity_mismatch"}


def national_text(person: Person) -> str:
    """The 1405 text of a person (upper case ASCII name, declared on their behalf)."""
    born = person.birth_date.isoformat() if person.birth_date else ""
    return f"{person.id_number}|{normalise_name(person.full_name) or '-'}|{born}|1|{person.qid or ''}|"


@dataclass(frozen=True)
class Shown:
    """What the result page shows: nothing the registry alone could tell."""
    colour: str
    signed: bool
    scanned_at: object


def initials(full_name: str) -> str:
    """"Nguyễn Văn An" → "N. V. A.": enough for the visitor to see it is them, too little to unmask anyone.
    Without diacritics, so the registry's spelling ("Đ") and a typed one ("D") answer alike."""
    return " ".join(word[0] + "." for word in normalise_name(full_name).split())


def _page(target, error: str | None = None, status: int = 200, code: str | None = None):
    return render_template("scanning/selfcheckin.html", target=target, places=target.active_locations(), error=error,
                           code=code), status


def _closed(exc: locations.TokenError):
    message = _("This QR code has been revoked. Ask the staff for the current one.") if exc.code == "revoked" \
        else _("This QR code is not a check-in code of this system.")
    return render_template("scanning/selfcheckin_closed.html", message=message, code=exc.code), exc.status


@bp.route("/c/<token>", methods=["GET"])
def page(token: str):
    try:
        target = locations.resolve(token)
    except locations.TokenError as exc:
        return _closed(exc)
    return _page(target)


@bp.errorhandler(429)
def _too_many(exc):
    return limits.page_answer(exc)


@bp.route("/c/<token>", methods=["POST"])
@limiter.limit(_ip_limit, on_breach=limits.alert)
@limiter.limit(_poster_limit, key_func=_token_key, on_breach=limits.alert)
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
    text = request.form.get("qr_text", "")
    try:
        photo = request.files.get("photo")
        id_number = request.form.get("id_number", "").strip()[:32]
        if photo is not None and photo.filename:
            text = _decode(photo, location)
        elif id_number or request.form.get("full_name", "").strip():
            text = _typed_identity(id_number, location)
        elif not text.strip():
            return _page(target, _("Scan your personal QR code, send a photo of it, or type your ID number, full "
                                   "name and date of birth."), 400, "empty")
        result = service.record_scan(text, location=location, method="self")
        shown, name = Shown(result.colour, result.signed, result.scanned_at), result.name
    except ScanRejected as exc:
        if exc.code not in NOT_MATCHED:
            return _page(target, exc.message, exc.status, exc.code)
        # Audited by record_scan; answered as a person without data, with the initials of the name given.
        parsed = parse_scan_text(text)
        shown, name = Shown(Colour.BLACK.value, parsed.signed, now_utc()), parsed.full_name or ""
    return render_template("scanning/selfcheckin_result.html", result=shown, name=initials(name), target=target,
                           location=location, scanned=to_local(shown.scanned_at).strftime("%H:%M %d/%m/%Y"))


def _chosen(places: list[Location], value: str | None) -> Location | None:
    if len(places) == 1:
        return places[0]
    by_id = {str(place.id): place for place in places}
    return by_id.get((value or "").strip())


def _decode(photo, location: Location) -> str:
    from backoffice.scanning.decode import decode_image
    data = photo.stream.read(MAX_PHOTO_BYTES + 1)
    try:
        if len(data) > MAX_PHOTO_BYTES:
            raise ScanRejected("image_too_large")
        return decode_image(data)
    except ScanRejected as exc:
        service.reject(exc.code, method="self", organization_id=location.organization_id, location=location.id,
                       size=len(data))
        raise  # unreachable: reject() raises


def _typed_identity(value: str, location: Location) -> str:
    """The national text of a typed ID number, full name and date of birth, all three required (the form's
    own mistakes answer 400; whether they match the registry is record_scan's to decide)."""
    name = normalise_name(request.form.get("full_name", "")[:128].replace("|", " "))
    born = request.form.get("birth_date", "").strip()[:10]
    try:
        id_number = identifiers.clean_id_number(value)[0]
        if not name:
            raise ValueError(_("Type your full name as on your ID card."))
        try:
            born = date.fromisoformat(born).isoformat()
        except ValueError:
            raise ValueError(_("Type your date of birth.")) from None
    except ValueError as exc:
        service.reject("bad_request", detail=str(exc), method="self", organization_id=location.organization_id,
                       location=location.id, typed=True)
    return f"{id_number}|{name}|{born}|1||"


def init_app(app) -> None:
    app.register_blueprint(bp)
