"""Sector labels as offices write them, and every error of a row at once."""
from __future__ import annotations

import pytest
from flask_babel import force_locale

from backoffice.imports import service, staging
from backoffice.imports.kinds.organizations import sector_of
from conftest import get_user
from factories import tax_codes
from imports_support import ORG_HEADER, org_row, write, xlsx


@pytest.fixture(autouse=True)
def english(ctx):
    with force_locale("en"):
        yield


@pytest.mark.parametrize("label, sector", [
    ("Quán ăn – giải khát", "food_service"), ("giải khát, QUÁN ĂN", "food_service"),
    ("Dịch vụ lưu trú, khách sạn", "other"), ("TM-DV", "enterprise"), ("Cty TNHH TM-DV", "enterprise"),
    ("Kinh doanh ăn uống", "food_service"), ("sieu thi mini", "supermarket"), ("Cửa hàng tiện lợi", "supermarket"),
    ("Chợ truyền thống", "market"), ("Văn phòng công ty", "office"), ("Trường THCS", "school"),
    ("Dịch vụ ăn uống", "food_service"), ("Enterprise, production site", "enterprise"), ("Khác", "other"),
])
def test_office_labels_match_their_sector(label, sector):
    assert sector_of(label) == sector


def test_two_sectors_are_refused_naming_both():
    with pytest.raises(ValueError) as info:
        sector_of("Siêu thị/Chợ")
    message = str(info.value)
    assert "Siêu thị/Chợ" in message and "Chợ truyền thống" in message and "Siêu thị, trung tâm" in message


def test_unknown_label_names_the_closest_and_never_becomes_other():
    with pytest.raises(ValueError) as info:
        sector_of("Nhà hnag")
    assert "Nhà hnag" in str(info.value) and "closest" in str(info.value) and "Dịch vụ ăn uống" in str(info.value)
    with pytest.raises(ValueError, match="Karaoke"):
        sector_of("Karaoke")


def _preview(user, path):
    record = service.receive_path(user, "organizations", path)
    return service.run_preview(record, user)


def test_office_sheet_with_combined_labels_imports(ctx, tmp_path):
    codes = tax_codes(3)
    rows = [ORG_HEADER, org_row(codes[0], sector="Quán ăn – giải khát"), org_row(codes[1], sector="TM-DV"),
            org_row(codes[2], sector="Siêu thị/Chợ")]
    record = _preview(get_user("admin"), write(tmp_path, "nganh.xlsx", xlsx(rows)))
    assert record.counts == {"new": 2, "update": 0, "unchanged": 0, "error": 1}
    errors = [line["e"] for line in staging.read_lines(record.options["token"]) if line["s"] == "error"]
    assert errors[0][0][0] == "F" and "Siêu thị/Chợ" in errors[0][0][2]


def test_every_error_of_a_row_at_once(ctx, tmp_path):
    """A row wrong in its tax code, district-ward pair and sector says all of them, each at its cell,
    quoting the cell as typed (before, the ward and district were checked only once the rest was right)."""
    bad = tax_codes(1)[0][:-1] + "X"
    rows = [ORG_HEADER, org_row(bad, district="Q.3", ward="Bến Nghé", sector="Karaoke"),
            org_row(tax_codes(1)[0], district="Quận 99", ward="Phường Không Có", phone="12345")]
    record = _preview(get_user("admin"), write(tmp_path, "loi.xlsx", xlsx(rows)))
    lines = [line for line in staging.read_lines(record.options["token"])]
    first = {letter: message for letter, _header, message in lines[0]["e"]}
    assert set(first) == {"B", "E", "F"}
    assert "Bến Nghé" in first["E"] and "Quận 3" in first["E"] and "Karaoke" in first["F"]
    second = {letter: message for letter, _header, message in lines[1]["e"]}
    assert set(second) == {"D", "E", "H"} and "Quận 99" in second["D"] and "Phường Không Có" in second["E"]


def test_inspector_rows_outside_the_districts_counted_apart(ctx, tmp_path):
    inspector = get_user("inspector.q1")
    codes = tax_codes(3)
    rows = [ORG_HEADER, org_row(codes[0]),
            org_row(codes[1], district="Q.3", ward="Phường 02", phone="12345"),  # outside, and a bad phone
            org_row(codes[2], district="Q.3", ward="Phường Không Có", sector="Karaoke")]
    record = _preview(inspector, write(tmp_path, "q3.xlsx", xlsx(rows)))
    assert record.counts == {"new": 1, "update": 0, "unchanged": 0, "error": 2, "outside": 2}
    lines = [line for line in staging.read_lines(record.options["token"]) if line["s"] == "error"]
    for line in lines:
        cells = {letter: message for letter, _header, message in line["e"]}
        assert "outside your districts" in cells["D"] and "\"Q.3\"" in cells["D"]
    assert {"D", "H"} <= {e[0] for e in lines[0]["e"]} and {"D", "E", "F"} <= {e[0] for e in lines[1]["e"]}


def test_summary_says_outside_in_vietnamese(app, as_user, tmp_path):
    import io
    with app.app_context():
        codes = tax_codes(2)
    data = xlsx([ORG_HEADER, org_row(codes[0]), org_row(codes[1], district="Quận 3", ward="Phường 02")])
    browser = as_user("inspector.q1")
    base = "/admin/imports/organizations/"
    response = browser.post_form(base + "upload", {"file": (io.BytesIO(data), "q.xlsx")}, token_from=base,
                                 content_type="multipart/form-data")
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "ngoài địa bàn: 1" in page
