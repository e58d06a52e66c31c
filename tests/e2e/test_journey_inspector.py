"""A district inspector's main jobs in a real browser (inspector.q1): import organizations through the wizard
(upload → preview → confirm → result) and download the district workbook (a real .xlsx with native charts that
lists what was just imported)."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import func, select

from backoffice.demo.seed import Q1
from backoffice.extensions import db
from backoffice.models import Organization
from tests.e2e.support import download, login, menu
from factories import new_tax_code
from imports_support import ORG_HEADER, org_row, write, xlsx

pytestmark = pytest.mark.browser



def organizations_with(app, codes: list[str]) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Organization)
                                 .where(Organization.tax_code.in_(codes)))


def test_inspector_imports_organizations_and_downloads_the_district_workbook(app, live_server, new_page,
                                                                              tmp_path):
    codes = [new_tax_code("06"), new_tax_code("07")]
    names = [f"Cửa hàng Nhập Thử {code}" for code in codes]
    sheet = xlsx([ORG_HEADER, org_row(codes[0], names[0]), org_row(codes[1], names[1], ward="P. Bến Thành"),
                  org_row("0100047517", "Mã số thuế sai")],  # wrong check digit
                 before=[["DANH SÁCH CƠ SỞ KINH DOANH — QUẬN 1"]])
    path = write(tmp_path, "danh-sach-co-so.xlsx", sheet)
    page = new_page()
    login(page, live_server, "inspector.q1")

    # Upload → preview: two new rows, one error that says where and what; nothing written yet.
    menu(page, "Tổ chức, doanh nghiệp", "/admin/imports/organizations/")
    page.set_input_files("input[type=file][name=file]", str(path))
    with page.expect_navigation():
        page.locator("form[action$='/upload'] button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text("danh-sach-co-so.xlsx")
    table = page.locator("table.table")
    expect(table.locator("tr.table-success")).to_have_count(2)
    error_row = table.locator("tr.table-danger")
    expect(error_row).to_have_count(1)
    expect(error_row).to_contain_text("B5")  # the cell: column B (tax code), row 5 (after the title and header)
    assert organizations_with(app, codes) == 0

    # Confirm, importing the valid rows only → result.
    page.locator("input[type=radio][value=skip]").check()
    with page.expect_navigation():
        page.locator("button", has_text=re.compile("Xác nhận|Confirm")).click()
    expect(page.locator("h1 .badge")).to_have_text("Đã nhập")  # applied
    expect(page.locator(".badge-success").first).to_contain_text("2")
    assert organizations_with(app, codes) == 2

    # The district workbook, from the reports page.
    menu(page, "Báo cáo")
    page.locator("#district").select_option(str(Q1))
    with page.expect_navigation():
        page.locator("#report-form button[type=submit]").click()
    filename, data = download(page, "#download-district")
    assert filename.endswith(".xlsx")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        charts = [n for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
    assert len(charts) >= 3, "the summary has native Excel charts"
    workbook = load_workbook(io.BytesIO(data))
    assert sum(len(ws._charts) for ws in workbook.worksheets) == len(charts)  # openpyxl reads them back
    listed = {str(cell.value) for ws in workbook.worksheets for row in ws.iter_rows() for cell in row
              if cell.value is not None}
    assert set(codes) <= listed and set(names) <= listed  # the imported organizations are in it
