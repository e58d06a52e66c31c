"""Tracing never crosses a district in clear, and a case needs a basis.

A Quận 1 case met a Quận 1 resident, a Quận 3 resident and a resident without a ward. inspector.q1 reads the
Quận 3 and ward-less contacts masked (page and both exports: no name, ID or phone of theirs in the bytes);
inspector.q3 gets the Quận 3 contact as a referral, in clear; the city admin sees every referral. A case without a
positive test waits for a second officer's approval, never its requester's."""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Location, Person, TraceAlert, TraceCase, TraceReferral, Ward, mask_id
from backoffice.models import TestResult as TestResultRow
from backoffice.tracing import service
from conftest import get_user
from factories import add_person, demo_org
from pages_support import vi

H = timedelta(hours=1)
Q3 = 770


def _phone() -> str:
    return f"09{secrets.randbelow(10**8):08d}"


def _stay(person: Person, location: Location, start: datetime) -> None:
    db.session.add(CheckIn(person_id=person.id, organization_id=location.organization_id, location_id=location.id,
                           checked_in_at=start, last_seen_at=start, checked_out_at=start + H,
                           status_colour="green", method="scanner"))


def _positive(person_id: int, at: datetime) -> None:
    """A positive test written with Core: the positive-test trigger (tested on its own below) stays out of it."""
    db.session.execute(insert(TestResultRow), [{"person_id": person_id, "kind": "pcr", "result": "positive",
                                                "tested_at": at}])


@dataclass
class People:
    id_number: str
    full_name: str
    phone: str
    id: int


@dataclass
class Cross:
    case_id: int
    case_person: int
    location_id: int
    local: People
    q3: People
    wardless: People
    base: datetime


def _people(p: Person) -> People:
    return People(p.id_number, p.full_name, p.phone, p.id)


@pytest.fixture(scope="module")
def cross(app) -> Cross:
    with app.app_context():
        org1 = demo_org("org1")
        location = Location(organization_id=org1.id, name=f"Sảnh liên quận {secrets.token_hex(3)}")
        db.session.add(location)
        q3_ward = db.session.scalar(select(Ward.code).where(Ward.district_code == Q3).order_by(Ward.code).limit(1))
        case = add_person("Ca Liên Quận", BEN_NGHE, phone=_phone())
        local = add_person("Hàng Xóm Quận Một", BEN_NGHE, phone=_phone())
        q3 = add_person("Khách Quận Ba Riêng", q3_ward, phone=_phone())
        wardless = add_person("Không Rõ Phường", None, phone=_phone())
        db.session.flush()
        base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
        for person in (case, local, q3, wardless):
            _stay(person, location, base)
        _positive(case.id, base + H)
        db.session.commit()
        result = service.open_case(get_user("inspector.q1"), case.id, confirmed_at=base + 2 * H)
        assert result.case.status == "open"
        return Cross(result.case.id, case.id, location.id, _people(local), _people(q3), _people(wardless), base)


def _secrets_of(p: People) -> list[str]:
    return [p.id_number, p.phone, p.full_name]


def _xlsx_text(data: bytes) -> str:
    workbook = load_workbook(io.BytesIO(data))
    return "\n".join(str(cell.value) for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row
                     if cell.value is not None)


def test_out_of_district_contacts_are_masked_in_the_page_and_exports(cross, as_user):
    q1 = as_user("inspector.q1")
    page = q1.get(f"/admin/tracing/{cross.case_id}")
    assert page.status_code == 200
    xlsx = q1.get(f"/admin/tracing/{cross.case_id}/export.xlsx")
    csv_ = q1.get(f"/admin/tracing/{cross.case_id}/export.csv")
    assert xlsx.status_code == 200 and csv_.status_code == 200
    bodies = {"page": page.data, "csv": csv_.data, "xlsx cells": _xlsx_text(xlsx.data).encode()}
    for where, body in bodies.items():
        for outsider in (cross.q3, cross.wardless):
            for secret in _secrets_of(outsider):
                assert secret.encode() not in body, (where, secret)
        # The Quận 1 contact stays in clear for the Quận 1 inspector (ID masked on the page as in every list).
        assert cross.local.full_name.encode() in body and cross.local.phone.encode() in body, where
    assert mask_id(cross.q3.id_number).encode() in page.data
    assert b"K. Q. B. R." in page.data and f'data-person="{cross.q3.id}"'.encode() not in page.data
    rows = {r[0]: r for r in csv.reader(io.StringIO(csv_.data.decode("utf-8-sig")))}
    assert rows[cross.local.full_name][1] == cross.local.id_number  # the export keeps the full ID in district
    assert rows["K. Q. B. R."][1] == mask_id(cross.q3.id_number) and rows["K. Q. B. R."][2] == ""
    assert rows["K. Q. B. R."][-1] == "Quận 3"
    assert rows["K. R. P."][1] == mask_id(cross.wardless.id_number)
    assert rows["K. R. P."][-1] not in ("", "Quận 3")  # referred to the city


def test_the_city_admin_reads_every_contact_in_clear(cross, as_user):
    body = as_user("admin").get(f"/admin/tracing/{cross.case_id}/export.csv").data.decode("utf-8-sig")
    for person in (cross.local, cross.q3, cross.wardless):
        assert person.id_number in body and person.phone in body and person.full_name in body


def test_referrals_reach_the_receiving_district_in_clear(app, cross, as_user):
    with app.app_context():
        referrals = {r.person_id: r for r in db.session.scalars(
            select(TraceReferral).where(TraceReferral.trace_case_id == cross.case_id))}
        assert set(referrals) == {cross.q3.id, cross.wardless.id}  # the Quận 1 neighbour stays with Quận 1
        assert referrals[cross.q3.id].district_code == Q3 and referrals[cross.wardless.id].district_code is None
        assert referrals[cross.q3.id].status == "open" and referrals[cross.q3.id].location_id == cross.location_id
        q3_referral, city_referral = referrals[cross.q3.id].id, referrals[cross.wardless.id].id
        # Alerts to the organization visited keep working.
        alert = db.session.scalar(select(TraceAlert).where(TraceAlert.trace_case_id == cross.case_id))
        assert alert.location_id == cross.location_id and alert.contacts == 3
    q3 = as_user("inspector.q3")
    index = q3.get("/admin/tracing/").data
    assert f'data-referral="{q3_referral}"'.encode() in index
    assert cross.q3.full_name.encode() in index and cross.q3.phone.encode() in index
    assert f'data-referral="{city_referral}"'.encode() not in index and cross.wardless.phone.encode() not in index
    assert cross.local.full_name.encode() not in index
    assert q3.get(f"/admin/tracing/{cross.case_id}").status_code == 404  # the case itself stays Quận 1's
    # inspector.q1 does not receive them; the city admin receives both, in clear.
    q1_index = as_user("inspector.q1").get("/admin/tracing/").data
    assert f'data-referral="{q3_referral}"'.encode() not in q1_index
    admin_index = as_user("admin").get("/admin/tracing/").data
    assert f'data-referral="{q3_referral}"'.encode() in admin_index
    assert f'data-referral="{city_referral}"'.encode() in admin_index and cross.wardless.phone.encode() in admin_index


def test_acknowledging_a_referral_is_scoped_and_needs_csrf(app, cross, as_user):
    with app.app_context():
        referral_id = db.session.scalar(select(TraceReferral.id).where(
            TraceReferral.trace_case_id == cross.case_id, TraceReferral.person_id == cross.q3.id))
    url = f"/admin/tracing/referrals/{referral_id}/acknowledge"
    q3 = as_user("inspector.q3")
    assert q3.post(url).status_code == 400  # no CSRF token
    assert as_user("inspector.q1").post_form(url, token_from="/admin/tracing/").status_code == 404
    assert as_user("org1.admin").post_form(url).status_code == 403
    assert q3.post_form("/admin/tracing/referrals/x/acknowledge", token_from="/admin/tracing/").status_code == 404
    with app.app_context():
        assert db.session.get(TraceReferral, referral_id).status == "open"
    assert q3.post_form(url, token_from="/admin/tracing/").status_code == 302
    with app.app_context():
        referral = db.session.get(TraceReferral, referral_id)
        assert referral.status == "acknowledged" and referral.acknowledged_by_id == get_user("inspector.q3").id
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "trace_referral.acknowledge", AuditLog.entity_id == str(referral_id))) == 1
        # Tracing again refreshes the referral and keeps it acknowledged.
        service.rerun(get_user("inspector.q1"), cross.case_id)
        assert db.session.get(TraceReferral, referral_id).status == "acknowledged"


# --- a basis for every case -------------------------------------------------------------------------------------
@pytest.fixture()
def untested(app):
    """A Quận 1 resident without a positive test, who met a Quận 3 resident yesterday."""
    with app.app_context():
        org1 = demo_org("org1")
        location = Location(organization_id=org1.id, name=f"Quầy {secrets.token_hex(3)}")
        db.session.add(location)
        q3_ward = db.session.scalar(select(Ward.code).where(Ward.district_code == Q3).order_by(Ward.code).limit(1))
        person = add_person("Nghi Ngờ Chưa Xét Nghiệm", BEN_NGHE, phone=_phone())
        contact = add_person("Người Gặp Quận Ba", q3_ward, phone=_phone())
        db.session.flush()
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
        _stay(person, location, start)
        _stay(contact, location, start)
        _positive(person.id, start - timedelta(days=30))  # too old to be this case's basis
        db.session.commit()
        return {"id_number": person.id_number, "id": person.id, "contact": _people(contact),
                "confirmed_at": (start + timedelta(hours=7) + 2 * H).strftime("%Y-%m-%dT%H:%M")}


def _form(untested, **extra) -> dict:
    return {"id_number": untested["id_number"], "confirmed_at": untested["confirmed_at"], "window_days": "14",
            "margin_minutes": "30", **extra}


def _cases_of(person_id: int) -> list[TraceCase]:
    return list(db.session.scalars(select(TraceCase).where(TraceCase.person_id == person_id)))


def test_a_case_without_positive_test_needs_a_reason_and_waits(app, as_user, untested):
    q1 = as_user("inspector.q1")
    response = q1.post_form("/admin/tracing/new", _form(untested), token_from="/admin/tracing/")
    assert response.status_code == 400 and "xét nghiệm dương tính" in response.get_data(as_text=True)
    long = q1.post_form("/admin/tracing/new", _form(untested, reason="x" * 501), token_from="/admin/tracing/")
    assert long.status_code == 400
    with app.app_context():
        assert _cases_of(untested["id"]) == []
    response = q1.post_form("/admin/tracing/new", _form(untested, reason="Người nhà F0, sốt cao"),
                            token_from="/admin/tracing/")
    assert response.status_code == 302
    with app.app_context():
        (case,) = _cases_of(untested["id"])
        assert case.status == "pending" and case.reason == "Người nhà F0, sốt cao" and case.summary == {}
        assert db.session.scalar(select(func.count()).select_from(TraceAlert)
                                 .where(TraceAlert.trace_case_id == case.id)) == 0
        assert db.session.scalar(select(func.count()).select_from(TraceReferral)
                                 .where(TraceReferral.trace_case_id == case.id)) == 0
        case_id = case.id
    page = q1.get(f"/admin/tracing/{case_id}")
    assert page.status_code == 200 and b'id="pending-approval"' in page.data
    assert untested["contact"].full_name.encode() not in page.data and b'id="contacts"' not in page.data
    assert b"/approve" not in page.data  # the requester is not offered the approval
    assert q1.get(f"/admin/tracing/{case_id}/export.csv").status_code == 409
    # The refusal says why, to a script (the reason code) and to a person (the case's state), not just "409".
    refused = q1.get(f"/admin/tracing/{case_id}/export.csv", headers={"Accept": "application/json",
                                                                      "Accept-Language": "vi"})
    assert refused.get_json() == {"error": {"code": "pending", "message": vi(
        "This case is waiting for a second officer's approval.")}}
    assert q1.post_form(f"/admin/tracing/{case_id}/rerun", token_from="/admin/tracing/").status_code == 409
    # Who may approve: not the requester (403, audited), not another district (404), not another role (403).
    assert q1.post_form(f"/admin/tracing/{case_id}/approve", token_from="/admin/tracing/").status_code == 403
    assert as_user("inspector.q3").post_form(f"/admin/tracing/{case_id}/approve",
                                             token_from="/admin/tracing/").status_code == 404
    assert as_user("ward.bennghe").post_form(f"/admin/tracing/{case_id}/approve").status_code == 403
    admin = as_user("admin")
    assert admin.post(f"/admin/tracing/{case_id}/approve").status_code == 400  # no CSRF token
    with app.app_context():
        assert db.session.get(TraceCase, case_id).status == "pending"
        denied = db.session.scalars(select(AuditLog).where(
            AuditLog.action == "request.denied", AuditLog.actor_id == get_user("inspector.q1").id,
            AuditLog.entity_id == f"/admin/tracing/{case_id}/approve")).all()
        assert [e.after["reason"] for e in denied] == ["tracing.self_approval"]
    approval = admin.get(f"/admin/tracing/{case_id}")
    assert b"/approve" in approval.data
    assert admin.post_form(f"/admin/tracing/{case_id}/approve", token_from=f"/admin/tracing/{case_id}").status_code == 302
    with app.app_context():
        case = db.session.get(TraceCase, case_id)
        assert case.status == "open" and case.approved_by_id == get_user("admin").id and case.approved_at
        assert case.summary["people"] == 1 and case.summary["referrals"] == 1
        assert db.session.scalar(select(func.count()).select_from(TraceAlert)
                                 .where(TraceAlert.trace_case_id == case_id)) == 1
        actions = set(db.session.scalars(select(AuditLog.action).where(
            AuditLog.entity == "trace_cases", AuditLog.entity_id == str(case_id))))
        assert {"trace.request", "trace.approve", "trace.refer"} <= actions
    assert admin.post_form(f"/admin/tracing/{case_id}/approve", token_from="/admin/tracing/").status_code == 409
    # Now traced: inspector.q1 sees the Quận 3 contact masked, inspector.q3 gets the referral.
    page = q1.get(f"/admin/tracing/{case_id}")
    assert untested["contact"].phone.encode() not in page.data and untested["contact"].id_number.encode() not in page.data
    assert untested["contact"].phone.encode() in as_user("inspector.q3").get("/admin/tracing/").data


def test_a_positive_test_within_the_window_opens_at_once(app, untested):
    with app.app_context():
        confirmed = datetime.now(timezone.utc) - 2 * H
        _positive(untested["id"], confirmed - timedelta(days=2))
        db.session.commit()
        result = service.open_case(get_user("inspector.q1"), untested["id"], confirmed_at=confirmed)
        assert result.case.status == "open" and result.people == 1
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "trace.open",
                                                         AuditLog.entity_id == str(result.case.id)))
        assert entry.after["basis"] == "test" and entry.after["test_id"]


def test_self_approval_is_refused_in_the_service_too(app, untested):
    with app.app_context():
        q1 = get_user("inspector.q1")
        result = service.open_case(q1, untested["id"], confirmed_at=datetime.now(timezone.utc) - H,
                                   reason="Tiếp xúc gần với F0 trong gia đình")
        assert result.case.pending and result.contacts == [] and result.visits == []
        with pytest.raises(service.TraceError) as err:
            service.approve_case(q1, result.case.id)
        assert err.value.status == 403 and err.value.code == "tracing.self_approval"
        with pytest.raises(service.TraceError) as err:
            service.approve_case(get_user("inspector.q3"), result.case.id)
        assert err.value.status == 404
        assert db.session.get(TraceCase, result.case.id).status == "pending"


def test_a_positive_test_recorded_later_opens_the_pending_case(app, untested):
    with app.app_context():
        result = service.open_case(get_user("inspector.q1"), untested["id"],
                                   confirmed_at=datetime.now(timezone.utc) - H, reason="Có triệu chứng, chờ PCR")
        case_id = result.case.id
        # Recorded through the ORM, as the admin form, the import and the API do: the trigger runs.
        db.session.add(TestResultRow(person_id=untested["id"], kind="pcr", result="positive",
                                     tested_at=datetime.now(timezone.utc) - H))
        db.session.commit()
        case = db.session.get(TraceCase, case_id)
        assert case.status == "open" and case.summary["people"] == 1
        assert len(_cases_of(untested["id"])) == 1
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "trace.open_by_test", AuditLog.entity_id == str(case_id))) == 1
