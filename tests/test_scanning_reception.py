"""At reception: a black visitor is a door scan, not a stay, unless the organization admits them; staff read
what to do, never a code; visitors the registry does not know are recorded black with what their national text
carries, and the answer never tells them from a known person without data; the black screen says what follows;
stored health reasons render in the reader's language."""
from __future__ import annotations

import io
import re
import secrets
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Person, Staff
from backoffice.scanning.payload import ADVICE, REASONS, ScanRejected, issue_personal_payload
from backoffice.scanning.service import record_scan
from backoffice.health.reasons import checkin_reason
from backoffice.tracing.service import case_visits, overlap_query
from pages_support import vi
from imports_support import xlsx
from conftest import post_json
from factories import checkpoint, new_person, org1


@pytest.fixture()
def policy(ctx):
    """Set org1's reception policy for one test, and put it back."""
    org = org1()
    saved = (org.admit_black, org.black_instruction)

    def set_(admit: bool = False, instruction: str | None = None) -> None:
        org.admit_black, org.black_instruction = admit, instruction
        db.session.commit()
    yield set_
    org = org1()
    org.admit_black, org.black_instruction = saved
    db.session.commit()


def _open_stays(person_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.person_id == person_id, CheckIn.checked_out_at.is_(None)))


def _unknown_id() -> str:
    while True:
        id_number = "0010" + "".join(secrets.choice("0123456789") for _ in range(8))
        if db.session.scalar(select(Person.id).where(Person.id_number == id_number)) is None:
            return id_number


# --- refused at the door ---------------------------------------------------------------------------

def test_black_visitor_is_a_door_scan_not_a_stay_and_tracing_finds_it(ctx, policy):
    policy(admit=False)
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    inside, black = new_person(green=True), new_person(green=False)
    there = record_scan(issue_personal_payload(inside, now=t0), checkpoint=checkpoint(), method="scanner", now=t0)
    refused = record_scan(issue_personal_payload(black, now=t0), checkpoint=checkpoint(), method="scanner",
                          now=t0 + timedelta(minutes=5))
    assert (refused.colour, refused.action, refused.admitted) == ("black", "refused", False)
    assert refused.instruction == vi("Not eligible to enter") == "Không đủ điều kiện vào"
    row = db.session.get(CheckIn, refused.checkin_id)
    assert (row.admitted, row.checkout_reason, row.checked_out_at) == (False, "refused", row.checked_in_at)
    assert _open_stays(black.id) == 0  # never on site
    again = record_scan(issue_personal_payload(black, now=t0), checkpoint=checkpoint(), method="scanner",
                        now=t0 + timedelta(minutes=6))
    assert again.action == "refused" and again.checkin_id != refused.checkin_id and _open_stays(black.id) == 0
    # The scan was a read of the person's status, audited as every scan.
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "person.read", AuditLog.entity_id == str(black.id))) == 2
    # Tracing: the refused visitor's door scans are visits, and whoever was inside then is their contact...
    visits = case_visits(black.id, t0 - timedelta(hours=1), t0 + timedelta(hours=1))
    assert [v.checkin_id for v in visits] == [refused.checkin_id, again.checkin_id]
    contacts = {r.person_id for r in db.session.execute(overlap_query(visits, timedelta(0), black.id))}
    assert inside.id in contacts
    # ...and the refused visitor is a contact of whoever was inside.
    visits = case_visits(inside.id, t0 - timedelta(hours=1), t0 + timedelta(hours=1))
    assert [v.checkin_id for v in visits] == [there.checkin_id]
    assert black.id in {r.person_id for r in db.session.execute(overlap_query(visits, timedelta(0), inside.id))}


def test_black_staff_follow_the_same_policy(ctx, policy):
    policy(admit=False)
    worker = new_person(green=False, name="Phạm Văn Công")
    db.session.add(Staff(organization_id=org1().id, person_id=worker.id, full_name=worker.full_name,
                         id_number=worker.id_number, active=True, link_method="ward"))
    db.session.commit()
    result = record_scan(issue_personal_payload(worker), checkpoint=checkpoint(), method="scanner")
    assert (result.staff, result.action, result.admitted) == (True, "refused", False)


def test_an_organization_that_admits_black_visitors_records_their_stay(ctx, policy):
    policy(admit=True)
    black = new_person(green=False)
    result = record_scan(issue_personal_payload(black), checkpoint=checkpoint(), method="scanner")
    assert (result.colour, result.action, result.admitted) == ("black", "check_in", True)
    assert result.instruction == vi("Let in under this organization's policy")
    assert _open_stays(black.id) == 1 and db.session.get(CheckIn, result.checkin_id).admitted is True
    # A green visitor's answer carries no instruction, and needs no policy.
    green = record_scan(issue_personal_payload(new_person()), checkpoint=checkpoint(), method="scanner")
    assert (green.instruction, green.admitted) == ("", True)


# --- the organization's own instruction ------------------------------------------------------------

def test_the_black_screen_shows_the_organizations_instruction(ctx, policy):
    text = "Mời anh/chị sang bàn <b>khai báo y tế</b> bên trái"
    policy(admit=False, instruction=text)
    result = record_scan(issue_personal_payload(new_person(green=False)), checkpoint=checkpoint(), method="scanner")
    assert result.instruction == text  # as typed; the page shows it as text (reception.js: textContent)


def test_org_admin_sets_the_policy_in_the_form_and_an_inspector_cannot(app, as_user, policy):
    from pages_support import as_multidict, model_form
    org_id = org1().id
    admin = as_user("org1.admin")
    page = admin.get(f"/admin/organization/edit/?id={org_id}").get_data(as_text=True)
    assert 'name="admit_black"' in page and 'name="black_instruction"' in page
    assert vi("Admit black visitors") in page
    fields = model_form(page)["fields"]
    too_long = admin.post(f"/admin/organization/edit/?id={org_id}",
                          data=as_multidict(fields, admit_black="y", black_instruction="x" * 161))
    assert too_long.status_code == 200
    db.session.expire_all()
    assert (org1().admit_black, org1().black_instruction) == (False, None)  # refused, nothing changed
    saved = admin.post(f"/admin/organization/edit/?id={org_id}",
                       data=as_multidict(fields, admit_black="y", black_instruction="  Mời   khai báo y tế "))
    assert saved.status_code == 302
    db.session.expire_all()
    assert (org1().admit_black, org1().black_instruction) == (True, "Mời khai báo y tế")
    inspector = as_user("inspector.q1")
    page = inspector.get(f"/admin/organization/edit/?id={org_id}").get_data(as_text=True)
    assert 'name="admit_black"' not in page and 'name="black_instruction"' not in page


# --- visitors the registry does not know -----------------------------------------------------------

def _shape(answer: dict) -> dict:
    """An answer without what varies from person to person and scan to scan."""
    return {k: v for k, v in answer.items() if k not in ("name", "id_masked", "checkin_id", "scanned_at")}


def test_unknown_visitor_is_recorded_black_and_answered_as_a_known_one_without_data(app, as_user, policy):
    policy(admit=False)
    staff = as_user("org1.staff")
    known = new_person(green=False, name="Đỗ Thị Không Dữ Liệu")
    cp = checkpoint().id
    id_number = _unknown_id()
    unknown_text = f"{id_number}|Lê Văn Ngoại Tỉnh|1975-03-04|0||"
    known_text = f"{known.id_number}|DO THI KHONG DU LIEU|1980-05-06|0||"
    answers = [post_json(staff, "/reception/scan", {"text": t, "checkpoint": cp}) for t in (unknown_text, known_text)]
    assert [a.status_code for a in answers] == [200, 200]
    unknown, known_answer = (a.get_json() for a in answers)
    assert _shape(unknown) == _shape(known_answer)
    assert (unknown["colour"], unknown["reason"], unknown["action"]) == (
        "black", "Chưa có dữ liệu tiêm chủng", "refused")
    assert unknown["name"] == "LE VAN NGOAI TINH" and known_answer["name"] == "DO THI KHONG DU LIEU"
    assert unknown["id_masked"] == "********" + id_number[-4:]
    db.session.expire_all()
    visitor = db.session.scalar(select(Person).where(Person.id_number == id_number))
    assert (visitor.declared_at_checkpoint, visitor.ward_code, visitor.full_name, str(visitor.birth_date),
            visitor.phone) == (True, None, "LE VAN NGOAI TINH", "1975-03-04", None)
    row = db.session.get(CheckIn, unknown["checkin_id"])
    assert (row.person_id, row.status_colour, row.signed, row.admitted) == (visitor.id, "black", False, False)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "persons.declare", AuditLog.entity_id == str(visitor.id))) == 1
    # The same visitor again is the same person; another name with that ID is refused as for anyone.
    again = post_json(staff, "/reception/scan", {"text": unknown_text, "checkpoint": cp}).get_json()
    assert again["colour"] == "black" and db.session.scalar(
        select(func.count()).select_from(Person).where(Person.id_number == id_number)) == 1
    other = post_json(staff, "/reception/scan", {"text": f"{id_number}|AI KHAC|1975-03-04|0||", "checkpoint": cp})
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "identity_mismatch"


def test_what_stays_refused(ctx):
    known = new_person(green=True)
    cases = {
        f"{known.id_number}|AI KHAC|1980-05-06|0||": "identity_mismatch",      # a known ID, another name
        f"{_unknown_id()}|NGUOI LA|1975|0||": "identity_mismatch",            # a year only: as for a known ID
        f"{known.id_number}|VO THI KIEM THU|1980|0||": "identity_mismatch",
        issue_personal_payload(SimpleNamespace(qr_ref=secrets.token_urlsafe(12))): "unknown_person",  # signed
    }
    before = db.session.scalar(select(func.count()).select_from(Person))
    for text, code in cases.items():
        with pytest.raises(ScanRejected) as caught:
            record_scan(text, checkpoint=checkpoint(), method="scanner")
        assert caught.value.code == code, text
    assert db.session.scalar(select(func.count()).select_from(Person)) == before  # nobody declared


def test_the_anonymous_self_check_in_declares_nobody(ctx):
    from backoffice.models import Location
    location = db.session.get(Location, checkpoint().location_id)
    id_number = _unknown_id()
    with pytest.raises(ScanRejected) as caught:
        record_scan(f"{id_number}|NGUOI LA|1975-03-04|1||", location=location, method="self")
    assert caught.value.code == "unknown_person"
    assert db.session.scalar(select(Person.id).where(Person.id_number == id_number)) is None


# --- staff read what to do -------------------------------------------------------------------------

def test_every_rejection_says_what_to_do_in_vietnamese(app, as_user):
    assert set(REASONS) - {"decoder_busy", "not_exit_stay", "bad_token", "revoked_token"} <= set(ADVICE)
    staff = as_user("org1.staff")
    with app.app_context():
        cp = checkpoint().id
    body = post_json(staff, "/reception/scan", {"text": "HELLO-1234", "checkpoint": cp}).get_json()
    assert body["error"]["code"] == "unknown_prefix"  # for scripts
    assert body["error"]["advice"] == vi("This is not a personal QR code — ask the visitor to open their personal "
                                         "QR code (PC-Covid or the city's card).")
    assert "unknown_prefix" not in body["error"]["advice"] + body["error"]["message"]
    damaged = post_json(staff, "/reception/scan", {"text": "HCMBO1:AAAA", "checkpoint": cp}).get_json()
    assert damaged["error"]["advice"] == "Mã QR không đọc được — đề nghị khách mở lại mã trên điện thoại."


# --- stored reasons in the reader's language ------------------------------------------------------

def test_stored_reason_renders_in_the_readers_language(app, as_user, policy):
    policy(admit=True)
    staff = as_user("org1.staff")
    with app.app_context():
        cp = checkpoint().id
        p = new_person(green=True, dose_days_ago=9)  # one dose 9 days ago: black
        text = issue_personal_payload(p)
    answer = post_json(staff, "/reception/scan", {"text": text, "checkpoint": cp}).get_json()
    assert answer["reason"] == "1 mũi, 9 ngày — chưa đủ 14 ngày"
    row = db.session.get(CheckIn, answer["checkin_id"])
    assert row.status_outcome == "dose_too_recent" and row.status_params == {
        "doses": 1, "days_since_first_dose": 9, "min_days_after_dose": 14}
    with force_locale("en"):
        assert checkin_reason(row) == "1 dose(s), 9 days — not yet 14 days"
    with force_locale("vi"):
        assert checkin_reason(row) == "1 mũi, 9 ngày — chưa đủ 14 ngày"
    with staff.client.session_transaction() as session:
        session["lang"] = "en"
    try:
        recent = staff.get(f"/reception/recent?checkpoint={cp}").get_json()["scans"]
        assert next(s for s in recent if s["id"] == row.id)["reason"] == "1 dose(s), 9 days — not yet 14 days"
    finally:
        with staff.client.session_transaction() as session:
            session.pop("lang", None)
    # A row from before the outcome was stored (or of a rule file gone) shows its text as stored.
    row.status_outcome, row.status_params, row.status_reason = "", None, "2 mũi, 30 ngày — đã đủ 14 ngày"
    with force_locale("en"):
        assert checkin_reason(row) == "2 mũi, 30 ngày — đã đủ 14 ngày"
    row.status_outcome, row.rule_version = "dose_too_recent", "0.0.0-gone"
    assert checkin_reason(row) == "2 mũi, 30 ngày — đã đủ 14 ngày"
    db.session.rollback()


def test_reasons_carry_no_code_on_the_reception_page(app, as_user):
    html = as_user("org1.staff").get("/reception/").get_data(as_text=True)
    assert 'id="result-instruction"' in html
    assert not re.search(r"\b(unknown_prefix|bad_signature|malformed)\b", html)


def test_the_check_in_list_renders_reasons_for_officers_and_colours_for_the_organization(app, as_user, policy):
    policy(admit=True)
    with app.app_context():
        cp = checkpoint().id
        text = issue_personal_payload(new_person(green=True, dose_days_ago=9))
    answer = post_json(as_user("org1.staff"), "/reception/scan", {"text": text, "checkpoint": cp}).get_json()
    details = f"/admin/checkin/details/?id={answer['checkin_id']}"
    page = as_user("inspector.q1").get(details).get_data(as_text=True)
    assert "1 mũi, 9 ngày — chưa đủ 14 ngày" in page
    exported = as_user("admin").get("/admin/checkin/export/csv/").get_data(as_text=True)
    assert "1 mũi, 9 ngày — chưa đủ 14 ngày" in exported
    own = as_user("org1.admin")
    response = own.get(details)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and re.search(r'<td>\s*Màu đen\s*</td>', page)  # the colour, in words
    assert "1 mũi" not in page and "1 mũi" not in own.get("/admin/checkin/export/csv/").get_data(as_text=True)


def test_the_ward_registers_a_declared_visitor_as_its_resident(app, as_user, policy):
    """A visitor a checkpoint declared is registered by their ward like anyone: the same row (its visits stay for
    tracing) takes the officer's values and loses its 'declared' mark."""
    policy(admit=False)
    id_number = _unknown_id()
    text = f"{id_number}|Trần Văn Khách|1990-01-02|0||"
    scan = post_json(as_user("org1.staff"), "/reception/scan", {"text": text, "checkpoint": checkpoint().id})
    visitor_id = db.session.get(CheckIn, scan.get_json()["checkin_id"]).person_id
    officer, url = as_user("ward.bennghe"), "/admin/qr-cards/register"
    form = {"full_name": "Trần Văn Khách", "id_type": "cccd", "id_number": id_number, "birth_date": "1990-01-02",
            "gender": "1", "phone": "0903 123 456", "address": "7 Lê Lợi", "ward": str(BEN_NGHE)}
    response = officer.post_form(url, form, token_from=url)
    assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    db.session.expire_all()
    person = db.session.scalar(select(Person).where(Person.id_number == id_number))
    assert (person.id, person.ward_code, person.full_name, person.declared_at_checkpoint, person.phone) == (
        visitor_id, BEN_NGHE, "Trần Văn Khách", False, "+84903123456")
    assert db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.person_id == person.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "persons.register_declared", AuditLog.entity_id == str(person.id))) == 1
    again = officer.post_form(url, form, token_from=url)
    assert again.status_code == 409  # now a resident: registered once


def test_the_resident_import_takes_over_a_declared_visitor(app, as_user, policy):
    policy(admit=False)
    id_number = _unknown_id()
    scan = post_json(as_user("org1.staff"), "/reception/scan",
                     {"text": f"{id_number}|Phan Thị Đến|1985-06-07|0||", "checkpoint": checkpoint().id})
    visitor_id = db.session.get(CheckIn, scan.get_json()["checkin_id"]).person_id
    officer, base = as_user("ward.bennghe"), "/admin/imports/residents/"
    response = officer.post_form(base + "upload", {"file": (io.BytesIO(xlsx([
        ["Họ và tên", "Số CCCD", "Ngày sinh", "Mũi 1 - Loại vắc xin", "Mũi 1 - Ngày tiêm"],
        ["Phan Thị Đến", id_number, "07/06/1985", "AstraZeneca", "01/08/2021"]])), "cu-dan.xlsx")},
        token_from=base, content_type="multipart/form-data")
    url = response.headers["Location"]
    assert "đã đăng ký ở phường/xã khác" not in officer.get(url).get_data(as_text=True)
    assert officer.post_form(url + "confirm", {"mode": "block"}, token_from=url).status_code == 302
    db.session.expire_all()
    person = db.session.get(Person, visitor_id)
    assert (person.ward_code, person.declared_at_checkpoint, person.full_name) == (BEN_NGHE, False, "Phan Thị Đến")
    assert db.session.scalar(select(func.count()).select_from(Person).where(Person.id_number == id_number)) == 1
