"""Every rejected input of the issue: 4xx with a reason code and a message in the user's language, an audit entry
of the attempt, nothing else recorded, never a 500. Plus the scope of the check-in list and of device tokens."""
from __future__ import annotations

import base64
import io
import secrets

import pytest
import qrcode
from PIL import Image
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Checkpoint, Location
from backoffice.scanning import keyring
from backoffice.scanning.devices import create_device_token
from backoffice.scanning.payload import PREFIX, issue_personal_payload
from backoffice.scanning.service import record_scan
from conftest import get_user, post_json
from factories import checkpoint, new_person, org1


def png_of(*texts: str, size=(1400, 700)) -> bytes:
    canvas = Image.new("RGB", size, "white")
    for i, text in enumerate(texts):
        canvas.paste(qrcode.make(text).get_image().convert("RGB"), (20 + 700 * i, 20))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(CheckIn)),
            db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "scan.rejected")))


@pytest.fixture(scope="module")
def fixtures(app):
    """A device token for org1's entry checkpoint, one for a deactivated location, texts of every kind."""
    with app.app_context():
        admin = get_user("org1.admin")
        _, secret = create_device_token(checkpoint().id, "Máy thử lỗi", user=admin)
        closed = Location(organization_id=org1().id, name=f"Kho đóng {secrets.token_hex(3)}", active=True)
        db.session.add(closed)
        db.session.flush()
        closed_cp = Checkpoint(organization_id=closed.organization_id, location_id=closed.id, name="Lễ tân")
        db.session.add(closed_cp)
        db.session.commit()
        _, closed_secret = create_device_token(closed_cp.id, "Máy kho đóng", user=admin)
        closed.active = False
        db.session.commit()
        _, revoked_secret = create_device_token(checkpoint().id, "Máy đã thu hồi", user=admin)
        from backoffice.scanning.devices import revoke_device_token, hash_secret
        from backoffice.models import DeviceToken
        revoke_device_token(db.session.scalar(select(DeviceToken.id).where(
            DeviceToken.token_hash == hash_secret(revoked_secret))), user=admin)
        person = new_person()
        old = issue_personal_payload(person)
        old_kid = keyring.current_signer().kid
        keyring.rotate(now=True)
        keyring.retire(old_kid)
        good = issue_personal_payload(person)  # signed by the new key
        raw = bytearray(base64.b32decode(good[len(PREFIX):] + "=" * (-len(good[len(PREFIX):]) % 8)))
        raw[-10] ^= 0x40
        tampered = PREFIX + base64.b32encode(bytes(raw)).decode().rstrip("=")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from backoffice.scanning.credentials import signed as p
        body = p._encode_body("AAAAAAAA", person.qr_ref, p.now_utc(), None, None)
        unknown_key = PREFIX + p._b32(body + Ed25519PrivateKey.generate().sign(PREFIX.encode() + body))
        # Our signed QR of a reference nobody has (a national text of an unknown ID is a declared visitor).
        from types import SimpleNamespace
        unknown_ref = issue_personal_payload(SimpleNamespace(qr_ref=secrets.token_urlsafe(12)))
    return {"secret": secret, "closed": closed_secret, "revoked": revoked_secret, "good": good, "old": old,
            "tampered": tampered, "unknown_key": unknown_key, "unknown_ref": unknown_ref, "cp": checkpoint_id(app)}


def checkpoint_id(app) -> int:
    with app.app_context():
        return checkpoint().id


TEXT_CASES = [
    ("malformed", lambda f: "HCMBO1:NOT*BASE32", 422),
    ("unknown_prefix", lambda f: "https://example.com/qr/123", 422),
    ("bad_signature", lambda f: f["tampered"], 422),
    ("unknown_key", lambda f: f["unknown_key"], 422),
    ("retired_key", lambda f: f["old"], 422),
    ("unknown_person", lambda f: f["unknown_ref"], 422),
    ("national_invalid", lambda f: "123|A|B|C|D|E", 422),
]


@pytest.mark.parametrize("code, make, status", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_bad_texts_over_the_api(app, fixtures, code, make, status):
    client = app.test_client()
    with app.app_context():
        before = counts()
    response = client.post("/api/v1/scans", json={"payload": make(fixtures)},
                           headers={"Authorization": f"Bearer {fixtures['secret']}"})
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]
    english = client.post("/api/v1/scans", json={"payload": make(fixtures)},
                          headers={"Authorization": f"Bearer {fixtures['secret']}", "Accept-Language": "en"})
    assert english.get_json()["error"]["message"] != response.get_json()["error"]["message"]
    with app.app_context():
        after = counts()
    assert after == (before[0], before[1] + 2)


def test_bad_texts_at_reception_in_vietnamese(app, fixtures, as_user):
    staff = as_user("org1.staff")
    with app.app_context():
        before = counts()
    response = post_json(staff, "/reception/scan", {"text": fixtures["tampered"], "checkpoint": fixtures["cp"]})
    assert response.status_code == 422
    assert response.get_json()["error"] == {
        "code": "bad_signature", "message": "Chữ ký của mã QR không hợp lệ: mã đã bị sửa đổi hoặc giả mạo.",
        "advice": "Mã QR không phải mã thật — đề nghị khách xuất trình căn cước công dân và mã QR cá nhân."}
    with app.app_context():
        assert counts() == (before[0], before[1] + 1)
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "scan.rejected")
                                  .order_by(AuditLog.id.desc()))
        assert entry.actor_name == "org1.staff" and entry.after["reason"] == "bad_signature"
        assert fixtures["tampered"] not in str(entry.after)


def test_unknown_or_foreign_checkpoint_at_reception(app, fixtures, as_user):
    staff = as_user("org1.staff")
    with app.app_context():
        foreign = db.session.scalar(select(Checkpoint.id).where(Checkpoint.organization_id != org1().id))
        exit_cp = checkpoint("exit").id  # org1's, but not assigned to org1.staff
        before = counts()
    for value in (foreign, exit_cp, 99999999, "abc", None):
        response = post_json(staff, "/reception/scan", {"text": fixtures["good"], "checkpoint": value})
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_checkpoint"
    assert post_json(staff, "/reception/scan", {"nothing": 1}).status_code == 400
    with app.app_context():
        assert counts() == (before[0], before[1] + 6)


def test_reception_needs_csrf_and_a_scanning_role(app, fixtures, as_user):
    staff = as_user("org1.staff")
    no_csrf = staff.client.post("/reception/scan", json={"text": fixtures["good"], "checkpoint": fixtures["cp"]})
    assert no_csrf.status_code == 400
    assert as_user("inspector.q1").get("/reception/").status_code == 403
    assert app.test_client().get("/reception/").status_code == 302


TOKEN_CASES = [
    ("bad_token", lambda f: "bod_" + secrets.token_urlsafe(32), 401),
    ("bad_token", lambda f: "", 401),
    ("revoked_token", lambda f: f["revoked"], 401),
    ("revoked_location", lambda f: f["closed"], 410),
]


@pytest.mark.parametrize("code, make, status", TOKEN_CASES)
def test_tokens_and_revoked_locations(app, fixtures, code, make, status):
    with app.app_context():
        before = counts()
    response = app.test_client().post("/api/v1/scans", json={"payload": fixtures["good"]},
                                      headers={"Authorization": f"Bearer {make(fixtures)}"})
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    with app.app_context():
        assert counts() == (before[0], before[1] + 1)


def test_self_check_in_at_a_revoked_location_is_refused(ctx, fixtures):
    from backoffice.scanning.payload import ScanRejected
    location = db.session.scalar(select(Location).where(Location.active.is_(False), Location.organization_id == org1().id))
    with pytest.raises(ScanRejected) as info:
        record_scan(fixtures["good"], location=location, method="self")
    assert info.value.code == "revoked_location" and info.value.status == 410


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (9000, 9000), 1).save(out, "PNG", optimize=True)
    return out.getvalue()


IMAGE_CASES = [
    ("not_image", lambda f: b"GIF89 not really" * 10, 415),
    ("not_image", lambda f: "Chào buổi sáng".encode(), 415),
    ("truncated_image", lambda f: png_of(f["good"])[:600], 422),
    ("image_too_large", lambda f: _bomb(), 413),
    ("no_qr", lambda f: png_of(), 422),
    ("several_qr", lambda f: png_of(f["good"], "HCMBO1:OTHER"), 422),
    ("no_image", lambda f: b"", 400),
]


@pytest.mark.parametrize("code, make, status", IMAGE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(IMAGE_CASES)])
def test_bad_images_over_the_api_and_at_reception(app, fixtures, as_user, code, make, status):
    data = make(fixtures)
    with app.app_context():
        before = counts()
    response = app.test_client().post("/api/v1/scans/image", data={"image": (io.BytesIO(data), "photo.jpg")},
                                      headers={"Authorization": f"Bearer {fixtures['secret']}"},
                                      content_type="multipart/form-data")
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    staff = as_user("org1.staff")
    from conftest import csrf_token
    at_reception = staff.client.post("/reception/scan-image", data={
        "image": (io.BytesIO(data), "photo.jpg"), "checkpoint": str(fixtures["cp"])},
        headers={"X-CSRFToken": csrf_token(staff.client, "/admin/")}, content_type="multipart/form-data")
    assert at_reception.status_code == status and at_reception.get_json()["error"]["code"] == code
    with app.app_context():
        assert counts() == (before[0], before[1] + 2)


def test_an_upload_beyond_the_request_limit_is_refused_and_audited(app, fixtures):
    with app.app_context():
        before = counts()
    big = b"\xff\xd8\xff" + b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = app.test_client().post("/api/v1/scans/image", data=big, content_type="image/jpeg",
                                      headers={"Authorization": f"Bearer {fixtures['secret']}"})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "image_too_large"
    with app.app_context():
        assert counts() == (before[0], before[1] + 1)


def test_a_good_photo_is_accepted(app, fixtures):
    response = app.test_client().post("/api/v1/scans/image", data={"image": (io.BytesIO(png_of(fixtures["good"])),
                                                                            "card.png")},
                                      headers={"Authorization": f"Bearer {fixtures['secret']}"},
                                      content_type="multipart/form-data")
    assert response.status_code in (200, 201) and response.get_json()["colour"] == "green"


def test_check_in_list_scope(app, as_user):
    with app.app_context():
        result = record_scan(issue_personal_payload(new_person(name="Đặng Phạm Vi")), checkpoint=checkpoint(),
                             method="scanner")
        checkin_id = result.checkin_id
    details = f"/admin/checkin/details/?id={checkin_id}"
    assert as_user("org1.admin").get(details).status_code == 200
    assert as_user("inspector.q1").get(details).status_code == 200
    assert as_user("admin").get(details).status_code == 200
    assert as_user("org2.admin").get(details).status_code == 404
    assert as_user("inspector.q3").get(details).status_code == 404
    assert as_user("ward.bennghe").get("/admin/checkin/").status_code == 403
    assert as_user("org1.staff").get("/admin/checkin/").status_code == 403
    listing = as_user("org1.admin").get("/admin/checkin/?search=&flt0_0=1").get_data(as_text=True)
    assert "Đặng Phạm Vi" in as_user("org1.admin").get("/admin/checkin/").get_data(as_text=True)
    assert "Đặng Phạm Vi" not in as_user("org2.admin").get("/admin/checkin/").get_data(as_text=True)
    assert listing
    export = as_user("org1.admin").get("/admin/checkin/export/xlsx/")
    assert export.status_code == 200 and export.data[:2] == b"PK"
    assert as_user("inspector.q3").get("/admin/checkin/export/csv/").status_code == 200
    csv_text = as_user("inspector.q3").get("/admin/checkin/export/csv/").get_data(as_text=True)
    assert "Đặng Phạm Vi" not in csv_text


def test_device_token_scope(app, as_user):
    with app.app_context():
        foreign_cp = db.session.scalar(select(Checkpoint.id).where(Checkpoint.organization_id != org1().id))
    admin = as_user("org1.admin")
    response = admin.post_form("/admin/devicetoken/new/", {"name": "Giả mạo", "checkpoint": str(foreign_cp)},
                               token_from="/admin/devicetoken/new/")
    assert response.status_code == 200 and "bod_" not in response.get_data(as_text=True)  # not a valid choice
    listing = as_user("org2.admin").get("/admin/devicetoken/").get_data(as_text=True)
    assert "Máy thử lỗi" not in listing
    assert "Máy thử lỗi" in admin.get("/admin/devicetoken/").get_data(as_text=True)
