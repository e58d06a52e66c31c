"""Contact tracing: exactly the overlapping people, scope, alerts, audit, exports, the positive-test trigger."""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from backoffice.errors import OutOfRole
from backoffice.extensions import db
from backoffice.models import AuditLog, CheckIn, Location, Person, TraceAlert, TraceCase
from backoffice.models import TestResult as TestResultRow
from backoffice.tracing import service
from conftest import get_user
from factories import add_person, demo_org

H = timedelta(hours=1)
M = timedelta(minutes=1)


def _stay(person: Person, location: Location, start: datetime, end: datetime | None, *, last_seen=None):
    db.session.add(CheckIn(person_id=person.id, organization_id=location.organization_id, location_id=location.id,
                           checked_in_at=start, last_seen_at=last_seen or start, checked_out_at=end,
                           status_colour="green", method="scanner"))


@dataclass
class Scenario:
    case_id: int
    base: datetime
    expected: set[int]
    names: dict[int, str]
    location_id: int
    org_id: int
    outsider_id: int


@pytest.fixture(scope="module")
def scenario(app) -> Scenario:
    with app.app_context():
        org1 = demo_org("org1")
        org2 = demo_org("org2")
        tag = secrets.token_hex(3)
        l1 = Location(organization_id=org1.id, name=f"Khu truy vết {tag}")
        l2 = Location(organization_id=org2.id, name=f"Phòng họp {tag}")
        l3 = Location(organization_id=org2.id, name=f"Kho cũ {tag}")
        db.session.add_all([l1, l2, l3])
        case = add_person("Ca Bệnh Một")
        names = ["Trùng Giờ", "Về Sớm", "Trong Biên", "Đến Sau Trong Biên", "Đến Quá Muộn", "Nơi Khác",
                 "Chưa Ra", "Quên Ra Quá Lâu", "Cũ Quá", "=HYPERLINK(\"http://x\")"]
        p = {n: add_person(n) for n in names}
        db.session.flush()
        base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
        _stay(case, l1, base, base + H)  # the visit: [T, T+1h]
        _stay(case, l2, base + 5 * H, base + 6 * H)
        _stay(case, l3, base - timedelta(days=20), base - timedelta(days=20) + H)  # outside the window
        _stay(p["Trùng Giờ"], l1, base + 30 * M, base + 2 * H)
        _stay(p["Về Sớm"], l1, base - 2 * H, base - 40 * M)  # left 40 min before: outside the 30 min margin
        _stay(p["Trong Biên"], l1, base - 2 * H, base - 20 * M)  # left 20 min before: inside the margin
        _stay(p["Đến Sau Trong Biên"], l1, base + 80 * M, base + 3 * H)  # came 20 min after the case left
        _stay(p["Đến Quá Muộn"], l1, base + 100 * M, base + 3 * H)  # 40 min after
        _stay(p["Nơi Khác"], l2, base, base + H)  # same time, another place (the case came later)
        _stay(p["Chưa Ra"], l1, base - 6 * H, None)  # open stay: presumed until the automatic check-out
        _stay(p["Quên Ra Quá Lâu"], l1, base - 30 * H, base + 30 * M)  # capped at 24 h: ended at T-6h
        _stay(p["Cũ Quá"], l3, base - timedelta(days=20), base - timedelta(days=20) + H)
        _stay(p["=HYPERLINK(\"http://x\")"], l2, base + 5 * H + 50 * M, base + 7 * H)
        # The basis of the case: a positive test (written with Core, so the positive-test trigger stays out of it).
        db.session.execute(insert(TestResultRow), [{"person_id": case.id, "kind": "pcr", "result": "positive",
                                                    "tested_at": base + timedelta(days=1)}])
        db.session.commit()
        inspector = get_user("inspector.q1")
        result = service.open_case(inspector, case.id, confirmed_at=base + timedelta(days=1))
        expected = {p[n].id for n in ["Trùng Giờ", "Trong Biên", "Đến Sau Trong Biên", "Chưa Ra",
                                      "=HYPERLINK(\"http://x\")"]}
        return Scenario(result.case.id, base, expected, {v.id: k for k, v in p.items()}, l1.id, org1.id,
                        p["Nơi Khác"].id)


def test_trace_finds_exactly_the_overlapping_people(app, scenario):
    with app.app_context():
        case = db.session.get(TraceCase, scenario.case_id)
        result = service.trace(case)
        found = {c.person_id for c in result.contacts}
        assert found == scenario.expected, sorted(scenario.names[i] for i in found ^ scenario.expected)
        assert len(result.visits) == 2  # the visit 20 days earlier is outside the 14-day window
        assert case.summary["people"] == len(scenario.expected)
        assert case.district_code == 760


def test_alerts_per_location_visited_and_acknowledged(app, scenario, as_user):
    with app.app_context():
        alerts = db.session.scalars(select(TraceAlert).where(TraceAlert.trace_case_id == scenario.case_id)).all()
        assert len(alerts) == 2
        by_location = {a.location_id: a for a in alerts}
        assert by_location[scenario.location_id].contacts == 4
        assert by_location[scenario.location_id].organization_id == scenario.org_id
        alert_id = by_location[scenario.location_id].id
    org1 = as_user("org1.admin")
    home = org1.get("/admin/").get_data(as_text=True)
    assert f'data-alert="{alert_id}"' in home and "Khu truy vết" in home
    assert "Ca Bệnh Một" not in home  # organizations learn the place and time, never who
    # org2.admin cannot acknowledge org1's alert; a GET is not allowed; a bad id is 404.
    assert as_user("org2.admin").post_form(f"/tracing/alerts/{alert_id}/acknowledge").status_code == 404
    assert org1.get(f"/tracing/alerts/{alert_id}/acknowledge").status_code == 405
    assert org1.post_form("/tracing/alerts/x/acknowledge").status_code == 404
    assert org1.post(f"/tracing/alerts/{alert_id}/acknowledge").status_code == 400  # no CSRF token
    assert org1.post_form(f"/tracing/alerts/{alert_id}/acknowledge").status_code == 302
    assert f'data-alert="{alert_id}"' not in org1.get("/admin/").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(TraceAlert, alert_id).acknowledged_at is not None
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "trace_alert.acknowledge", AuditLog.entity_id == str(alert_id))) == 1


def test_scope_and_roles(app, scenario, as_user):
    q1, q3 = as_user("inspector.q1"), as_user("inspector.q3")
    page = q1.get(f"/admin/tracing/{scenario.case_id}")
    assert page.status_code == 200 and "Trùng Giờ" in page.get_data(as_text=True)
    assert q3.get(f"/admin/tracing/{scenario.case_id}").status_code == 404
    assert q3.get(f"/admin/tracing/{scenario.case_id}/export.xlsx").status_code == 404
    assert q3.post_form(f"/admin/tracing/{scenario.case_id}/rerun").status_code == 404
    assert f"/admin/tracing/{scenario.case_id}\"" not in q3.get("/admin/tracing/").get_data(as_text=True)
    for user in ("org1.admin", "ward.bennghe", "org1.staff"):
        assert as_user(user).get("/admin/tracing/").status_code == 403, user
        assert as_user(user).get(f"/admin/tracing/{scenario.case_id}").status_code == 403, user
    # inspector.q3 cannot open a case for a Quận 1 resident.
    with app.app_context():
        id_number = db.session.get(Person, scenario.outsider_id).id_number
        before = db.session.scalar(select(func.count()).select_from(TraceCase))
    response = q3.post_form("/admin/tracing/new", {"id_number": id_number, "confirmed_at": "2021-10-20T09:00",
                                                   "window_days": "14", "margin_minutes": "30"},
                            token_from="/admin/tracing/")
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TraceCase)) == before
        inspector_q3 = get_user("inspector.q3")
        with pytest.raises(service.TraceError) as err:
            service.open_case(inspector_q3, scenario.outsider_id, confirmed_at=datetime.now(timezone.utc))
        assert err.value.status == 404
        with pytest.raises(OutOfRole):
            service.open_case(get_user("ward.bennghe"), scenario.outsider_id, confirmed_at=datetime.now(timezone.utc))


def test_every_trace_is_audited_and_export_is_formula_safe(app, scenario, as_user):
    q1 = as_user("inspector.q1")
    xlsx = q1.get(f"/admin/tracing/{scenario.case_id}/export.xlsx")
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(scenario.expected)
    formula = [c for c in ws.iter_rows(min_row=2) if str(c[0].value).startswith("=")][0][0]
    assert formula.data_type == "s"
    text = q1.get(f"/admin/tracing/{scenario.case_id}/export.csv").data.decode("utf-8-sig")
    names = [r[0] for r in csv.reader(io.StringIO(text))][1:]
    assert "'=HYPERLINK(\"http://x\")" in names
    assert q1.get(f"/admin/tracing/{scenario.case_id}/export.pdf").status_code == 404
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action).where(
            AuditLog.entity == "trace_cases", AuditLog.entity_id == str(scenario.case_id))))
        assert {"trace.open", "trace.view", "trace.export"} <= actions


def test_open_case_through_the_page_and_bad_inputs(app, as_user):
    with app.app_context():
        person = add_person("Người Mới Dương Tính")
        db.session.commit()
        id_number = person.id_number
    q1 = as_user("inspector.q1")
    url, token_from = "/admin/tracing/new", "/admin/tracing/"
    ok = {"id_number": id_number, "confirmed_at": "2021-10-20T09:00", "window_days": "14", "margin_minutes": "30",
          "reason": "Người nhà F0, triệu chứng rõ, chưa có kết quả xét nghiệm"}
    for bad in ({"window_days": "0"}, {"window_days": "abc"}, {"margin_minutes": "-5"}, {"id_number": "12ab"},
                {"confirmed_at": "hôm qua"}, {"confirmed_at": "2999-01-01T00:00"}):
        response = q1.post_form(url, {**ok, **bad}, token_from=token_from)
        assert response.status_code == 400, bad
    assert q1.post(url, data=ok).status_code == 400  # no CSRF token
    assert q1.get("/admin/tracing/abc").status_code == 404
    response = q1.post_form(url, ok, token_from=token_from)
    assert response.status_code == 302
    with app.app_context():
        case = db.session.scalar(select(TraceCase).where(TraceCase.person_id == person.id))
        assert case.source == "manual" and case.window_days == 14 and case.status == "pending"
        assert case.confirmed_at == datetime(2021, 10, 20, 2, 0, tzinfo=timezone.utc)  # 09:00 in HCMC


def test_positive_test_result_opens_a_case(app, scenario):
    with app.app_context():
        person = add_person("Xét Nghiệm Dương Tính")
        db.session.flush()
        location = db.session.get(Location, scenario.location_id)
        contact = add_person("Người Tiếp Xúc")
        db.session.flush()
        tested = datetime.now(timezone.utc) - H
        _stay(person, location, tested - 3 * H, tested - 2 * H)
        _stay(contact, location, tested - 150 * M, tested - 90 * M)
        db.session.add(TestResultRow(person_id=person.id, kind="pcr", result="negative", tested_at=tested - 48 * H))
        db.session.commit()
        assert db.session.scalar(select(TraceCase).where(TraceCase.person_id == person.id)) is None
        db.session.add(TestResultRow(person_id=person.id, kind="pcr", result="positive", tested_at=tested))
        db.session.commit()
        case = db.session.scalar(select(TraceCase).where(TraceCase.person_id == person.id))
        assert case is not None and case.source == "test" and case.confirmed_at == tested
        assert {c.person_id for c in service.trace(case).contacts} == {contact.id}
        # A second positive test inside the window does not open a second case.
        db.session.add(TestResultRow(person_id=person.id, kind="rapid", result="positive", tested_at=tested + 2 * H))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(TraceCase)
                                 .where(TraceCase.person_id == person.id)) == 1


def test_positive_test_entered_in_the_admin_opens_a_case(app, as_user):
    with app.app_context():
        person = add_person("Nhập Qua Trang Quản Trị")
        db.session.commit()
        person_id = person.id
    local_time = (datetime.now(timezone.utc) + timedelta(hours=7) - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    response = as_user("ward.bennghe").post_form(
        "/admin/testresult/new/", {"person": str(person_id), "kind": "pcr", "result": "positive",
                                   "tested_at": local_time}, token_from="/admin/testresult/new/")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with app.app_context():
        case = db.session.scalar(select(TraceCase).where(TraceCase.person_id == person_id))
        assert case is not None and case.source == "test"
        assert case.created_by_id == get_user("ward.bennghe").id  # recorded by the officer, traced by the system
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "trace.open", AuditLog.entity_id == str(case.id))) == 1
    # The ward officer who recorded the test cannot read the trace.
    assert as_user("ward.bennghe").get(f"/admin/tracing/{case.id}").status_code == 403
