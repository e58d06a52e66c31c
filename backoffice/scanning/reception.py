"""The reception page for checkpoint staff (`/reception`) and the JSON endpoints it calls.

One screen: a checkpoint picker, an autofocused input for keyboard-wedge scanners (text then Enter), a photo
button (decoded on the server) and a live camera where the browser has `BarcodeDetector`, a full-screen green or
black result with the reason, what follows and a sound, and the last scans. A rejection answers its code (for
scripts), its message and `advice`: the sentence staff read, saying what to do (never the code). Authenticated
by the staff session; every POST carries the CSRF token in the `X-CSRFToken` header.
"""
from __future__ import annotations

from flask import Blueprint, Flask, jsonify, render_template, request
from flask_admin.menu import MenuLink
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from backoffice.auth.permissions import allows, policy_required
from backoffice.domain import COLOUR_LABELS, Colour, ScanMethod
from backoffice.models.people import mask_id
from backoffice.scanning import limits
from backoffice.scanning.payload import ScanRejected, advice_for, normalise_name
from backoffice.health.reasons import checkin_reason
from backoffice.timeutil import to_local

bp = Blueprint("reception", __name__, url_prefix="/reception", template_folder="templates",
               static_folder="static", static_url_path="/static")
SCAN = "reception.scan"  # the policy action of every page and endpoint here
TEXT_METHODS = {ScanMethod.SCANNER.value, ScanMethod.CAMERA.value, ScanMethod.MANUAL.value}


@bp.errorhandler(ScanRejected)
def _rejected(exc: ScanRejected):
    return jsonify(error={"code": exc.code, "message": exc.message, "advice": advice_for(exc.code)}), exc.status


@bp.errorhandler(429)
def _too_many(exc):
    response = limits.json_answer(exc)
    body = response.get_json()
    body["error"]["advice"] = advice_for("rate_limited")
    response.set_data(jsonify(body).get_data())
    return response


def _user():
    return current_user._get_current_object()


@bp.get("/")
@policy_required(SCAN)
def page():
    from backoffice.scanning.service import checkpoints_for
    checkpoints = checkpoints_for(_user())
    return render_template("scanning/reception.html", checkpoints=checkpoints)


@bp.post("/scan")
@limits.per_user
@limits.per_ip
@policy_required(SCAN)
def scan():
    """JSON `{"text": …, "checkpoint": id, "method": "scanner"|"camera"|"manual"}`."""
    from backoffice.scanning.service import reject, record_scan, resolve_checkpoint
    body = request.get_json(silent=True)
    user = _user()
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        reject("bad_request", method="scanner", user=user, detail="text")
    method = body.get("method") if body.get("method") in TEXT_METHODS else ScanMethod.SCANNER.value
    checkpoint = resolve_checkpoint(body.get("checkpoint"), user=user, method=method)
    result = record_scan(body["text"], checkpoint=checkpoint, method=method, user=user)
    return jsonify(result.to_json()), 201 if result.action == "check_in" else 200


@bp.post("/scan-image")
@limits.per_user
@limits.per_ip
@policy_required(SCAN)
def scan_image():
    """A photo (multipart field `image`) and the checkpoint (field `checkpoint`)."""
    from backoffice.scanning.decode import decode_image
    from backoffice.scanning.service import reject, record_scan, resolve_checkpoint
    user = _user()
    checkpoint = resolve_checkpoint(request.form.get("checkpoint"), user=user, method="image")
    upload = request.files.get("image")
    data = upload.read() if upload is not None else b""
    try:
        text = decode_image(data)
    except ScanRejected as exc:
        reject(exc.code, method="image", user=user, organization_id=checkpoint.organization_id,
               entity_id=checkpoint.id, size=len(data))
    result = record_scan(text, checkpoint=checkpoint, method=ScanMethod.IMAGE.value, user=user)
    return jsonify(result.to_json()), 201 if result.action == "check_in" else 200


@bp.get("/recent")
@policy_required(SCAN)
def recent():
    """The last scans at the user's checkpoints (all of them, or `?checkpoint=id`)."""
    from backoffice.scanning.service import checkpoints_for, recent_checkins
    allowed = [c.id for c in checkpoints_for(_user())]
    wanted = request.args.get("checkpoint", type=int)
    ids = [wanted] if wanted in allowed else allowed
    rows = recent_checkins(_user(), ids)
    # An unsigned (national text) scan shows the name as the text writes it, as its answer did (scanning.service).
    return jsonify(scans=[{
        "id": c.id, "name": c.person.full_name if c.signed else normalise_name(c.person.full_name),
        "id_masked": mask_id(c.person.id_number),
        "colour": c.status_colour, "colour_label": str(COLOUR_LABELS[Colour(c.status_colour)]),
        "reason": checkin_reason(c), "time": to_local(c.last_seen_at).strftime("%H:%M"), "scans": c.scan_count,
        "staff": c.is_staff, "open": c.checked_out_at is None, "admitted": c.admitted,
        "checkpoint": c.checkpoint_id,
    } for c in rows])


@bp.post("/checkout/<int:checkin_id>")
@policy_required(SCAN)
def checkout(checkin_id: int):
    from backoffice.scanning.checkins import check_out
    checkin = check_out(checkin_id, user=_user())
    return jsonify(id=checkin.id, checked_out_at=checkin.checked_out_at.isoformat())


def _panel() -> str:
    return render_template("scanning/_reception_panel.html")


class ScanLink(MenuLink):
    """The admin menu's link to the reception page, shown only to the roles that scan."""

    def is_accessible(self) -> bool:
        return allows(SCAN)


def init_app(app: Flask) -> None:
    from backoffice.admin import admin_for
    from backoffice.admin import home
    app.register_blueprint(bp)
    if not any(render is _panel for _, render in home._PANELS):  # one panel however many apps are created
        home.register_panel(SCAN, _panel)
    admin_for(app).add_link(ScanLink(name=_l("Scan QR codes"), endpoint="reception.page"))
