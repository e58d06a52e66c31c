"""Every read of a resident's record is audited: who, their unit, whose record, why.

Each kind of read — details and edit pages of residents and their vaccinations, tests and recoveries, list pages
and searches, ajax lookups, exports, the personal QR card pages, the check-in list — leaves exactly one entry,
linked to the residents it showed (`person_reads`, what the residents' portal will ask by person id); a read
that answers 404 leaves none, and a page showing no resident leaves none."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from backoffice import audit
from backoffice.demo.seed import BEN_NGHE, Q1
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Location, Person, Recovery, TestResult, Vaccination, Ward
from backoffice.models.audit import PersonRead
from backoffice.timeutil import now_utc
from conftest import csrf_token, get_user


def _marker(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(AuditLog.id))) or 0


def _reads_since(app, marker: int, action: str = "person.read") -> list[tuple[AuditLog, set[int]]]:
    with app.app_context():
        entries = db.session.scalars(select(AuditLog).where(AuditLog.id > marker, AuditLog.action == action)
                                     .order_by(AuditLog.id)).all()
        return [(e, set(db.session.scalars(select(PersonRead.person_id).where(PersonRead.audit_id == e.id))))
                for e in entries]


def _token(app, browser) -> str:
    with app.app_context():
        return csrf_token(browser.client, "/admin/qr-cards/")


def _one_read(app, marker: int, action: str = "person.read") -> tuple[AuditLog, set[int]]:
    reads = _reads_since(app, marker, action)
    assert len(reads) == 1, [(e.action, e.after) for e, _p in reads]
    return reads[0]


@pytest.fixture(scope="module")
def records(app):
    """A Bến Nghé resident with a vaccination, a test and a recovery; a resident of another district; a
    check-in of the first at org1."""
    with app.app_context():
        mine = db.session.scalar(select(Person).where(Person.ward_code == BEN_NGHE).order_by(Person.id).limit(1))
        other_wards = select(Ward.code).where(Ward.district_code != Q1)
        theirs = db.session.scalar(select(Person).where(Person.ward_code.in_(other_wards)).order_by(Person.id).limit(1))
        dose = db.session.scalar(select(func.max(Vaccination.dose_number)).where(Vaccination.person_id == mine.id)) or 0
        vaccination = Vaccination(person_id=mine.id, vaccine="astrazeneca", dose_number=dose + 1,
                                  vaccinated_on=date.today() - timedelta(days=40))
        test = TestResult(person_id=mine.id, kind="pcr", result="negative", tested_at=now_utc() - timedelta(days=3))
        recovery = Recovery(person_id=mine.id, recovered_on=date.today() - timedelta(days=100))
        org_id = get_user("org1.admin").organization_id
        location = db.session.scalar(select(Location).where(Location.organization_id == org_id).limit(1))
        at = now_utc() - timedelta(hours=3)
        checkin = CheckIn(person_id=mine.id, organization_id=org_id, location_id=location.id, checked_in_at=at,
                          last_seen_at=at, checked_out_at=at + timedelta(minutes=30), checkout_reason="exit",
                          status_colour="green", method="scanner")  # closed: other tests hold open stays
        db.session.add_all([vaccination, test, recovery, checkin])
        db.session.commit()
        made = {"mine": mine.id, "mine_name": mine.full_name, "theirs": theirs.id, "vaccination": vaccination.id,
                "testresult": test.id, "recovery": recovery.id, "org1": org_id}
        rows = [vaccination, test, recovery, checkin]
    yield made
    # The resident is a demo resident other tests read the colour of: their record goes back as it was.
    with app.app_context():
        for row in rows:
            db.session.delete(db.session.merge(row))
        db.session.commit()


def test_a_person_details_page_is_one_read_with_actor_unit_and_why(app, as_user, records):
    marker = _marker(app)
    response = as_user("ward.bennghe").get(f"/admin/person/details/?id={records['mine']}")
    assert response.status_code == 200
    entry, persons = _one_read(app, marker)
    with app.app_context():
        officer = get_user("ward.bennghe")
        assert entry.actor_id == officer.id and entry.actor_name == "ward.bennghe"
    assert persons == {records["mine"]} and entry.entity == "persons" and entry.entity_id == str(records["mine"])
    assert entry.after["why"] == "details" and entry.after["view"] == "person"
    assert entry.after["unit"] == {"role": "ward_officer", "organization_id": None, "ward_code": BEN_NGHE,
                                   "district_codes": [Q1]}
    assert entry.district_code == Q1


@pytest.mark.parametrize("url", ["/admin/person/details/?id={theirs}", "/admin/person/edit/?id={theirs}",
                                 "/admin/person/details/?id=abc", "/admin/person/details/?id=999999999"])
def test_a_read_that_404s_leaves_no_read_entry(app, as_user, records, url):
    marker = _marker(app)
    response = as_user("ward.bennghe").get(url.format(**records))
    assert response.status_code == 404
    assert _reads_since(app, marker) == []


def test_the_edit_form_is_a_read(app, as_user, records):
    marker = _marker(app)
    assert as_user("ward.bennghe").get(f"/admin/person/edit/?id={records['mine']}").status_code == 200
    entry, persons = _one_read(app, marker)
    assert persons == {records["mine"]} and entry.after["why"] == "edit form"


@pytest.mark.parametrize("endpoint", ["vaccination", "testresult", "recovery"])
@pytest.mark.parametrize("page", ["details", "edit"])
def test_health_record_pages_are_reads_of_their_person(app, as_user, records, endpoint, page):
    marker = _marker(app)
    response = as_user("ward.bennghe").get(f"/admin/{endpoint}/{page}/?id={records[endpoint]}")
    assert response.status_code == 200
    entry, persons = _one_read(app, marker)
    assert persons == {records["mine"]}, "the read names the resident, not the record"
    assert entry.after["view"] == endpoint and entry.after["record_id"] == str(records[endpoint])


def test_a_list_page_records_the_residents_it_showed(app, as_user, records):
    marker = _marker(app)
    assert as_user("inspector.q1").get("/admin/person/").status_code == 200
    entry, persons = _one_read(app, marker)
    with app.app_context():
        in_q1 = select(Person.id).join(Ward).where(Ward.district_code == Q1).order_by(Person.id.desc()).limit(20)
        expected = set(db.session.scalars(in_q1))
    assert persons == expected and entry.after["why"] == "list" and entry.after["count"] == len(expected)
    assert entry.district_code == Q1 and entry.after["unit"]["district_codes"] == [Q1]


def test_a_search_records_its_term_and_the_residents_found(app, as_user, records):
    term = records["mine_name"].split()[-1]
    marker = _marker(app)
    response = as_user("ward.bennghe").get("/admin/person/", query_string={"search": term})
    assert response.status_code == 200
    entry, persons = _one_read(app, marker)
    assert entry.after["why"] == "search" and entry.after["search"] == term
    assert records["mine"] in persons and entry.after["count"] == len(persons)
    with app.app_context():
        wards = set(db.session.scalars(select(Person.ward_code).where(Person.id.in_(persons))))
    assert wards == {BEN_NGHE}, "only residents in the officer's scope were shown"


def test_a_page_without_residents_leaves_no_read(app, as_user):
    marker = _marker(app)
    assert as_user("admin").get("/admin/organization/").status_code == 200
    assert as_user("ward.bennghe").get("/admin/person/", query_string={"search": "zzzz-nobody"}).status_code == 200
    assert _reads_since(app, marker) == []


def test_an_ajax_lookup_records_the_residents_it_returned(app, as_user, records):
    term = records["mine_name"].split()[-1]
    marker = _marker(app)
    response = as_user("ward.bennghe").get("/admin/vaccination/ajax/lookup/",
                                           query_string={"name": "person", "query": term})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    returned = {pk for pk, _label in json.loads(response.get_data(as_text=True))}
    entry, persons = _one_read(app, marker)
    assert returned and persons == returned
    assert entry.after["why"] == "lookup" and entry.after["search"] == term and entry.after["view"] == "vaccination"


def test_an_export_of_residents_names_every_resident_in_it(app, as_user, records):
    marker = _marker(app)
    response = as_user("inspector.q1").get("/admin/person/export/csv/")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert _reads_since(app, marker) == [], "one entry per request: the export's own"
    entry, persons = _one_read(app, marker, "persons.export")
    with app.app_context():
        expected = set(db.session.scalars(select(Person.id).join(Ward).where(Ward.district_code == Q1)))
    assert persons == expected and entry.after["rows"] == len(expected) and entry.after["why"] == "export"


def test_the_check_in_list_is_a_read_of_the_visitors_shown(app, as_user, records):
    marker = _marker(app)
    response = as_user("org1.admin").get("/admin/checkin/")
    assert response.status_code == 200
    entry, persons = _one_read(app, marker)
    assert records["mine"] in persons and entry.organization_id == records["org1"]
    assert entry.after["unit"]["organization_id"] == records["org1"]


def test_the_card_pages_are_reads(app, as_user, records):
    officer = as_user("ward.bennghe")
    marker = _marker(app)
    assert officer.get("/admin/qr-cards/", query_string={"q": records["mine_name"]}).status_code == 200
    entry, persons = _one_read(app, marker)
    assert records["mine"] in persons and entry.after["why"] == "card search"
    assert entry.after["search"] == records["mine_name"]

    token = _token(app, officer)  # read from the card page, itself a read: before the marker
    marker = _marker(app)
    response = officer.post("/admin/qr-cards/print",
                            data={"person_id": str(records["mine"]), "format": "pdf", "csrf_token": token})
    assert response.status_code == 200
    entry, persons = _one_read(app, marker)
    assert persons == {records["mine"]} and entry.after["why"] == "card print"


def test_a_refused_print_is_no_read(app, as_user, records):
    officer = as_user("ward.bennghe")
    token = _token(app, officer)
    marker = _marker(app)
    response = officer.post("/admin/qr-cards/print",
                            data={"person_id": str(records["theirs"]), "format": "pdf", "csrf_token": token})
    assert response.status_code == 404
    assert _reads_since(app, marker) == []


def test_the_portal_finds_the_reads_of_a_resident(app, as_user, records):
    marker = _marker(app)
    as_user("ward.bennghe").get(f"/admin/person/details/?id={records['mine']}")
    as_user("inspector.q1").get(f"/admin/recovery/details/?id={records['recovery']}")
    with app.app_context():
        reads = [e for e in audit.reads_of(records["mine"]) if e.id > marker]
        assert [(e.actor_name, e.after["why"]) for e in reads] == [("inspector.q1", "details"),
                                                                    ("ward.bennghe", "details")]
        # A scan's read names its one person as the entry's entity (scanning.scan_reads): the portal finds it too.
        scan = audit.record_now("person.read", actor_name="device_token:1", entity_name="persons",
                                entity_id=records["mine"], after={"why": "scan"})
        assert audit.reads_of(records["mine"])[0].id == scan
        assert all(e.id <= marker for e in audit.reads_of(records["theirs"]))
