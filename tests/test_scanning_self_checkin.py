"""The public self check-in page: personal QR (text from the camera, or a photo), ID number; CSRF, revoked
and unknown codes, bad inputs (4xx, nothing recorded but the audit entry), rate limit."""
from __future__ import annotations

import io
import re
import secrets
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import func, select

from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Location, Organization
from backoffice.printing import render
from backoffice.scanning.self_checkin import initials, national_text
from backoffice.scanning.payload import issue_personal_payload
from backoffice.timeutil import now_utc
from factories import new_location, new_person, org1

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def place(app):
    """A location of org1 of its own, and residents of its own, so other tests' check-ins do not interfere."""
    with app.app_context():
        org = org1()
        location = new_location(org, "Sảnh tự khai báo")
        return {"token": location.qr_token, "id": location.id, "org_token": org.qr_token, "org_id": org.id}


def _resident(app, name: str = "Võ Thị Khai Báo"):
    with app.app_context():
        person = new_person(name, BEN_NGHE, green=False, birth_date=date(1985, 3, 4))
        db.session.commit()
        return person.id, person.id_number, issue_personal_payload(person)


def _client(app, ip: str | None = None):
    client = app.test_client()
    if ip:
        client.environ_base["REMOTE_ADDR"] = ip
    return client


def _post(client, token: str, data: dict, *, csrf: bool = True, **kwargs):
    page = client.get(f"/c/{token}")
    if csrf and page.status_code == 200:
        data = {**data, "csrf_token": _CSRF.search(page.get_data(as_text=True)).group(1)}
    return client.post(f"/c/{token}", data=data, **kwargs)


def _checkins(app, person_id: int, location_id: int) -> list[CheckIn]:
    with app.app_context():
        return list(db.session.scalars(select(CheckIn).where(CheckIn.person_id == person_id,
                                                             CheckIn.location_id == location_id)))


def test_page_works_for_anonymous_phones(app, place):
    response = _client(app).get(f"/c/{place['token']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nhà hàng Bến Nghé Xanh" in html and "Sảnh tự khai báo" in html
    assert 'name="viewport"' in html and "BarcodeDetector" in html and 'capture="environment"' in html
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in html  # the camera script runs under the page's CSP


def test_personal_qr_text_checks_in_with_method_self(app, place):
    person_id, _id_number, payload = _resident(app)
    client = _client(app)
    response = _post(client, place["token"], {"qr_text": payload})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="sc-result"' in html
    # The colour and the initials only: the page is anonymous.
    assert "V. T. K. B." in html and "Võ Thị Khai Báo" not in html and 'data-colour="black"' in html
    [checkin] = _checkins(app, person_id, place["id"])
    assert checkin.method == "self" and checkin.signed and checkin.checkpoint_id is None
    again = _post(client, place["token"], {"qr_text": payload})
    assert again.status_code == 200 and 'id="sc-result"' in again.get_data(as_text=True)
    # Black and not admitted: each scan is a door scan of its own, none a stay on site.
    checkins = _checkins(app, person_id, place["id"])
    assert len(checkins) == 2 and not any(c.admitted or c.checked_out_at is None for c in checkins)


def test_photo_of_a_printed_card_checks_in(app, place):
    person_id, _id_number, payload = _resident(app, "Lâm Chụp Ảnh")
    card = render.personal_card_png(render.Card("Lâm Chụp Ảnh", "******000000", payload, "black", now_utc().date()))
    # As a phone would send it: a JPEG, the card somewhere in a larger photo.
    photo = Image.new("RGB", (2400, 1800), (200, 190, 170))
    photo.paste(Image.open(io.BytesIO(card)).convert("RGB"), (700, 500))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=85)
    response = _post(_client(app), place["token"], {"photo": (io.BytesIO(buffer.getvalue()), "anh.jpg")},
                     content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    [checkin] = _checkins(app, person_id, place["id"])
    assert checkin.method == "self" and checkin.signed


def test_typed_id_number_is_unsigned_and_shows_only_initials(app, place):
    person_id, id_number, _payload = _resident(app, "Hồ Nhập Số")
    spaced = " ".join([id_number[:3], id_number[3:6], id_number[6:]])
    with app.app_context():
        from backoffice.models import Person
        born = db.session.get(Person, person_id).birth_date.isoformat()
    response = _post(_client(app), place["token"], {"id_number": spaced, "full_name": "ho  nhap số",
                                                    "birth_date": born})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "H. N. S." in html and "Hồ Nhập Số" not in html
    [checkin] = _checkins(app, person_id, place["id"])
    assert checkin.method == "self" and not checkin.signed


def test_bad_inputs_answer_4xx_and_record_only_an_audit_entry(app, place):
    with app.app_context():
        checkins_before = db.session.scalar(select(func.count()).select_from(CheckIn))
        rejected_before = db.session.scalar(select(func.count()).select_from(AuditLog)
                                            .where(AuditLog.action == "scan.rejected"))
    client = _client(app)
    _pid, _id, payload = _resident(app, "Người Giả Mạo")
    tampered = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    cases = [
        ({"qr_text": "xin chào"}, 422, "unknown_prefix"),
        ({"qr_text": tampered}, 422, None),
        ({"qr_text": "x" * 5000}, 422, "too_long"),
        ({"id_number": "12ab", "full_name": "A", "birth_date": "1990-01-01"}, 400, "bad_request"),
        ({"id_number": "079999999999"}, 400, "bad_request"),  # an ID number alone is not enough
        ({"id_number": "079999999999", "full_name": "A B"}, 400, "bad_request"),
        ({"qr_text": "   "}, 400, "empty"),
        ({"photo": (io.BytesIO(b"%PDF-1.4 not an image"), "a.jpg")}, 415, "not_image"),
    ]
    for data, status, code in cases:
        response = _post(client, place["token"], data, content_type="multipart/form-data")
        html = response.get_data(as_text=True)
        assert response.status_code == status, (data, response.status_code)
        assert 'id="sc-error"' in html
        if code:
            assert f'data-code="{code}"' in html, data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == checkins_before
        rejected = db.session.scalar(select(func.count()).select_from(AuditLog)
                                     .where(AuditLog.action == "scan.rejected"))
        assert rejected - rejected_before >= 6  # every rejected attempt but the empty form is audited


def test_csrf_is_required(app, place):
    _pid, _id, payload = _resident(app)
    response = _post(_client(app), place["token"], {"qr_text": payload}, csrf=False)
    assert response.status_code == 400


def test_revoked_and_unknown_codes(app, place):
    with app.app_context():
        org = db.session.get(Organization, place["org_id"])
        location = Location(organization_id=org.id, name=f"Khu tạm đóng {secrets.token_hex(2)}", active=False)
        db.session.add(location)
        db.session.commit()
        token = location.qr_token
    _pid, _id, payload = _resident(app)
    client = _client(app)
    closed = client.get(f"/c/{token}")
    assert closed.status_code == 410 and 'data-code="revoked"' in closed.get_data(as_text=True)
    assert "thu hồi" in closed.get_data(as_text=True)
    assert client.post(f"/c/{token}", data={"qr_text": payload}).status_code in (400, 410)  # no form to post from
    assert client.get("/c/doesnotexistdoesnotexist").status_code == 404
    assert client.get("/c/short").status_code == 404


def test_organization_qr_asks_which_place(app, place):
    person_id, _id, payload = _resident(app, "Khách Mã Đơn Vị")
    client = _client(app)
    page = client.get(f"/c/{place['org_token']}").get_data(as_text=True)
    assert 'name="location_id"' in page and f'value="{place["id"]}"' in page
    assert _post(client, place["org_token"], {"qr_text": payload}).status_code == 400
    assert _post(client, place["org_token"], {"qr_text": payload, "location_id": "999999"}).status_code == 400
    response = _post(client, place["org_token"], {"qr_text": payload, "location_id": str(place["id"])})
    assert response.status_code == 200
    assert len(_checkins(app, person_id, place["id"])) == 1


def test_rate_limited_per_address(app, place):
    previous = app.config["SELF_CHECKIN_LIMIT_PER_IP"]
    app.config["SELF_CHECKIN_LIMIT_PER_IP"] = "3 per minute"
    try:
        client = _client(app, "203.0.113.77")
        codes = [_post(client, place["token"], {"qr_text": "xin chào"}).status_code for _ in range(5)]
    finally:
        app.config["SELF_CHECKIN_LIMIT_PER_IP"] = previous
    assert codes[:3] == [422, 422, 422] and codes[3:] == [429, 429]


def test_helpers():
    assert initials("Nguyễn Văn An") == "N. V. A." and initials("Đặng Thị Ánh") == "D. T. A."

    class P:
        id_number, full_name, qid = "079090000001", "Đặng Thị Ánh", None
        birth_date = None
    assert national_text(P) == "079090000001|DANG THI ANH||1||"
