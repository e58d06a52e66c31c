"""An organization's scope never widens to the registry.

A typed or imported ID number links nothing and reveals nothing; a scan (the unsigned national text, a self
check-in) or a check-in makes no resident readable; a staff row is linked only by the person's own signed QR at
one of the organization's checkpoints or by their ward officer, and then the organization sees the health
summary, never the record. An organization admin cannot change its own sector, not even with a forged POST."""
from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import func, select

from backoffice.auth.scope import in_scope, scope
from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import (
    AuditLog, CheckIn, Organization, Person, Recovery, Staff, TestResult, Vaccination,
)
from backoffice.scanning.self_checkin import national_text
from backoffice.scanning.payload import issue_personal_payload
from backoffice.scanning.service import record_scan
from backoffice.staff import service as staff_links
from backoffice.timeutil import now_utc
from pages_support import as_multidict, model_form
from conftest import get_user
from factories import checkpoint, new_id_number, new_person, org1, org2

HEALTH_ENDPOINTS = ("vaccination", "testresult", "recovery")


def _add_staff(org_id: int, id_number: str, name: str = "Nhân viên Riêng Tư") -> int:
    staff = Staff(organization_id=org_id, full_name=name, id_number=id_number)
    db.session.add(staff)
    db.session.commit()
    return staff.id


def _staff(staff_id: int) -> Staff:
    db.session.expire_all()
    return db.session.get(Staff, staff_id)


def assert_registry_closed(browser, person_id: int) -> None:
    """Every read path an organization admin might try on a resident: refused (403 for the views it may not
    open, 404 for a record), and the scope itself holds."""
    assert browser.get(f"/admin/person/details/?id={person_id}").status_code in (403, 404)
    assert browser.get("/admin/person/").status_code == 403
    for kind in ("csv", "xlsx"):
        assert browser.get(f"/admin/person/export/{kind}/").status_code == 403
    for endpoint in HEALTH_ENDPOINTS:
        assert browser.get(f"/admin/{endpoint}/").status_code == 403
        assert browser.get(f"/admin/{endpoint}/details/?id=1").status_code in (403, 404)
        assert browser.get(f"/admin/{endpoint}/export/csv/").status_code == 403
        lookup = browser.get(f"/admin/{endpoint}/ajax/lookup/", query_string={"name": "person", "query": "0"})
        assert lookup.status_code == 403
    user = get_user(browser.username)
    assert not in_scope(Person, person_id, user)
    for model in (Vaccination, TestResult, Recovery):
        assert db.session.scalars(scope(select(model), user).where(model.person_id == person_id)).all() == []


# --- 1. writes: a typed or imported ID number links nothing and tells nothing -----------------------------

def test_staff_form_with_a_residents_id_links_nothing_and_reads_stay_closed(as_user, ctx):
    resident = new_person(name="Cư Dân Bí Mật")
    browser = as_user("org1.admin")
    response = browser.post_form("/admin/staff/new/", {"organization": org1().id, "full_name": "Ai Đó",
                                                       "id_number": resident.id_number, "active": "y"})
    assert response.status_code == 302
    row = db.session.scalar(select(Staff).where(Staff.organization_id == org1().id,
                                                Staff.id_number == resident.id_number))
    assert row is not None and row.person_id is None and row.link_method is None
    assert_registry_closed(browser, resident.id)


def _status_cell(browser, staff_id: int) -> str:
    html = browser.get(f"/admin/staff/details/?id={staff_id}").get_data(as_text=True)
    match = re.search(r"(Chờ xác minh|Đã xác minh[^<]*)", html)
    return match.group(1) if match else ""


def test_the_staff_list_answers_the_same_for_an_existing_and_an_unknown_id(as_user, ctx):
    browser = as_user("org1.admin")
    known, unknown = new_person(name="Người Có Thật").id_number, new_id_number("0792")
    pages = {}
    for id_number in (known, unknown):
        browser.post_form("/admin/staff/new/", {"organization": org1().id, "full_name": "Cùng Một Tên",
                                                "id_number": id_number})
        staff = db.session.scalar(select(Staff).where(Staff.organization_id == org1().id,
                                                      Staff.id_number == id_number))
        assert staff.person_id is None
        assert _status_cell(browser, staff.id) == "Chờ xác minh"
        html = browser.get("/admin/staff/", query_string={"search": id_number}).get_data(as_text=True)
        # The list row, with what differs by construction (the typed ID, the row id, the time) blanked.
        html = re.search(r"model-list.*?</table>", html, re.S).group(0).replace(id_number, "ID")
        html = re.sub(r"id=\d+|value=\"\d+\"|\d{4}-\d\d-\d\d[ T][\d:.]+", "", html)
        html = re.sub(r'name="csrf_token"[^>]*>', "", html)
        pages[id_number] = re.sub(r"\s+", " ", html)
    assert pages[known] == pages[unknown]
    assert "✓" not in pages[known]


def _upload(browser, base: str, data: bytes) -> str:
    response = browser.post_form(base + "upload", {"file": (io.BytesIO(data), "nv.xlsx")}, token_from=base,
                                 content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def test_staff_import_with_resident_ids_links_nothing(app, as_user, ctx):
    from imports_support import xlsx
    resident = new_person(name="Cư Dân Nhập Khẩu")
    unknown = new_id_number("0792")
    admin = as_user("org1.admin")
    url = _upload(admin, "/admin/imports/staff/", xlsx(
        [["Họ tên", "Số CCCD"], ["Người Một", resident.id_number], ["Người Hai", unknown]]))
    preview = admin.get(url).get_data(as_text=True)
    assert preview.count(resident.id_number) == preview.count(unknown)
    assert admin.post_form(url + "confirm", {"mode": "block"}, token_from=url).status_code == 302
    rows = db.session.execute(select(Staff.id_number, Staff.person_id).where(
        Staff.organization_id == org1().id, Staff.id_number.in_([resident.id_number, unknown]))).all()
    assert sorted(r.id_number for r in rows) == sorted([resident.id_number, unknown])
    assert all(r.person_id is None for r in rows)
    result = admin.get(url).get_data(as_text=True)
    assert result.count(resident.id_number) == result.count(unknown)
    assert_registry_closed(admin, resident.id)


# --- 2. scans and check-ins widen nothing --------------------------------------------------------------------

def test_national_text_at_the_orgs_checkpoint_links_nothing(as_user, ctx):
    resident = new_person(name="Khách Quốc Gia")
    staff_id = _add_staff(org1().id, resident.id_number)
    result = record_scan(national_text(resident), checkpoint=checkpoint(), method="scanner",
                         user=get_user("org1.staff"))
    assert result.signed is False
    assert _staff(staff_id).person_id is None
    assert_registry_closed(as_user("org1.admin"), resident.id)


def test_a_self_checkin_with_the_signed_qr_links_nothing(as_user, ctx):
    resident = new_person(name="Khách Tự Khai")
    staff_id = _add_staff(org1().id, resident.id_number)
    record_scan(issue_personal_payload(resident), location=checkpoint().location, method="self")
    assert _staff(staff_id).person_id is None
    assert_registry_closed(as_user("org1.admin"), resident.id)


def test_a_visitors_checkin_shows_what_the_scan_showed_and_opens_nothing(as_user, ctx):
    visitor = new_person(name="Khách Ghé Thăm")
    result = record_scan(issue_personal_payload(visitor), checkpoint=checkpoint(), method="scanner",
                         user=get_user("org1.staff"))
    browser = as_user("org1.admin")
    assert_registry_closed(browser, visitor.id)
    checkin = db.session.get(CheckIn, result.checkin_id)
    assert checkin.status_colour == result.colour and checkin.status_reason
    html = browser.get(f"/admin/checkin/details/?id={checkin.id}").get_data(as_text=True)
    assert "Khách Ghé Thăm" in html and visitor.id_number not in html
    assert "/admin/person/" not in html
    listing = browser.get("/admin/checkin/").get_data(as_text=True)
    assert visitor.id_number not in listing and "/admin/person/" not in listing


# --- linking with proof --------------------------------------------------------------------------------------

def test_own_signed_qr_at_the_orgs_checkpoint_links_and_shows_the_health_summary_only(as_user, ctx):
    resident = new_person(name="Nhân Viên Chứng Minh", dose_days_ago=40)
    resident.phone, resident.address = "+84903999888", "12 Đường Bí Mật"
    db.session.commit()
    staff_id = _add_staff(org1().id, resident.id_number, name="NV Chứng Minh")
    # Somewhere else first: another organization's checkpoint proves nothing to org1.
    record_scan(issue_personal_payload(resident), checkpoint=checkpoint(org=org2()), method="scanner",
                user=get_user("org2.admin"))
    assert _staff(staff_id).person_id is None
    record_scan(issue_personal_payload(resident), checkpoint=checkpoint(), method="scanner",
                user=get_user("org1.staff"))
    staff = _staff(staff_id)
    assert staff.person_id == resident.id and staff.link_method == "signed_scan" and staff.linked_at is not None
    assert staff.linked_by_id == get_user("org1.staff").id
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "staff.link", AuditLog.entity_id == str(staff_id))) == 1
    browser = as_user("org1.admin")
    assert "Đã xác minh" in _status_cell(browser, staff_id)
    page = browser.get("/admin/staff-health/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "NV Chứng Minh" in html and 'data-colour="green"' in html
    for secret in (resident.id_number, "Nhân Viên Chứng Minh", "06/05/1980", "1980-05-06", "903999888",
                   "Đường Bí Mật"):
        assert secret not in html, secret
    assert_registry_closed(browser, resident.id)
    # The page is a read of the worker's health records: audited, and the resident will see it.
    from backoffice.audit import reads_of
    assert any(entry.actor_name == "org1.admin" and (entry.after or {}).get("why") == "staff_health"
               for entry in reads_of(resident.id))
    # The organization's own other pages never show the registry's name either.
    assert "Nhân Viên Chứng Minh" not in browser.get(f"/admin/staff/details/?id={staff_id}").get_data(as_text=True)
    # Nobody else's staff health: org2 sees none of it.
    assert "NV Chứng Minh" not in as_user("org2.admin").get("/admin/staff-health/").get_data(as_text=True)


def test_ward_officer_confirms_or_rejects_pending_links_of_their_residents(as_user, ctx):
    mine = new_person(name="Dân Bến Nghé")
    elsewhere = new_person(name="Dân Phường Khác")
    elsewhere.ward_code = db.session.scalar(select(Person.ward_code).where(
        Person.ward_code != BEN_NGHE, Person.ward_code.is_not(None)))
    db.session.commit()
    confirm_id = _add_staff(org2().id, mine.id_number, name="NV Chờ Phường")
    other_id = _add_staff(org2().id, elsewhere.id_number, name="NV Phường Khác")
    officer = as_user("ward.bennghe")
    html = officer.get("/admin/staff-links/").get_data(as_text=True)
    assert "NV Chờ Phường" in html and "NV Phường Khác" not in html
    # Not this ward's resident: as if it did not exist.
    assert officer.post_form(f"/admin/staff-links/{other_id}/confirm").status_code == 404
    assert _staff(other_id).person_id is None
    # No CSRF token, no change.
    assert officer.post(f"/admin/staff-links/{confirm_id}/confirm").status_code in (400, 403)
    assert officer.post_form(f"/admin/staff-links/{confirm_id}/confirm").status_code == 302
    staff = _staff(confirm_id)
    assert staff.person_id == mine.id and staff.link_method == "ward"
    assert staff.linked_by_id == get_user("ward.bennghe").id
    assert "NV Chờ Phường" not in officer.get("/admin/staff-links/").get_data(as_text=True)
    assert "NV Chờ Phường" in as_user("org2.admin").get("/admin/staff-health/").get_data(as_text=True)
    # Other roles may not decide.
    assert as_user("org2.admin").post_form(f"/admin/staff-links/{confirm_id}/confirm").status_code == 403
    # Rejected: leaves the queue, stays unlinked, and the organization sees the same "awaiting" as before.
    reject_id = _add_staff(org1().id, new_person(name="Dân Từ Chối").id_number, name="NV Bị Từ Chối")
    assert officer.post_form(f"/admin/staff-links/{reject_id}/reject").status_code == 302
    assert _staff(reject_id).person_id is None and _staff(reject_id).link_rejected_at is not None
    assert "NV Bị Từ Chối" not in officer.get("/admin/staff-links/").get_data(as_text=True)
    assert _status_cell(as_user("org1.admin"), reject_id) == "Chờ xác minh"


def test_changing_the_typed_id_of_a_linked_row_unlinks_it(as_user, ctx):
    resident = new_person(name="Đổi Số Giấy Tờ")
    staff_id = _add_staff(org1().id, resident.id_number, name="NV Đổi Số")
    record_scan(issue_personal_payload(resident), checkpoint=checkpoint(), method="scanner",
                user=get_user("org1.staff"))
    assert _staff(staff_id).person_id == resident.id
    browser = as_user("org1.admin")
    page = browser.get(f"/admin/staff/edit/?id={staff_id}").get_data(as_text=True)
    data = as_multidict(model_form(page)["fields"], id_number=new_id_number("0792"))
    assert browser.post(f"/admin/staff/edit/?id={staff_id}", data=data).status_code == 302
    staff = _staff(staff_id)
    assert staff.person_id is None and staff.link_method is None and staff.linked_at is None


def test_linked_staff_count_in_the_staff_green_share(ctx):
    from backoffice.criteria.facts import staff_green_share
    org = org1()
    resident = new_person(name="Đếm Tỷ Lệ Xanh", green=True)
    staff_id = _add_staff(org.id, resident.id_number)
    before = staff_green_share(org, now_utc())
    record_scan(issue_personal_payload(resident), checkpoint=checkpoint(), method="scanner",
                user=get_user("org1.staff"))
    assert _staff(staff_id).person_id == resident.id
    after = staff_green_share(org, now_utc())
    # Unlinked, the new row counted as black (no data); linked, its green counts.
    assert after.value is not None and before.value is not None and after.value > before.value


def test_green_until_asks_the_rules(ctx):
    from backoffice.health import status as health
    now = now_utc()
    day = health.scan_day(now)
    recovered = [day - timedelta(days=30)]
    until = staff_links.green_until([], recovered, now)
    assert until is not None and until > day
    assert health.status_from([], recovered, now + timedelta(days=(until - day).days)).green
    assert not health.status_from([], recovered, now + timedelta(days=(until - day).days + 1)).green
    assert staff_links.green_until([], [], now) is None  # black now


def test_a_scan_of_someone_not_pending_costs_one_indexed_lookup(app, ctx):
    """The hot path's addition: one SELECT on the (organization_id, id_number) unique index, nothing else."""
    from sqlalchemy import event
    resident = new_person(name="Khách Thường")
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        record_scan(issue_personal_payload(resident), checkpoint=checkpoint(), method="scanner",
                    user=get_user("org1.staff"))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    staff_reads = [s for s in statements if "FROM staff" in s and "person_id IS NULL" in s]
    assert len(staff_reads) == 1


# --- 8. an organization admin cannot change its own sector --------------------------------------------------

def test_org_admin_cannot_change_its_sector_even_with_a_forged_post(as_user, ctx):
    browser = as_user("org1.admin")
    org_id = get_user("org1.admin").organization_id
    before = db.session.get(Organization, org_id).sector
    page = browser.get(f"/admin/organization/edit/?id={org_id}").get_data(as_text=True)
    form = model_form(page)
    assert "sector" not in dict(form["fields"])  # not offered
    other = "office" if before != "office" else "market"
    response = browser.post(f"/admin/organization/edit/?id={org_id}",
                            data=as_multidict(form["fields"], sector=other))
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Organization, org_id).sector == before
