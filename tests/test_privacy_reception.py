"""No oracle at reception.

The national 1405 text matches ID number, name and date of birth together; the anonymous self check-in answers
one shape whatever the registry holds; scans are rate-limited per device token, staff user and address with one
audit alert per window; masked IDs show the last four characters only and no birth year; every successful scan
leaves a "person.read" audit entry."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import AuditLog, Person, mask_id
from backoffice.scanning import devices
from backoffice.scanning.payload import ScanRejected, issue_personal_payload, normalise_name
from backoffice.scanning.service import record_scan
from conftest import get_user, post_json
from pages_support import vi
from factories import checkpoint, new_location, new_person, org1

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _audits(action: str, **where) -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditLog, name) == value)
    return list(db.session.scalars(stmt))


# --- the national text is matched on all three ----------------------------------------------------

def test_name_normalised_as_the_1405_text_writes_it():
    assert normalise_name("  Đặng  thị Ánh ") == "DANG THI ANH"
    assert normalise_name("Nguyễn Văn Ấn") == "NGUYEN VAN AN"


def test_national_text_needs_id_name_and_birth_date_together(ctx):
    p = new_person(name="Võ Thị Kiểm Thử")  # born 1980-05-06, green
    wrong = [f"{p.id_number}|ANY NAME|2001-01-01|0||",        # the issue's probe: ID number alone
             f"{p.id_number}|VO THI KIEM THU|2001-01-01|0||",  # name right, date wrong
             f"{p.id_number}|ANY NAME|1980-05-06|0||",         # date right, name wrong
             f"{p.id_number}|VO THI KIEM THU|1980|0||"]        # a year is not a date of birth
    answers = set()
    for text in wrong:
        with pytest.raises(ScanRejected) as caught:
            record_scan(text, checkpoint=checkpoint(), method="scanner")
        answers.add((caught.value.code, caught.value.status, caught.value.message))
    assert answers == {("identity_mismatch", 422, vi(
        "The ID number, name and date of birth do not match the registry together."))}  # one answer for all
    entries = _audits("scan.rejected")[-4:]
    assert [e.after["reason"] for e in entries] == ["identity_mismatch"] * 4
    assert all(set(e.after) <= {"reason", "method", "signed", "checkpoint", "location"} for e in entries)
    matched = record_scan(f"{p.id_number}|vo  thi kiem thu|1980-05-06|0||", checkpoint=checkpoint(),
                          method="scanner")
    assert (matched.colour, matched.signed) == ("green", False)


def test_reception_refuses_the_issue_probe_without_a_name(app, as_user):
    staff = as_user("org1.staff")
    with app.app_context():
        cp = checkpoint().id
    response = post_json(staff, "/reception/scan", {"text": "079090000001|ANY NAME|2001-01-01|0||", "checkpoint": cp})
    body = response.get_json()
    assert response.status_code == 422 and body["error"]["code"] == "identity_mismatch"
    assert "Nguyễn" not in response.get_data(as_text=True) and "colour" not in body


# --- masked IDs ------------------------------------------------------------------------------------

def test_mask_id_shows_only_the_last_four():
    assert mask_id("079090000001") == "********0001"
    assert mask_id("024123456") == "*****3456"
    assert mask_id("B1234567") == "****4567"
    assert mask_id("123") == "***" and mask_id(None) == ""


def test_reception_answer_has_no_birth_year(app, as_user):
    staff = as_user("org1.staff")
    with app.app_context():
        p = new_person()
        cp, text, pid = checkpoint().id, issue_personal_payload(p), p.id
    body = post_json(staff, "/reception/scan", {"text": text, "checkpoint": cp}).get_json()
    assert body["id_masked"] == "********" + p.id_number[-4:] and "birth_year" not in body
    assert "1980" not in str(body)
    recent = staff.get(f"/reception/recent?checkpoint={cp}").get_json()["scans"]
    assert all("birth" not in key for scan in recent for key in scan)
    with app.app_context():
        assert db.session.get(Person, pid) is not None


# --- the self check-in is no oracle ------------------------------------------------------------------

@pytest.fixture()
def poster(app):
    with app.app_context():
        return new_location(org1(), "Cổng riêng tư").qr_token


def _self(app, token: str, data: dict, ip: str = "198.51.100.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    page = client.get(f"/c/{token}")
    data = {**data, "csrf_token": _CSRF.search(page.get_data(as_text=True)).group(1)}
    return client.post(f"/c/{token}", data=data)


def _shape(html: str) -> str:
    """The page without what legitimately varies: the initials shown and the time."""
    html = re.sub(r'<p class="h4 mt-3" id="sc-name">[^<]*</p>', "", html)
    html = re.sub(r'<p class="small" id="sc-time">[^<]*</p>', "", html)
    return re.sub(r'nonce-[^\'"]+|nonce="[^"]+"', "", html)


def test_self_checkin_answers_one_shape_whatever_the_registry_holds(app, poster):
    with app.app_context():
        black = new_person(green=False, name="Trần Thị Đen")  # no dose: black
        green = new_person(green=True, name="Lê Văn Xanh")
        black_id, green_id = black.id_number, green.id_number
    known = _self(app, poster, {"id_number": black_id, "full_name": "Tran Thi Den", "birth_date": "1980-05-06"})
    unknown = _self(app, poster, {"id_number": "079000000000", "full_name": "Tran Thi Den",
                                  "birth_date": "1980-05-06"})
    mismatch = _self(app, poster, {"id_number": green_id, "full_name": "Tran Thi Den", "birth_date": "1980-05-06"})
    only_id = _self(app, poster, {"id_number": green_id})
    answers = [known, unknown, mismatch]
    assert [r.status_code for r in answers] == [200, 200, 200] and only_id.status_code == 400
    pages = [r.get_data(as_text=True) for r in answers]
    assert _shape(pages[0]) == _shape(pages[1]) == _shape(pages[2])
    assert all("T. T. D." in page and 'data-colour="black"' in page for page in pages)
    assert len({len(page) // 100 for page in pages}) == 1  # one length class
    for page in pages:  # colour and initials only
        assert "mũi" not in page and "1980" not in page and "****" not in page and "Trần" not in page
    with app.app_context():
        reasons = [e.after["reason"] for e in _audits("scan.rejected")[-3:-1]]
        assert reasons == ["unknown_person", "identity_mismatch"]  # the difference stays in the audit log
    matched = _self(app, poster, {"id_number": green_id, "full_name": "Lê Văn Xanh", "birth_date": "1980-05-06"})
    assert 'data-colour="green"' in matched.get_data(as_text=True) and "L. V. X." in matched.get_data(as_text=True)


# --- rate limits -----------------------------------------------------------------------------------

@pytest.fixture()
def limits(app):
    saved = {name: app.config.get(name) for name in ("SCAN_LIMIT_PER_DEVICE", "SCAN_LIMIT_PER_USER",
                                                      "SCAN_LIMIT_PER_IP", "SELF_CHECKIN_LIMIT_PER_IP")}

    def set_(**values):
        app.config.update(values)
    yield set_
    app.config.update(saved)


def test_reception_limited_per_staff_user_with_one_alert(app, as_user, limits):
    staff = as_user("org1.staff")
    with app.app_context():
        cp, text = checkpoint().id, issue_personal_payload(new_person())
        alerts_before = len(_audits("scan.rate_limited"))
    limits(SCAN_LIMIT_PER_USER="3 per minute")
    codes = [post_json(staff, "/reception/scan", {"text": text, "checkpoint": cp}) for _ in range(6)]
    assert [r.status_code for r in codes][3:] == [429, 429, 429]
    body = codes[3].get_json()
    assert body["error"]["code"] == "rate_limited" and body["error"]["message"] == vi(
        "Too many scans in a short time from this device, account or address. Wait a minute and scan again.")
    with app.app_context():
        alerts = _audits("scan.rate_limited")[alerts_before:]
        assert len(alerts) == 1  # once per window, not per refused request
        assert alerts[0].actor_id == get_user("org1.staff").id and alerts[0].after["per"] == "user"


def test_device_limited_per_token_and_per_address(app, limits):
    with app.app_context():
        admin = get_user("org1.admin")
        _t1, first = devices.create_device_token(checkpoint().id, "limit 1", user=admin)
        token_id, org_id = _t1.id, admin.organization_id
        _t2, second = devices.create_device_token(checkpoint().id, "limit 2", user=admin)
        text = issue_personal_payload(new_person())
        alerts_before = len(_audits("scan.rate_limited"))
    client = app.test_client()

    def scan(secret: str, ip: str) -> int:
        return client.post("/api/v1/scans", json={"payload": text}, headers={"Authorization": f"Bearer {secret}"},
                           environ_base={"REMOTE_ADDR": ip}).status_code

    limits(SCAN_LIMIT_PER_DEVICE="2 per minute")
    assert [scan(first, f"10.77.0.{i}") for i in range(4)][2:] == [429, 429]  # per token, whatever the address
    assert scan(second, "10.77.0.9") in (200, 201)
    with app.app_context():
        [alert] = _audits("scan.rate_limited")[alerts_before:]
        assert alert.after["per"] == "device" and alert.after["device_token"] == token_id
        assert alert.organization_id == org_id
    limits(SCAN_LIMIT_PER_DEVICE="100000 per minute", SCAN_LIMIT_PER_IP="3 per minute")
    assert [scan(second if i % 2 else first, "10.78.0.1") for i in range(4)][3] == 429  # per address
    assert scan(first, "10.78.0.2") in (200, 201)


def test_self_checkin_limit_alerts_once(app, poster, limits):
    with app.app_context():
        alerts_before = len(_audits("scan.rate_limited"))
    limits(SELF_CHECKIN_LIMIT_PER_IP="2 per minute")
    codes = [_self(app, poster, {"qr_text": "xin chào"}, ip="198.51.100.99") for _ in range(4)]
    assert [r.status_code for r in codes] == [422, 422, 429, 429]
    assert vi("Too many scans in a short time from this device, account or address. Wait a minute and scan "
              "again.") in codes[2].get_data(as_text=True)
    with app.app_context():
        assert len(_audits("scan.rate_limited")[alerts_before:]) == 1


# --- a successful scan is an audited read ----------------------------------------------------------------

def test_every_successful_scan_leaves_a_read_entry(app, as_user):
    staff, admin = as_user("org1.staff"), as_user("org1.admin")
    with app.app_context():
        p = new_person()
        pid, text, entry, exit_ = p.id, issue_personal_payload(p), checkpoint("entry"), checkpoint("exit")
        entry_id, exit_id, org_id = entry.id, exit_.id, entry.organization_id
        token, secret = devices.create_device_token(entry_id, "reads", user=get_user("org1.admin"))
        token_id = token.id
    assert post_json(staff, "/reception/scan", {"text": text, "checkpoint": entry_id}).status_code == 201
    assert app.test_client().post("/api/v1/scans", json={"payload": text},
                                  headers={"Authorization": f"Bearer {secret}"}).status_code == 200  # extended
    for _ in range(2):  # check-out, then an exit with no open stay: both showed the colour
        assert post_json(admin, "/reception/scan", {"text": text, "checkpoint": exit_id}).status_code == 200
    with app.app_context():
        reads = _audits("person.read", entity="persons", entity_id=str(pid))
        assert len(reads) == 4
        assert {r.after["why"] for r in reads} == {"scan"} and {r.organization_id for r in reads} == {org_id}
        staff_id, admin_id = get_user("org1.staff").id, get_user("org1.admin").id
        assert [(r.actor_id, r.after["checkpoint"]) for r in reads] == [
            (staff_id, entry_id), (None, entry_id), (admin_id, exit_id), (admin_id, exit_id)]
        assert reads[1].after["device_token"] == token_id and reads[1].actor_name == f"device_token:{token_id}"
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "person.read", AuditLog.entity_id == str(pid))) == 4


def test_rejected_scan_leaves_no_read_entry(ctx):
    p = new_person()
    before = len(_audits("person.read", entity_id=str(p.id)))
    with pytest.raises(ScanRejected):
        record_scan(f"{p.id_number}|ANY NAME|{date(1980, 5, 6).isoformat()}|0||", checkpoint=checkpoint(),
                    method="scanner")
    assert len(_audits("person.read", entity_id=str(p.id))) == before
