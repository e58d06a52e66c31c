"""The import wizard end to end through the test client (CSRF included): template, upload, preview, confirm,
result, error report, one-time passwords, history and scope; staff and residents imports too."""
from __future__ import annotations

import io
import re
import time
from datetime import date
from urllib.parse import urlsplit

from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import AuditLog, ImportRecord, Organization, Person, Staff, Vaccination
from conftest import get_user
from factories import tax_codes
from imports_support import ORG_HEADER, org_row, xlsx

BASE = "/admin/imports/organizations/"


def upload(browser, base: str, data: bytes, name: str = "ds.xlsx"):
    return browser.post_form(base + "upload", {"file": (io.BytesIO(data), name)}, token_from=base,
                             content_type="multipart/form-data")


def record_url(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def test_template(as_user):
    response = as_user("admin").get(BASE + "template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Danh sách", "Danh mục", "Hướng dẫn"]
    sheet = book["Danh sách"]
    assert [c.value for c in sheet[1]][:3] == ["Tên doanh nghiệp (*)", "Mã số thuế (*)", "Địa chỉ"]
    assert sheet["B1"].comment.text.startswith("Tax code")
    assert sheet["B2"].value == "0100047516"  # the example row
    validated = {str(v.sqref).split(":")[0] for v in sheet.data_validations.dataValidation}
    assert {"D2", "E2", "F2"} <= validated  # district, ward, sector dropdowns
    assert "Quận 1" in [c.value for c in book["Danh mục"]["A"]]
    assert book["Danh mục"].sheet_state == "hidden"


def test_template_filled_in_imports(app, as_user, tmp_path):
    """The template itself, filled in below its example row: the example is never imported."""
    from openpyxl import load_workbook as load
    admin = as_user("admin")
    book = load(io.BytesIO(admin.get(BASE + "template.xlsx").data))
    code = tax_codes(1)[0]
    sheet = book["Danh sách"]
    for column, value in enumerate(org_row(code, district="Q1", ward="Bến Thành"), start=1):
        sheet.cell(row=3, column=column).value = value
    out = io.BytesIO()
    book.save(out)
    url = record_url(upload(admin, BASE, out.getvalue(), "mau.xlsx"))
    page = admin.get(url).get_data(as_text=True)
    assert code in page and "0100047516" not in page
    admin.post_form(url + "confirm", {"mode": "block"}, token_from=url)
    with app.app_context():
        assert db.session.scalar(select(Organization.ward_code).where(Organization.tax_code == code)) == 26743


def test_wizard_end_to_end(app, as_user):
    admin = as_user("admin")
    codes = tax_codes(3)
    page = admin.get(BASE)
    assert page.status_code == 200 and "csrf_token" in page.get_data(as_text=True)
    # Without the CSRF token the upload is refused.
    refused = admin.post(BASE + "upload", data={"file": (io.BytesIO(b"x"), "a.xlsx")},
                         content_type="multipart/form-data")
    assert refused.status_code == 400

    data = xlsx([ORG_HEADER, org_row(codes[0]), org_row(codes[1], district="Q.3", ward="P.2"),
                 org_row(codes[2], phone="99")], before=[["DANH SÁCH"], []], merge="A1:J1")
    url = record_url(upload(admin, BASE, data))
    preview = admin.get(url).get_data(as_text=True)
    assert "Chờ xác nhận" in preview  # Vietnamese by default: "Waiting for confirmation"
    assert "H6" in preview and codes[0] in preview
    errors_page = admin.get(url + "?status=error").get_data(as_text=True)
    assert codes[2] in errors_page and codes[0] not in errors_page
    report = admin.get(url + "errors.xlsx")
    assert report.status_code == 200 and load_workbook(io.BytesIO(report.data)).active["A2"].value == 6

    # Blocking is refused while a row has an error; skipping imports the two valid rows.
    admin.post_form(url + "confirm", {"mode": "block"}, token_from=url)
    with app.app_context():
        assert db.session.scalar(select(Organization.id).where(Organization.tax_code == codes[0])) is None
    response = admin.post_form(url + "confirm", {"mode": "skip", "create_accounts": "y"}, token_from=url)
    assert response.status_code == 302
    result = admin.get(url).get_data(as_text=True)
    assert "Đã nhập" in result  # "Imported"
    with app.app_context():
        assert db.session.scalar(select(Organization.ward_code).where(Organization.tax_code == codes[1])) == 27157

    # The one-time passwords, once, by POST with the CSRF token; the accounts must change them.
    sheet = admin.post_form(url + "credentials.xlsx", {}, token_from=url)
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(min_row=2, values_only=True))
    assert sorted(r[2] for r in rows) == sorted(codes[:2])
    with app.app_context():
        assert get_user(codes[0]).must_change_password
    again = admin.post_form(url + "credentials.xlsx", {}, token_from=url)
    assert again.status_code == 302

    # History and scope: listed for the admin; another district's inspector gets 404; other roles 403.
    assert url.rstrip("/").rsplit("/", 1)[1] in admin.get(BASE).get_data(as_text=True)
    assert as_user("inspector.q3").get(url).status_code == 404
    assert as_user("org1.admin").get(BASE).status_code == 403


def test_inspector_cannot_confirm_someone_elses_import(app, as_user):
    inspector = as_user("inspector.q1")
    url = record_url(upload(inspector, BASE, xlsx([ORG_HEADER, org_row(tax_codes(1)[0])])))
    admin = as_user("admin")
    assert admin.get(url).status_code == 200  # the city sees it
    assert admin.post_form(url + "confirm", {"mode": "block"}, token_from=url).status_code == 403
    assert admin.post_form(url + "credentials.xlsx", {}, token_from=url).status_code == 403
    with app.app_context():  # each refusal audited with what was refused
        path = urlsplit(url).path
        assert {(e.entity_id, e.after["reason"]) for e in db.session.scalars(select(AuditLog).where(
            AuditLog.action == "request.denied", AuditLog.entity_id.in_([path + "confirm",
                                                                          path + "credentials.xlsx"])))} == {
            (path + "confirm", "imports.confirm.not_creator"),
            (path + "credentials.xlsx", "imports.credentials.not_creator")}
    assert inspector.post_form(url + "cancel", {}, token_from=url).status_code == 302
    assert "Đã hủy" in inspector.get(url).get_data(as_text=True)


def test_background_apply_with_progress(app, as_user):
    inspector = as_user("inspector.q1")
    codes = tax_codes(30)
    url = record_url(upload(inspector, BASE, xlsx([ORG_HEADER, *[org_row(c) for c in codes]])))
    app.config.update(IMPORT_SYNC_ROWS=0, IMPORT_CHUNK_SIZE=5)
    try:
        assert inspector.post_form(url + "confirm", {"mode": "block"}, token_from=url).status_code == 302
        deadline = time.time() + 60
        while time.time() < deadline:
            state = inspector.get(url + "progress.json").get_json()["state"]
            if state != "applying":
                break
            page = inspector.get(url).get_data(as_text=True)
            # the page refreshes itself while applying (the job may end between the two requests)
            assert 'http-equiv="refresh"' in page or \
                inspector.get(url + "progress.json").get_json()["state"] != "applying"
            time.sleep(0.2)
    finally:
        app.config.pop("IMPORT_SYNC_ROWS")
        app.config.pop("IMPORT_CHUNK_SIZE")
    assert state == "applied"
    with app.app_context():
        assert db.session.query(Organization).filter(Organization.tax_code.in_(codes)).count() == 30


def test_staff_import(app, as_user):
    admin = as_user("org1.admin")
    base = "/admin/imports/staff/"
    assert admin.get(base + "template.xlsx").status_code == 200
    data = xlsx([["Họ tên", "Số CCCD", "Điện thoại", "Vị trí"],
                 ["Nguyễn Văn An", "079090000001", "0903111222", "Bếp trưởng"],  # a known resident
                 ["Đỗ Thị Mai", 79301000123, "+84 91 222 3333", "Thu ngân"],   # lost its leading zero
                 ["Võ Văn Tư", "12AB", "", ""]])
    url = record_url(upload(admin, base, data))
    assert "B4" in admin.get(url).get_data(as_text=True)
    assert admin.post_form(url + "confirm", {"mode": "skip"}, token_from=url).status_code == 302
    with app.app_context():
        org_id = get_user("org1.admin").organization_id
        staff = {s.id_number: s for s in db.session.scalars(select(Staff).where(Staff.organization_id == org_id))}
        # An imported ID number links nothing: the person proves the link (backoffice.staff).
        assert staff["079090000001"].position == "Bếp trưởng" and staff["079090000001"].person_id is None
        assert staff["079301000123"].phone == "+84912223333"
    assert as_user("admin").get(base).status_code == 403  # staff lists belong to organization admins


def test_residents_import(app, as_user):
    officer = as_user("ward.bennghe")
    base = "/admin/imports/residents/"
    data = xlsx([["Họ và tên", "Số CCCD/CMND/Hộ chiếu", "Ngày sinh", "Giới tính", "SĐT",
                  "Mũi 1 - Loại vắc xin", "Mũi 1 - Ngày tiêm", "Mũi 2 - Loại vắc xin", "Mũi 2 - Ngày tiêm"],
                 ["Phan Văn Khải", "079088001234", date(1988, 3, 4), "Nam", 912345678, "AZ", 44410, "Pfizer",
                  "30/09/2021"],                                     # a date serial and a text date
                 ["Lý Thị Lan", "079189005678", "12/12/1989", "Nữ", None, "Vero Cell", "01/09/2021", None, None],
                 ["Hồ Văn Nam", "079087009999", None, None, None, "Moderna", None, None, None]])
    url = record_url(upload(officer, base, data))
    page = officer.get(url).get_data(as_text=True)
    assert "G4" in page  # dose 1 without its date
    assert officer.post_form(url + "confirm", {"mode": "skip"}, token_from=url).status_code == 302
    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.id_number == "079088001234"))
        assert person.ward_code == 26740 and person.gender == "1" and person.birth_date == date(1988, 3, 4)
        doses = db.session.execute(select(Vaccination.dose_number, Vaccination.vaccine, Vaccination.vaccinated_on)
                                   .where(Vaccination.person_id == person.id)
                                   .order_by(Vaccination.dose_number)).all()
        assert doses == [(1, "astrazeneca", date(2021, 8, 2)), (2, "pfizer", date(2021, 9, 30))]
        assert db.session.scalar(select(Person.id).where(Person.id_number == "079087009999")) is None
        other = db.session.scalar(select(Person.id_number).where(Person.ward_code != 26740,
                                                                 Person.ward_code.is_not(None)))
    # A resident of another ward cannot be changed from here.
    url = record_url(upload(officer, base, xlsx([["Họ và tên", "Số CCCD"], ["Tên Khác", other]])))
    assert re.search(r"another ward|phường/xã khác", officer.get(url).get_data(as_text=True))
    with app.app_context():
        record_id = int(url.rstrip("/").rsplit("/", 1)[1])
        assert db.session.get(ImportRecord, record_id).ward_code == 26740


def test_refused_files_answer_422_in_vietnamese(as_user):
    import zipfile
    admin = as_user("admin")
    response = upload(admin, BASE, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "anh.xlsx")
    assert response.status_code == 422
    assert "không phải là bảng tính Excel" in response.get_data(as_text=True)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (300 * 2**20))
    response = upload(admin, BASE, bomb.getvalue(), "bom.xlsx")
    assert response.status_code == 422 and "bom zip" in response.get_data(as_text=True)
    response = upload(admin, BASE, xlsx([["Họ tên", "Ghi chú"], ["A", "B"]]), "sai.xlsx")
    assert response.status_code == 422 and "Không tìm thấy dòng tiêu đề" in response.get_data(as_text=True)
