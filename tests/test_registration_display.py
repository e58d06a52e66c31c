"""A pending applicant learns at login that the registration awaits approval (only with the
right password); pending registrations on the admin's and the district inspector's home (scoped); approve and
reject on the detail page (POST + CSRF, through registration.service); the ward list follows the district, in
natural Vietnamese order."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import select

from backoffice.collation import natural_key, sorted_naturally, vi_key
from backoffice.demo.seed import BEN_NGHE
from backoffice.domain import OrgStatus
from backoffice.extensions import db
from backoffice.models import Organization, User, Ward
from backoffice.registration import service
from conftest import csrf_token, login
from factories import new_tax_code

Q1, Q3 = 760, 770
PASSWORD = "Quan-Ca-Phe-2021!"


def _register(app, ward_code: int = BEN_NGHE) -> tuple[int, str, str]:
    """A pending registration (through the operation): its id, tax code and admin username."""
    tax_code = new_tax_code("05")
    username = f"applicant.{tax_code}"
    with app.app_context():
        org = service.register_organization(service.Registration(
            name=f"Quán Thử {tax_code[-4:]}", tax_code=tax_code, sector="food_service", address="1 Lê Lợi",
            ward_code=ward_code, contact_name="Trần Văn Bình", phone="0903123456", email=f"{tax_code}@example.vn",
            username=username, password=PASSWORD))
        return org.id, tax_code, username


def _flash(response) -> str:
    return " ".join(re.findall(r'class="alert alert-[a-z]+"[^>]*>([^<]+)<', response.get_data(as_text=True)))


def _ward_of(app, district: int) -> int:
    with app.app_context():
        return db.session.scalar(select(Ward.code).where(Ward.district_code == district).order_by(Ward.code))


# --- login -------------------------------------------------------------------------------------------------------

def test_pending_applicant_with_the_right_password_is_told_it_awaits_approval(app):
    _id, _tax, username = _register(app)
    client = app.test_client()
    response = login(client, username, PASSWORD)
    assert response.status_code == 200  # not logged in
    assert "đang chờ quận/huyện duyệt" in _flash(response)
    assert "Sai tên đăng nhập" not in _flash(response)


def test_pending_applicant_with_a_wrong_password_reads_the_same_as_an_unknown_user(app):
    _id, _tax, username = _register(app)
    wrong = _flash(login(app.test_client(), username, "not-the-password"))
    unknown = _flash(login(app.test_client(), "nobody.at.all", "not-the-password"))
    taken_right = _flash(login(app.test_client(), "nobody.at.all", PASSWORD))
    assert wrong == unknown == taken_right
    assert "chờ" not in wrong and "duyệt" not in wrong


def test_rejected_applicant_learns_it_only_with_the_right_password(app, as_user):
    org_id, _tax, username = _register(app)
    with app.app_context():
        org = db.session.get(Organization, org_id)
        service.decide(org, False, db.session.scalar(select(User).where(User.username == "admin")))
    assert "không được duyệt" in _flash(login(app.test_client(), username, PASSWORD))
    assert "không được duyệt" not in _flash(login(app.test_client(), username, PASSWORD + "x"))


def test_undecided_status_checks_one_password_hash_whatever_the_name(app, monkeypatch):
    """Failures of every kind cost one argon2 verification here, so timing tells no username apart."""
    from backoffice.registration import service as reg
    calls = []
    real = reg.verify_password
    monkeypatch.setattr(reg, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    _id, _tax, username = _register(app)
    with app.app_context():
        assert reg.undecided_status("nobody.at.all", "x") is None
        assert reg.undecided_status(username, "x") is None
        assert reg.undecided_status(username, PASSWORD) == "pending"
        assert reg.undecided_status("admin", "demo-2021") is None  # active accounts are not applicants
    assert len(calls) == 4


# --- home panels -------------------------------------------------------------------------------------------------

def test_pending_registrations_on_the_home_of_admin_and_of_the_districts_inspector_only(app, as_user):
    q1_id, q1_tax, _u = _register(app, BEN_NGHE)
    q3_id, q3_tax, _u = _register(app, _ward_of(app, Q3))
    # The panel lists the oldest ten awaiting a decision (first come, first decided); registrations other tests
    # left pending must not push these two off it.
    with app.app_context():
        for org_id in (q1_id, q3_id):
            db.session.get(Organization, org_id).created_at = datetime(2021, 10, 1, tzinfo=timezone.utc)
        db.session.commit()
    admin = as_user("admin").get("/admin/").get_data(as_text=True)
    assert 'id="panel-registrations"' in admin and q1_tax in admin and q3_tax in admin
    q1 = as_user("inspector.q1").get("/admin/").get_data(as_text=True)
    assert 'id="panel-registrations"' in q1 and q1_tax in q1 and q3_tax not in q1
    q3 = as_user("inspector.q3").get("/admin/").get_data(as_text=True)
    assert q3_tax in q3 and q1_tax not in q3
    for other in ("ward.bennghe", "org1.admin"):
        assert 'id="panel-registrations"' not in as_user(other).get("/admin/").get_data(as_text=True)


# --- approve / reject on the detail page ----------------------------------------------------------------------------

def _status(app, org_id: int) -> tuple[str, list[bool]]:
    with app.app_context():
        org = db.session.get(Organization, org_id)
        return org.status, list(db.session.scalars(select(User.active).where(User.organization_id == org_id)))


def test_detail_page_approves_with_a_post_and_the_applicant_logs_in(app, as_user):
    org_id, _tax, username = _register(app)
    browser = as_user("inspector.q1")
    page = browser.get(f"/admin/registration_admin/details/?id={org_id}").get_data(as_text=True)
    assert 'id="registration-decision"' in page and 'value="approve"' in page and 'value="reject"' in page
    assert browser.get(f"/admin/registration_admin/decide/?id={org_id}").status_code == 405  # never a GET
    response = browser.post_form("/admin/registration_admin/decide/", {"id": org_id, "decision": "approve"},
                                 token_from=f"/admin/registration_admin/details/?id={org_id}")
    assert response.status_code == 302
    assert _status(app, org_id) == (OrgStatus.ACTIVE.value, [True])
    assert login(app.test_client(), username, PASSWORD).status_code == 302
    # Decided: the page and a second decision are gone (404), nothing changes.
    assert browser.get(f"/admin/registration_admin/details/?id={org_id}").status_code == 404
    again = browser.post_form("/admin/registration_admin/decide/", {"id": org_id, "decision": "reject"})
    assert again.status_code == 404 and _status(app, org_id) == (OrgStatus.ACTIVE.value, [True])


def test_detail_page_rejects_with_its_note(app, as_user):
    org_id, _tax, _u = _register(app)
    response = as_user("admin").post_form("/admin/registration_admin/decide/",
                                          {"id": org_id, "decision": "reject", "note": "Sai mã số thuế"})
    assert response.status_code == 302
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert (org.status, org.decision_note) == (OrgStatus.REJECTED.value, "Sai mã số thuế")


def test_decision_out_of_scope_role_or_csrf_changes_nothing(app, as_user):
    org_id, _tax, _u = _register(app)
    pending = (OrgStatus.PENDING.value, [False])
    # Another district's inspector: 404, as for a record that does not exist.
    assert as_user("inspector.q3").post_form("/admin/registration_admin/decide/",
                                             {"id": org_id, "decision": "approve"}).status_code == 404
    # A role that decides nothing: 403.
    assert as_user("org1.admin").post_form("/admin/registration_admin/decide/",
                                           {"id": org_id, "decision": "approve"}).status_code == 403
    # No CSRF token: refused.
    assert as_user("admin").post("/admin/registration_admin/decide/",
                                 data={"id": org_id, "decision": "approve"}).status_code == 400
    # Nonsense: a clear 400/404, never a 500.
    admin = as_user("admin")
    assert admin.post_form("/admin/registration_admin/decide/", {"id": org_id, "decision": "maybe"}).status_code == 400
    assert admin.post_form("/admin/registration_admin/decide/", {"id": "x'1", "decision": "approve"}).status_code == 404
    assert _status(app, org_id) == pending


# --- wards ------------------------------------------------------------------------------------------------------

def test_vietnamese_order_and_natural_numbers():
    names = ["Phường 10", "Phường Đa Kao", "Phường 2", "Phường Bến Nghé", "Phường 1", "Phường Ăn Thử",
             "Phường Az", "Phường Dĩ An", "Phường Bà Điểm", "Phường Ba Láng"]
    assert sorted_naturally(names) == ["Phường 1", "Phường 2", "Phường 10", "Phường Az", "Phường Ăn Thử",
                                       "Phường Bà Điểm", "Phường Ba Láng", "Phường Bến Nghé", "Phường Dĩ An",
                                       "Phường Đa Kao"]
    assert sorted_naturally(["Bá", "Bà", "Ba", "Bạ"]) == ["Ba", "Bà", "Bá", "Bạ"]  # tones only break ties
    assert vi_key("ơ") > vi_key("ô") > vi_key("o") and vi_key("ư") > vi_key("u") and vi_key("đ") > vi_key("dz")
    assert natural_key("Quận 3") < natural_key("Quận 12") < natural_key("Quận Bình Thạnh")


def _options(html: str, select_id: str) -> list[tuple[str, str, str]]:
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    options = []
    for m in re.finditer(r'<option([^>]*)>([^<]*)</option>', block):  # attributes in any order
        value, district = re.search(r'value="([^"]*)"', m.group(1)), re.search(r'data-district="(\d+)"', m.group(1))
        options.append((value.group(1) if value else "", district.group(1) if district else "", m.group(2).strip()))
    return options


def test_registration_form_lists_wards_by_district_in_natural_order(app):
    html = app.test_client().get("/register").get_data(as_text=True)
    districts = [label for value, _d, label in _options(html, "district") if value]
    assert districts.index("Quận 1") < districts.index("Quận 3") < districts.index("Quận 12")
    assert 'data-ward-for="district"' in html and "ward_picker.js" in html
    q3 = [label for _v, district, label in _options(html, "ward") if district == str(Q3)]
    numbered = [n for n in q3 if re.fullmatch(r"Phường \d+", n)]
    assert numbered == sorted(numbered, key=lambda n: int(n.split()[-1])) and len(numbered) >= 10
    assert q3[:len(numbered)] == numbered  # numbered wards first, then the named ones
    assert q3[len(numbered):] == sorted_naturally(q3[len(numbered):])


def test_registration_refuses_a_ward_outside_the_chosen_district(app):
    client = app.test_client()
    tax_code = new_tax_code("06")
    data = {"csrf_token": csrf_token(client, "/register"), "name": "Quán Sai Phường", "tax_code": tax_code,
            "sector": "food_service", "address": "1 Lê Lợi", "district": str(Q3), "ward": str(BEN_NGHE),
            "contact_name": "Lê Thị Cúc", "phone": "0903123456", "email": "cuc@example.vn",
            "username": f"cuc.{tax_code}", "password": PASSWORD, "confirm": PASSWORD}
    response = client.post("/register", data=data)
    assert response.status_code == 200
    assert "không thuộc quận/huyện đã chọn" in response.get_data(as_text=True) or \
        "không nằm trong" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Organization.id).where(Organization.tax_code == tax_code)) is None
