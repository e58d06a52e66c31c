"""Chart images (PNG opened by Pillow, SVG parsed as XML), their scope and cache; dashboards per role; the CLI."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from defusedxml import ElementTree
from PIL import Image

from backoffice.extensions import db
from backoffice.models import CheckIn
from backoffice.models.base import utcnow
from reports_support import Q1, Q3, open_workbook


def _png(response) -> Image.Image:
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    image.verify()
    return Image.open(io.BytesIO(response.data))


@pytest.mark.parametrize("name", ["levels", "coverage", "green", "checkins"])
def test_area_charts_are_valid_png_and_svg(app, report_data, as_user, name):
    browser = as_user("inspector.q1")
    image = _png(browser.get(f"/reports/charts/{name}.png?district={Q1}"))
    assert image.format == "PNG" and image.size[0] > 300
    svg = browser.get(f"/reports/charts/{name}.svg?district={Q1}")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert ElementTree.fromstring(svg.data).tag.endswith("svg")


def test_city_admin_charts_cover_the_city(report_data, as_user):
    _png(as_user("admin").get("/reports/charts/levels.png"))
    _png(as_user("admin").get("/reports/charts/checkins.png?sector=food_service"))


def test_inspector_cannot_get_another_districts_charts(as_user):
    browser = as_user("inspector.q1")
    for name in ("levels", "checkins"):
        assert browser.get(f"/reports/charts/{name}.png?district={Q3}").status_code == 404
        assert browser.get(f"/reports/charts/{name}.svg?district={Q3}").status_code == 404
    assert browser.get("/reports/charts/levels.gif").status_code == 404
    assert browser.get("/reports/charts/nothing.png").status_code == 404
    assert as_user("org1.admin").get("/reports/charts/levels.png").status_code == 403
    assert as_user("inspector.q1").get("/reports/charts/ward-status.png").status_code == 403
    assert as_user("admin").get("/reports/charts/levels.png?sector=nonsense").status_code == 404


def test_own_charts_of_ward_officer_and_organization(as_user):
    _png(as_user("ward.bennghe").get("/reports/charts/ward-status.png"))
    svg = as_user("org1.admin").get("/reports/charts/org-checkins.svg")
    assert ElementTree.fromstring(svg.data).tag.endswith("svg")


def test_charts_are_cached_and_refreshed_when_the_data_change(app, report_data, as_user):
    from backoffice.reports import charts
    browser = as_user("inspector.q1")
    url = f"/reports/charts/checkins.svg?district={Q1}"
    first = browser.get(url).data
    assert browser.get(url).data == first  # served from the cache (same bytes, same key)
    with app.app_context():
        version = charts.data_version()
        org_id, now = report_data["orgs"][2], utcnow()
        location = db.session.execute(db.select(CheckIn.location_id).where(CheckIn.organization_id == org_id)
                                      ).scalars().first()
        person = db.session.execute(db.select(CheckIn.person_id).where(CheckIn.organization_id == org_id)
                                    ).scalars().first()
        db.session.add(CheckIn(person_id=person, organization_id=org_id, location_id=location,
                               checked_in_at=now - timedelta(minutes=5), last_seen_at=now,
                               checked_out_at=now, status_colour="green", method="scanner"))
        db.session.commit()
        assert charts.data_version() != version
    assert browser.get(url).data != first


def test_each_role_sees_its_dashboard(report_data, as_user):
    expected = {"admin": "panel-reports", "inspector.q1": "panel-reports", "ward.bennghe": "panel-ward",
                "org1.admin": "panel-org", "org1.staff": "reception-link"}  # staff: the QR package's reception panel
    for username, panel in expected.items():
        page = as_user(username).get("/admin/")
        assert page.status_code == 200, username
        html = page.get_data(as_text=True)
        assert f'id="{panel}"' in html, username
        others = set(expected.values()) - {panel, "reception-link"}  # org admins may scan too
        assert not any(f'id="{o}"' in html for o in others), username
    html = as_user("admin").get("/admin/").get_data(as_text=True)
    assert "/reports/charts/levels.png" in html and "Thành phố Hồ Chí Minh hôm nay" in html
    org = as_user("org1.admin").get("/admin/").get_data(as_text=True)
    assert "Nhà hàng Bến Nghé Xanh" in org and "/reports/charts/org-checkins.png" in org
    ward = as_user("ward.bennghe").get("/admin/").get_data(as_text=True)
    assert "/reports/charts/ward-status.png" in ward and "Thẻ QR đã in" in ward
    staff = as_user("org1.staff").get("/admin/").get_data(as_text=True)
    assert 'id="reception-link" href="/reception/"' in staff


def test_reports_page_has_pickers_and_links(report_data, as_user):
    html = as_user("inspector.q1").get(f"/admin/reports/?district={Q1}").get_data(as_text=True)
    assert 'name="district"' in html and 'name="sector"' in html and 'type="date"' in html
    assert f"/admin/reports/district/{Q1}.xlsx" in html and "/admin/reports/city.xlsx" in html
    assert "Quận 3" not in html  # the district picker lists the inspector's districts only


def test_cli_writes_the_workbooks(app, report_data, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "q1.xlsx"
    result = runner.invoke(args=["report", "district", str(Q1), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and open_workbook(out.read_bytes()).sheetnames[:2] == ["Tổng hợp", "Tổ chức, doanh nghiệp"]
    city = tmp_path / "hcm.xlsx"
    result = runner.invoke(args=["report", "city", "--out", str(city), "--user", "inspector.q3"])
    assert result.exit_code == 0, result.output
    assert open_workbook(city.read_bytes()).sheetnames == ["Tổng hợp", "770 Quận 3"]
    result = runner.invoke(args=["report", "district", str(Q1), "--out", str(out), "--user", "inspector.q3"])
    assert result.exit_code != 0 and "not found" in result.output


def test_charts_follow_the_readers_language(app, report_data, fresh_login):
    """Chart images are drawn in the reader's language, and their addresses name it, so a
    browser never shows the image it kept from before a language switch."""
    import re

    from backoffice.reports import charts, queries
    from backoffice.reports.scope import resolve
    from conftest import get_user
    browser = fresh_login("inspector.q1")
    images = {}
    for lang, title in (("vi", "Tổ chức theo mức độ an toàn"), ("en", "Organizations by level")):
        # The session's language only: the language switch would also change the shared demo user's profile.
        with browser.client.session_transaction() as session:
            session["lang"] = lang
        page = browser.get(f"/admin/reports/?district={Q1}").get_data(as_text=True)
        srcs = re.findall(r'src="(/reports/charts/[^"]+)"', page)
        assert len(srcs) == 4 and all(f"lang={lang}" in s for s in srcs), srcs
        assert re.search(rf'<input[^>]*type="date"[^>]*lang="{lang}"', page)
        images[lang] = browser.get(srcs[0].replace("&amp;", "&")).data
        with app.test_request_context():
            from flask import session
            session["lang"] = lang
            rs = resolve(get_user("inspector.q1"), Q1)
            fig = charts.levels_chart(queries.area_figures(rs, by_ward=True))
            assert fig.axes[0].get_title() == title
            assert fig.axes[0].get_xlabel() == ("Số tổ chức" if lang == "vi" else "Number of organizations")
    assert images["vi"] != images["en"]
