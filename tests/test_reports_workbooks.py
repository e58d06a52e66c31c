"""District and city workbooks: opened with openpyxl, their totals compared with the database's own counts."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import AuditLog, District, Ward
from conftest import get_user
from factories import new_tax_code
from reports_support import Q1, Q3, block, db_counts, figure, open_workbook, ward_counts

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_inspector_downloads_the_district_workbook_with_the_database_totals(app, report_data, as_user):
    response = as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    wb = open_workbook(response.data)
    assert wb.sheetnames[:2] == ["Tổng hợp", "Tổ chức, doanh nghiệp"]  # then a sheet per ward (its own test)
    summary, orgs = wb["Tổng hợp"], wb["Tổ chức, doanh nghiệp"]
    with app.app_context():
        expected = db_counts(Q1)
    assert figure(summary, "Tổ chức đang hoạt động") == expected["organizations"]
    assert figure(summary, "Đã tự đánh giá") == expected["assessed"]
    assert figure(summary, "Lượt check-in trong 7 ngày qua") == expected["checkins_7d"]
    assert figure(summary, "Lượt check-in trong 30 ngày qua") == expected["checkins_30d"]
    days = block(summary, "Lượt check-in theo ngày")
    assert len(days) == 30 and sum(r[1] for r in days) == expected["checkins_30d"]
    assert all(r[1] == r[2] + r[3] for r in days)  # total = green + black
    rows = list(orgs.iter_rows(min_row=2, values_only=True))
    assert len(rows) == expected["organizations"]
    assert sum(r[12] for r in rows) == expected["checkins_7d"]
    # Native charts: pie (levels), bars (sectors, wards, inspections), line (check-ins per day).
    kinds = sorted(type(c).__name__ for c in summary._charts)
    assert kinds.count("LineChart") == 1 and "PieChart" in kinds and "BarChart" in kinds
    assert orgs.freeze_panes == "A2" and orgs.auto_filter.ref == f"A1:M{len(rows) + 1}"
    assert orgs["A1"].value == "Tổ chức, doanh nghiệp" and orgs["B1"].value == "Mã số thuế"


def test_district_workbook_breaks_the_district_down_by_ward(app, report_data, as_user):
    """As the reports page does, a sheet per ward with organizations, holding the summary's
    figures for that ward (counted again here from the tables) and its native charts."""
    wb = open_workbook(as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx").data)
    summary = wb["Tổng hợp"]
    by_ward = {r[0]: r for r in block(summary, "Tổ chức theo phường/xã")}
    assert set(wb.sheetnames[2:]) == set(by_ward)  # every ward of the page's table, no other
    with app.app_context():
        expected = {name: ward_counts(code) for code, name in db.session.execute(
            select(Ward.code, Ward.name).where(Ward.district_code == Q1)) if name in by_ward}
    for name, row in by_ward.items():
        ws = wb[name]
        assert ws["A1"].value == f"Báo cáo hoạt động an toàn — {name}, Quận 1"
        assert figure(ws, "Tổ chức đang hoạt động") == row[1] == expected[name]["organizations"]
        assert figure(ws, "Đã tự đánh giá") == row[2] == expected[name]["assessed"]
        assert figure(ws, "Lượt check-in trong 7 ngày qua") == row[7] == expected[name]["checkins_7d"]
        assert figure(ws, "Lượt check-in trong 30 ngày qua") == expected[name]["checkins_30d"]
        days = block(ws, "Lượt check-in theo ngày")
        assert len(days) == 30 and sum(r[1] for r in days) == expected[name]["checkins_30d"]
        assert sum(r[1] for r in block(ws, "Tổ chức theo ngành, lĩnh vực")) == row[1]
        kinds = sorted(type(c).__name__ for c in ws._charts)
        assert "PieChart" in kinds and "BarChart" in kinds and kinds.count("LineChart") == 1
    assert sum(figure(wb[n], "Tổ chức đang hoạt động") for n in by_ward) == figure(summary, "Tổ chức đang hoạt động")


def test_formula_looking_names_stay_text(app, report_data, as_user):
    wb = open_workbook(as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx").data)
    cells = [row[0] for row in wb["Tổ chức, doanh nghiệp"].iter_rows(min_row=2)]
    formula, plus, _plain = report_data["names"]
    evil = [c for c in cells if c.value == formula]
    assert len(evil) == 1 and evil[0].data_type == "s"
    plus_cells = [c for c in cells if c.value == plus]
    assert len(plus_cells) == 1 and plus_cells[0].data_type == "s"


def test_latest_assessment_wins_and_labels_come_from_the_frozen_set(app, report_data, as_user, monkeypatch):
    # The organizations were created today: no first-assessment grace, so one never self-assessed is overdue.
    monkeypatch.setitem(app.config, "BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS", 0)
    wb = open_workbook(as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx").data)
    rows = {r[0]: r for r in wb["Tổ chức, doanh nghiệp"].iter_rows(min_row=2, values_only=True)}
    tag, (formula, plus, _plain) = report_data["tag"], report_data["names"]
    evil = rows[formula]
    assert evil[4] == f"An toàn (thử {tag})" and evil[5] == 85.0 and evil[7] == "Không"
    inspected = rows[plus]
    assert inspected[4] == "Chưa đánh giá" and inspected[7] == "Có" and inspected[8] == f"Không an toàn (thử {tag})"
    levels = {r[0]: r[1] for r in block(wb["Tổng hợp"], "Tổ chức theo mức độ tự đánh giá gần nhất")}
    assert levels[f"An toàn (thử {tag})"] == 1 and f"Không an toàn (thử {tag})" not in levels


def test_city_workbook_has_a_summary_and_a_sheet_per_district(app, report_data, as_user, ctx):
    response = as_user("admin").get("/admin/reports/city.xlsx")
    assert response.status_code == 200
    wb = open_workbook(response.data)
    districts = db.session.execute(select(District.code, District.name).order_by(District.code)).all()
    assert wb.sheetnames == ["Tổng hợp"] + [f"{c} {n}" for c, n in districts]
    summary = wb["Tổng hợp"]
    table = block(summary, "Quận/huyện")
    assert len(table) == 23 and table[-1][0] == "Tổng cộng"  # 22 districts and the total
    by_name = {r[0]: r for r in table}
    q1 = db_counts(Q1)
    assert by_name["Quận 1"][1] == q1["organizations"] and by_name["Quận 1"][9] == q1["checkins_7d"]
    assert table[-1][1] == sum(r[1] for r in table[:-1]) == figure(summary, "Tổ chức đang hoạt động")
    for code, name in districts:
        assert wb[f"{code} {name}"].max_row - 1 == db_counts(code)["organizations"]
    assert len(summary._charts) >= 4


def test_inspector_cannot_get_another_districts_workbook(app, report_data, as_user):
    browser = as_user("inspector.q1")
    assert browser.get(f"/admin/reports/district/{Q3}.xlsx").status_code == 404
    assert browser.get("/admin/reports/district/99999.xlsx").status_code == 404
    assert browser.get(f"/admin/reports/?district={Q3}").status_code == 404
    # The "city" workbook of an inspector holds its own districts only.
    wb = open_workbook(browser.get("/admin/reports/city.xlsx").data)
    assert wb.sheetnames == ["Tổng hợp", "760 Quận 1"]


def test_roles_without_reports_are_refused(app, as_user):
    for username in ("ward.bennghe", "org1.admin", "org1.staff"):
        browser = as_user(username)
        assert browser.get("/admin/reports/").status_code == 403, username
        assert browser.get(f"/admin/reports/district/{Q1}.xlsx").status_code == 403, username


def test_department_sees_only_its_sector(app, report_data, ctx):
    from backoffice.auth import service as accounts
    from backoffice.reports import service
    name = "dept.food.rpt"
    user = get_user(name) or accounts.create_user(name, "department-password-2021", "inspector",
                                                  district_codes=[Q1, Q3], sector="food_service")
    db.session.commit()
    report = service.build_city_report(user)
    wb = open_workbook(report.data)
    assert wb.sheetnames == ["Tổng hợp", "760 Quận 1", "770 Quận 3"]
    sectors = {r[2] for r in wb["760 Quận 1"].iter_rows(min_row=2, values_only=True)}
    assert sectors == {"Dịch vụ ăn uống"}
    with pytest.raises(service.ReportNotFound):
        service.build_district_report(user, Q1, sector="enterprise")


def test_reports_are_audited(app, report_data, as_user, ctx):
    before = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "report.district"))
    assert as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx").status_code == 200
    db.session.expire_all()
    after = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "report.district"))
    assert after == before + 1


def test_bad_date_is_a_clear_400(as_user):
    response = as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx?date=31-12-2021")
    assert response.status_code == 400
    assert "NNNN-TT-NN" in response.get_data(as_text=True)


def test_control_characters_in_names_do_not_break_the_workbooks(app, report_data, as_user):
    """A worksheet cannot hold control characters (openpyxl raises IllegalCharacterError): a name carrying one
    (pasted from another program) is written with U+FFFD instead of failing the whole report."""
    import secrets
    from backoffice.demo.seed import BEN_NGHE
    from backoffice.models import Organization
    tag = secrets.token_hex(3)
    with app.app_context():
        org = Organization(name=f"Công ty\x01 Ký tự\x1b lạ {tag}",
                           tax_code=new_tax_code(), sector="enterprise",
                           address="1 Lê Lợi", ward_code=BEN_NGHE, district_code=Q1, status="active",
                           contact_name="Thử\x07")
        db.session.add(org)
        db.session.commit()
        org_id = org.id
    try:
        district = as_user("inspector.q1").get(f"/admin/reports/district/{Q1}.xlsx")
        city = as_user("admin").get("/admin/reports/city.xlsx")
        assert district.status_code == 200 and city.status_code == 200
        for data, sheet in ((district.data, "Tổ chức, doanh nghiệp"), (city.data, None)):
            wb = open_workbook(data)
            ws = wb[sheet] if sheet else next(wb[n] for n in wb.sheetnames if n.startswith(str(Q1)))
            names = [row[0] for row in ws.iter_rows(min_row=2, values_only=True)]
            assert f"Công ty\ufffd Ký tự\ufffd lạ {tag}" in names
    finally:
        with app.app_context():
            db.session.delete(db.session.get(Organization, org_id))
            db.session.commit()
