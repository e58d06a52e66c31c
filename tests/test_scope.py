"""Scope in depth: IDOR by id, forged POSTs that point a record elsewhere, locked fields, scoped dropdowns,
ajax lookups and filters, bulk actions, and scoped, formula-safe exports."""
from __future__ import annotations

import io
import json
import re
import secrets

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from backoffice.exports import csv_safe
from backoffice.extensions import db
from backoffice.models import (
    Checkpoint, District, Location, Organization, Person, Staff, User, Vaccination, Ward,
)
from conftest import get_user
from factories import build_organization, new_tax_code
from pages_support import Isolated, as_multidict, explain, model_form, read_csv, select_options

Q1, Q3, BEN_NGHE = 760, 770, 26740


@pytest.fixture()
def as_user(app, as_user):
    """conftest's as_user, each request in an app context of its own (see pages_support.Isolated)."""
    return lambda username: Isolated(app, as_user(username))


@pytest.fixture()
def orgs(ctx):
    """The two demo organizations and one row of each kind they own."""
    org1 = db.session.get(Organization, get_user("org1.admin").organization_id)
    org2 = db.session.get(Organization, get_user("org2.admin").organization_id)

    def first(model, org):
        return db.session.scalar(select(model).where(model.organization_id == org.id).order_by(model.id))

    return {"org1": org1, "org2": org2,
            "loc1": first(Location, org1), "loc2": first(Location, org2),
            "cp1": first(Checkpoint, org1), "cp2": first(Checkpoint, org2),
            "staff1": first(Staff, org1), "staff2": first(Staff, org2)}


def _q3_org() -> Organization:
    return db.session.scalar(select(Organization).where(Organization.district_code == Q3).order_by(Organization.id))


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _q3_ward() -> int:
    return db.session.scalar(select(Ward.code).where(Ward.district_code == Q3).order_by(Ward.code))


# --- IDOR: another organization's rows by id ----------------------------------------------------------
@pytest.mark.parametrize("kind,endpoint", [("loc", "location"), ("cp", "checkpoint"), ("staff", "staff")])
def test_org_admin_cannot_reach_another_organizations_rows(as_user, orgs, kind, endpoint):
    browser = as_user("org1.admin")
    foreign = orgs[f"{kind}2"]
    model = type(foreign)
    name = foreign.full_name if endpoint == "staff" else foreign.name
    for url in (f"/admin/{endpoint}/details/?id={foreign.id}", f"/admin/{endpoint}/edit/?id={foreign.id}"):
        assert browser.get(url).status_code == 404, url
    forged_edit = browser.post_form(f"/admin/{endpoint}/edit/?id={foreign.id}",
                                    {"name": "hijacked", "full_name": "hijacked"})
    assert forged_edit.status_code == 404
    assert browser.post_form(f"/admin/{endpoint}/delete/", {"id": foreign.id}).status_code == 404
    db.session.expire_all()
    row = db.session.get(model, foreign.id)
    assert row is not None
    assert (row.full_name if endpoint == "staff" else row.name) == name
    # Its own row, same URL shape, works: the 404 is about scope, not the route.
    own = orgs[f"{kind}1"]
    assert browser.get(f"/admin/{endpoint}/details/?id={own.id}").status_code == 200


def test_inspector_cannot_edit_an_organization_of_another_district(as_user, ctx):
    org = _q3_org()
    browser = as_user("inspector.q1")
    assert browser.get(f"/admin/organization/edit/?id={org.id}").status_code == 404
    response = browser.post_form(f"/admin/organization/edit/?id={org.id}", {"name": "hijacked"})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Organization, org.id).name != "hijacked"
    assert as_user("inspector.q3").get(f"/admin/organization/edit/?id={org.id}").status_code == 200


def test_non_numeric_and_missing_ids_answer_404(as_user):
    browser = as_user("admin")
    assert browser.get("/admin/organization/details/?id=abc").status_code == 404
    assert browser.get("/admin/organization/details/?id=99999999").status_code == 404


# --- forged POSTs pointing a record elsewhere ---------------------------------------------------------
def test_org_admin_cannot_create_a_location_for_another_organization(as_user, orgs):
    name = f"Kho giả mạo {secrets.token_hex(3)}"
    browser = as_user("org1.admin")
    response = browser.post_form("/admin/location/new/", {"organization": orgs["org2"].id, "name": name,
                                                          "address": "x", "active": "y"})
    assert response.status_code in (200, 403)
    assert _count(Location, Location.name == name) == 0
    # The same form naming its own organization is accepted (so the refusal above is about scope).
    response = browser.post_form("/admin/location/new/", {"organization": orgs["org1"].id, "name": name,
                                                          "address": "x", "active": "y"})
    assert response.status_code == 302
    assert _count(Location, Location.name == name, Location.organization_id == orgs["org1"].id) == 1


def test_org_admin_cannot_move_a_checkpoint_or_staff_to_another_organization(as_user, orgs):
    browser = as_user("org1.admin")
    cp = orgs["cp1"]
    response = browser.post_form(f"/admin/checkpoint/edit/?id={cp.id}",
                                 {"location": orgs["loc2"].id, "name": cp.name, "direction": cp.direction})
    assert response.status_code in (200, 403)
    db.session.expire_all()
    cp = db.session.get(Checkpoint, cp.id)
    assert cp.location_id == orgs["cp1"].location_id and cp.organization_id == orgs["org1"].id
    name = f"Nhân viên giả {secrets.token_hex(3)}"
    response = browser.post_form("/admin/staff/new/", {"organization": orgs["org2"].id, "full_name": name})
    assert response.status_code in (200, 403)
    assert _count(Staff, Staff.full_name == name) == 0


def _org_form(ward: int, district: int, name: str, tax_code: str) -> dict:
    return {"name": name, "tax_code": tax_code, "sector": "office", "address": "1 Lê Lợi", "district": district,
            "ward": ward, "contact_name": "Lan", "phone": "0903123456", "email": "a@example.vn",
            "workers_on_site": "5", "status": "active"}


@pytest.mark.parametrize("where", ["district", "ward", "both"])
def test_inspector_cannot_create_an_organization_in_another_district(as_user, ctx, where):
    name = f"Công ty giả {where} {secrets.token_hex(3)}"
    q1_ward = db.session.scalar(select(Ward.code).where(Ward.district_code == Q1))
    district = Q3 if where in ("district", "both") else Q1
    ward = _q3_ward() if where in ("ward", "both") else q1_ward
    response = as_user("inspector.q1").post_form("/admin/organization/new/",
                                                 _org_form(ward, district, name, new_tax_code()))
    assert response.status_code in (200, 403)
    assert _count(Organization, Organization.name == name) == 0


def test_inspector_cannot_move_its_organization_to_another_district(as_user, ctx):
    ward = db.session.scalar(select(Ward.code).where(Ward.district_code == Q1).order_by(Ward.code.desc()))
    org = build_organization(f"Công ty Quận 1 {secrets.token_hex(3)}", sector="office", address="2 Lê Lợi",
                             ward_code=ward)
    db.session.add(org)
    db.session.commit()
    before = (org.district_code, org.ward_code)
    browser = as_user("inspector.q1")
    page = browser.get(f"/admin/organization/edit/?id={org.id}")
    fields = model_form(page.get_data(as_text=True))["fields"]
    for forged in ({"district": Q3, "ward": _q3_ward()}, {"ward": _q3_ward()}, {"district": Q3}):
        response = browser.post(f"/admin/organization/edit/?id={org.id}", data=as_multidict(fields, **forged))
        assert response.status_code in (200, 403), forged
        db.session.expire_all()
        refreshed = db.session.get(Organization, org.id)
        assert (refreshed.district_code, refreshed.ward_code) == before, forged


def test_org_admin_cannot_change_locked_fields_of_its_organization(as_user, orgs):
    org = orgs["org1"]
    before = (org.tax_code, org.district_code, org.status, org.ward_code)
    browser = as_user("org1.admin")
    page = browser.get(f"/admin/organization/edit/?id={org.id}").get_data(as_text=True)
    fields = model_form(page)["fields"]
    names = {name for name, _ in fields}
    assert not names & {"tax_code", "district", "status"}, "locked fields are offered in the form"
    response = browser.post(f"/admin/organization/edit/?id={org.id}", data=as_multidict(
        fields, tax_code="0100233488", district=str(Q3), status="suspended"))
    assert response.status_code in (302, 403)
    # And a ward in another district is refused too (the organization may move within its district only).
    response = browser.post(f"/admin/organization/edit/?id={org.id}", data=as_multidict(fields, ward=_q3_ward()))
    assert response.status_code in (200, 403)
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    assert (org.tax_code, org.district_code, org.status, org.ward_code) == before


def test_org_admin_creating_a_user_gets_checkpoint_staff_of_its_own_organization(as_user, orgs):
    username = f"forged.{secrets.token_hex(3)}"
    response = as_user("org1.admin").post_form("/admin/user/new/", {
        "username": username, "full_name": "Lễ tân mới", "new_password": "Str0ng-pass-2021", "active": "y",
        "role": "city_admin", "organization": orgs["org2"].id, "districts": [Q1, Q3]})
    assert response.status_code == 302, explain(response)
    db.session.expire_all()
    user = get_user(username)
    assert user.role == "checkpoint_staff"
    assert user.organization_id == orgs["org1"].id
    assert user.districts == []


def test_ward_officer_cannot_record_a_vaccination_for_a_resident_of_another_ward(as_user, ctx):
    outsider = db.session.scalar(select(Person).where(Person.ward_code != BEN_NGHE).order_by(Person.id))
    before = _count(Vaccination, Vaccination.person_id == outsider.id)
    response = as_user("ward.bennghe").post_form("/admin/vaccination/new/", {
        "person": outsider.id, "vaccine": "pfizer", "dose_number": "7", "vaccinated_on": "2021-10-01"})
    assert response.status_code in (200, 403)
    assert _count(Vaccination, Vaccination.person_id == outsider.id) == before


# --- dropdowns, ajax lookups and filters list only in-scope rows --------------------------------------
def test_relation_dropdowns_of_org_admin_forms_list_only_its_rows(as_user, orgs):
    browser = as_user("org1.admin")
    org1 = orgs["org1"].id
    own_locations = {str(i) for i in db.session.scalars(select(Location.id).where(Location.organization_id == org1))}
    options = select_options(browser.get("/admin/location/new/").get_data(as_text=True), "organization")
    assert [v for v, _ in options] == [str(org1)]
    options = select_options(browser.get("/admin/checkpoint/new/").get_data(as_text=True), "location")
    assert {v for v, _ in options} == own_locations
    options = select_options(browser.get("/admin/staff/new/").get_data(as_text=True), "organization")
    assert [v for v, _ in options] == [str(org1)]
    # org1.staff's account: its checkpoints dropdown offers org1's checkpoints only.
    page = browser.get(f"/admin/user/edit/?id={get_user('org1.staff').id}").get_data(as_text=True)
    own_cps = {str(i) for i in db.session.scalars(select(Checkpoint.id).where(Checkpoint.organization_id == org1))}
    assert {v for v, _ in select_options(page, "checkpoints")} == own_cps


def test_organization_form_of_inspector_offers_only_its_district(as_user, ctx):
    page = as_user("inspector.q1").get("/admin/organization/new/").get_data(as_text=True)
    assert [v for v, _ in select_options(page, "district")] == [str(Q1)]
    q1_wards = {str(c) for c in db.session.scalars(select(Ward.code).where(Ward.district_code == Q1))}
    assert {v for v, _ in select_options(page, "ward")} == q1_wards
    # The city admin sees the whole city (so the narrowing above is scope, not a short list).
    page = as_user("admin").get("/admin/organization/new/").get_data(as_text=True)
    assert len(select_options(page, "district")) == db.session.scalar(select(func.count()).select_from(District))


def _lookup(browser, endpoint: str, query: str) -> list[int]:
    response = browser.get(f"/admin/{endpoint}/ajax/lookup/", query_string={"name": "person", "query": query,
                                                                           "limit": 100})
    assert response.status_code == 200
    return [int(row[0]) for row in json.loads(response.get_data(as_text=True))]


@pytest.mark.parametrize("endpoint", ["vaccination", "testresult", "recovery"])
def test_ajax_person_lookup_is_scoped(as_user, ctx, endpoint):
    everyone = _lookup(as_user("admin"), endpoint, "0")  # every CCCD here contains a 0
    bennghe = set(db.session.scalars(select(Person.id).where(Person.ward_code == BEN_NGHE)))
    assert set(everyone) - bennghe, "the data set needs residents outside Bến Nghé for this test"
    ward = _lookup(as_user("ward.bennghe"), endpoint, "0")
    assert ward and set(ward) <= bennghe
    q3_wards = select(Ward.code).where(Ward.district_code == Q3)
    q3 = set(db.session.scalars(select(Person.id).where(Person.ward_code.in_(q3_wards))))
    assert set(_lookup(as_user("inspector.q3"), endpoint, "0")) <= q3
    # Organization admins read no registry rows, not even their staff's or visitors': no lookup.
    response = as_user("org1.admin").get(f"/admin/{endpoint}/ajax/lookup/",
                                         query_string={"name": "person", "query": "0", "limit": 100})
    assert response.status_code == 403


def _visitors(org_id: int) -> set[int]:
    from backoffice.models import CheckIn
    return set(db.session.scalars(select(CheckIn.person_id).where(CheckIn.organization_id == org_id)))


def _filter_groups(html: str) -> dict:
    start = html.index('id="filter-groups-data"')
    start = html.index(">", start) + 1
    return json.loads(html[start:html.index("</div>", start)])


def _options(groups: dict, index: int) -> set[str]:
    for filters in groups.values():
        for item in filters:
            if item["index"] == index:
                return {value for value, _ in item["options"]}
    raise AssertionError(f"no filter {index}")


def test_filter_options_are_scoped(as_user, ctx):
    groups = _filter_groups(as_user("inspector.q1").get("/admin/organization/").get_data(as_text=True))
    assert _options(groups, 0) == {str(Q1)}
    q1_wards = {str(c) for c in db.session.scalars(select(Ward.code).where(Ward.district_code == Q1))}
    assert _options(groups, 1) == q1_wards
    groups = _filter_groups(as_user("ward.bennghe").get("/admin/organization/").get_data(as_text=True))
    assert _options(groups, 1) == {str(BEN_NGHE)}
    groups = _filter_groups(as_user("admin").get("/admin/organization/").get_data(as_text=True))
    assert len(_options(groups, 0)) == 22


def test_filtering_on_a_foreign_district_shows_nothing(as_user, ctx):
    html = as_user("inspector.q1").get(f"/admin/organization/?flt0_0={Q3}").get_data(as_text=True)
    q3_names = db.session.scalars(select(Organization.name).where(Organization.district_code == Q3)).all()
    assert q3_names and not any(name in html for name in q3_names)


# --- bulk actions -------------------------------------------------------------------------------------
def test_bulk_delete_touches_only_rows_in_scope(as_user, orgs):
    own = Location(organization_id=orgs["org1"].id, name=f"Khu tạm {secrets.token_hex(3)}")
    foreign = Location(organization_id=orgs["org2"].id, name=f"Khu tạm {secrets.token_hex(3)}")
    db.session.add_all([own, foreign])
    db.session.commit()
    own_id, foreign_id, loc2 = own.id, foreign.id, orgs["loc2"].id
    browser = as_user("org1.admin")
    response = browser.post_form("/admin/location/action/", {"action": "delete", "rowid": [foreign_id, loc2]})
    assert response.status_code in (302, 404)
    assert _count(Location, Location.id.in_([foreign_id, loc2])) == 2
    response = browser.post_form("/admin/location/action/", {"action": "delete", "rowid": [own_id, foreign_id]})
    assert response.status_code == 302
    assert _count(Location, Location.id == own_id) == 0
    assert _count(Location, Location.id == foreign_id) == 1
    # A role without delete is refused the action outright.
    response = as_user("inspector.q3").post_form("/admin/location/action/", {"action": "delete",
                                                                            "rowid": [foreign_id]})
    assert response.status_code == 403
    assert _count(Location, Location.id == foreign_id) == 1


def test_registration_actions_with_forged_ids_do_nothing(as_user, ctx):
    # inspector.q3 naming an organization of Quận 1 (not pending, not its district) in an approve action.
    org = db.session.get(Organization, get_user("org1.admin").organization_id)
    status = org.status
    response = as_user("inspector.q3").post_form("/admin/registration_admin/action/",
                                                 {"action": "reject", "rowid": [org.id]})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Organization, org.id).status == status


# --- exports ------------------------------------------------------------------------------------------
def test_exports_contain_only_rows_in_scope(as_user, ctx):
    rows = read_csv(as_user("inspector.q1").get("/admin/organization/export/csv/").data)
    header, body = rows[0], rows[1:]
    names = [row[header.index(header[0])] for row in body]
    expected = db.session.scalars(select(Organization.name).where(Organization.district_code == Q1)).all()
    assert sorted(names) == sorted(csv_safe(name) for name in expected)  # other tests add formula-looking names
    wb = load_workbook(io.BytesIO(as_user("org1.admin").get("/admin/location/export/xlsx/").data))
    values = list(wb.active.iter_rows(min_row=2, values_only=True))
    org1 = db.session.get(Organization, get_user("org1.admin").organization_id)
    assert len(values) == _count(Location, Location.organization_id == org1.id)
    assert {row[0] for row in values} == {str(org1)}


FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)"]


def test_exports_are_formula_safe(as_user, ctx):
    browser = as_user("admin")
    tag = secrets.token_hex(4)
    # The last district (a rural one other tests leave alone), so these names show in no one else's counts.
    district = db.session.scalar(select(District).order_by(District.code.desc()))
    ward = district.wards[0].code
    try:
        for index, formula in enumerate(FORMULAS):
            response = browser.post_form("/admin/organization/new/", _org_form(
                ward, district.code, formula, new_tax_code()) | {"address": f"{tag}-{index}"})
            assert response.status_code == 302, explain(response)
        assert _count(Organization, Organization.address.like(f"{tag}-%")) == len(FORMULAS)
        query = {"flt0_0": district.code}
        csv_rows = read_csv(browser.get("/admin/organization/export/csv/", query_string=query).data)
        exported = [row[0] for row in csv_rows[1:] if row and row[0].lstrip("'") in FORMULAS]
        assert sorted(exported) == sorted("'" + f for f in FORMULAS)
        wb = load_workbook(io.BytesIO(browser.get("/admin/organization/export/xlsx/", query_string=query).data))
        cells = [row[0] for row in wb.active.iter_rows(min_row=2) if row[0].value in FORMULAS]
        assert sorted(c.value for c in cells) == sorted(FORMULAS)
        assert all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]
    finally:
        # These names would otherwise show in other tests' exports and reports.
        db.session.rollback()
        db.session.execute(Organization.__table__.delete().where(Organization.address.like(f"{tag}-%")))
        db.session.commit()


def test_user_list_of_org_admin_shows_only_its_accounts(as_user, ctx):
    html = as_user("org1.admin").get("/admin/user/").get_data(as_text=True)
    assert "org2.admin" not in html and "inspector.q1" not in html
    # searched: other tests may have given org1 more accounts than a page holds
    for term, names in (("org1.staff", ["org1.staff"]), ("org2", []), ("inspector", [])):
        html = as_user("org1.admin").get(f"/admin/user/?search={term}").get_data(as_text=True)
        assert re.findall(r'<td class="col-username">\s*(\S+)\s*</td>', html) == names, term
    assert as_user("org1.admin").get(f"/admin/user/edit/?id={get_user('org2.admin').id}").status_code == 404
    before = db.session.scalar(select(User.active).where(User.username == "admin"))
    response = as_user("org1.admin").post_form(f"/admin/user/edit/?id={get_user('admin').id}", {"active": ""})
    assert response.status_code == 404
    assert db.session.scalar(select(User.active).where(User.username == "admin")) == before
