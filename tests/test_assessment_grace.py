"""A new organization is not "overdue" for its first self-assessment until the grace period
(BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS, default 14) from its approval is over — and the compliance list, the
report figures, the report rows and the organization's home agree (criteria.overdue decides for all). Imported
organizations never silently get the sector "Khác": a missing or unknown sector is the row's error."""
from __future__ import annotations

import io
import secrets
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from backoffice.criteria import compliance, overdue
from backoffice.extensions import db
from backoffice.models import Organization
from backoffice.reports import queries
from backoffice.reports.local import OrgFigures
from backoffice.reports.scope import ReportScope
from backoffice.timeutil import local_today, now_utc
from conftest import get_user
from factories import build_organization, new_tax_code, tax_codes
from imports_support import ORG_HEADER, org_row, xlsx

Q1, BEN_NGHE = 760, 26740


def _org(approved_days_ago: int | None, created_days_ago: int = 60) -> Organization:
    now = now_utc()
    org = build_organization(f"Hộ kinh doanh Ân Hạn {secrets.token_hex(3)}", tax_code=new_tax_code("04"),
                             address=None, created_at=now - timedelta(days=created_days_ago), updated_at=now,
                             decided_at=None if approved_days_ago is None else now - timedelta(days=approved_days_ago))
    db.session.add(org)
    db.session.commit()
    return org


def _flags(user, ids: set[int]) -> dict[int, bool]:
    rows = compliance.iterate(user, compliance.Filters(district=Q1), now_utc(), 30)
    return {r.org_id: r.overdue for r in rows if r.org_id in ids}


def _report_rows(user, ids: set[int]) -> dict[int, bool]:
    rs = ReportScope(user=user, districts=(Q1,), sector=None, as_of=local_today())
    return {r.id: r.overdue for r in queries.organization_rows(rs) if r.id in ids}


def _report_overdue(user) -> int:
    rs = ReportScope(user=user, districts=(Q1,), sector=None, as_of=local_today())
    return sum(area.overdue for area in queries.scope_figures(rs, with_staff=False).areas)


def test_a_new_organization_is_not_overdue_within_the_grace_period(ctx):
    admin = get_user("admin")
    before = _report_overdue(admin)
    fresh, late, imported_new, imported_old = _org(3), _org(20), _org(None, 2), _org(None, 40)
    ids = {fresh.id, late.id, imported_new.id, imported_old.id}
    expected = {fresh.id: False, late.id: True, imported_new.id: False, imported_old.id: True}
    assert _flags(admin, ids) == expected
    assert _report_rows(admin, ids) == expected
    after = _report_overdue(admin)
    assert after - before == 2
    # The overdue filter of the compliance list follows the same rule.
    listed, _total = compliance.page(admin, compliance.Filters(district=Q1, overdue=True), now_utc(), 30,
                                     per_page=1000, with_green_share=False)
    assert {r.org_id for r in listed} & ids == {late.id, imported_old.id}
    # The organization's own home page figures too.
    assert OrgFigures(db.session.get(Organization, fresh.id)).overdue is False
    assert OrgFigures(db.session.get(Organization, late.id)).overdue is True


def test_the_grace_period_is_configured(ctx):
    config = current_app.config
    saved = config.get("BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS")
    org = _org(3)
    try:
        config["BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS"] = 2
        assert _flags(get_user("admin"), {org.id}) == {org.id: True}
        assert overdue.is_overdue(org, None, now_utc()) is True
        config["BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS"] = 14
        assert overdue.is_overdue(org, None, now_utc()) is False
    finally:
        if saved is None:
            config.pop("BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS", None)
        else:
            config["BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS"] = saved
    # An assessment past its validity is overdue whatever the grace period.
    assert overdue.is_overdue(org, now_utc() - timedelta(days=31), now_utc()) is True
    assert overdue.is_overdue(org, now_utc() - timedelta(days=29), now_utc()) is False


# --- imported organizations' sector ------------------------------------------------------------------------

def _preview(browser, rows) -> tuple[str, str]:
    base = "/admin/imports/organizations/"
    response = browser.post_form(base + "upload", {"file": (io.BytesIO(xlsx(rows)), "dn.xlsx")}, token_from=base,
                                 content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    url = response.headers["Location"]
    return url, browser.get(url).get_data(as_text=True)


@pytest.mark.parametrize("sector", [None, "Karaoke"])
def test_an_imported_organization_without_a_known_sector_is_refused(as_user, ctx, sector):
    admin = as_user("admin")
    code = tax_codes(1)[0]
    row = org_row(code)
    position = ORG_HEADER.index("Ngành")
    row[position] = sector
    url, page = _preview(admin, [ORG_HEADER, row])
    letter = "ABCDEFGHIJ"[position]
    assert f"{letter}2" in page
    assert "Dịch vụ ăn uống" in page and "Chợ truyền thống" in page  # the accepted values are named
    assert "Thiếu ngành" in page if sector is None else ("Karaoke" in page and "không phải là ngành trong danh sách" in page)
    admin.post_form(url + "confirm", {"mode": "skip"}, token_from=url)
    db.session.expire_all()
    assert db.session.scalar(select(Organization.id).where(Organization.tax_code == code)) is None


def test_an_imported_organization_without_a_sector_column_is_refused(as_user, ctx):
    admin = as_user("admin")
    code = tax_codes(1)[0]
    position = ORG_HEADER.index("Ngành")
    header = ORG_HEADER[:position] + ORG_HEADER[position + 1:]
    row = org_row(code)
    del row[position]
    url, page = _preview(admin, [header, row])
    assert "Thiếu ngành" in page
    admin.post_form(url + "confirm", {"mode": "skip"}, token_from=url)
    db.session.expire_all()
    assert db.session.scalar(select(Organization.id).where(Organization.tax_code == code)) is None


def test_an_imported_organization_with_its_sector_is_stored_with_it(as_user, ctx):
    admin = as_user("admin")
    code = tax_codes(1)[0]
    row = org_row(code)
    row[ORG_HEADER.index("Ngành")] = "Chợ truyền thống"
    url, _page = _preview(admin, [ORG_HEADER, row])
    admin.post_form(url + "confirm", {"mode": "skip"}, token_from=url)
    db.session.expire_all()
    assert db.session.scalar(select(Organization.sector).where(Organization.tax_code == code)) == "market"
