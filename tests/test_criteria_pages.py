"""Self-assessment, inspections and compliance lists through the pages, as the demo users."""
from __future__ import annotations

import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.demo.seed import KNOWN_ORGS
from backoffice.extensions import db
from backoffice.models import Assessment, AuditLog, Organization
from backoffice.timeutil import local_today

FOOD_ANSWERS = {"q_C1": "full", "q_C2": "40", "q_C3": "yes", "q_C4": "both", "q_C8": "yes", "q_C9": "weekly",
                "q_C10": "yes"}


def _org_id(app, code: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Organization.id).where(Organization.tax_code == KNOWN_ORGS[code]["tax_code"]))


def _stored(app, assessment_id: int) -> Assessment:
    """Read in an app context of its own: requests made while a context is pushed would share its `g`
    (and so its logged-in user)."""
    with app.app_context():
        found = db.session.get(Assessment, assessment_id)
        db.session.expunge(found)
        return found


def _start(browser, set_id: str, **extra) -> int:
    response = browser.post_form("/admin/assessment/start", {"set_id": set_id, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.search(r"/admin/assessment/(\d+)/edit", response.headers["Location"])
    assert match
    return int(match.group(1))


def test_org_admin_submits_and_sees_level_with_reasons(app, as_user):
    org1 = as_user("org1.admin")
    index = org1.get("/admin/assessment/")
    assert index.status_code == 200
    assert "hcm-food-service" in index.get_data(as_text=True) or "ăn uống" in index.get_data(as_text=True)
    assessment_id = _start(org1, "hcm-food-service")

    # Missing and out-of-range answers: field errors, nothing saved.
    bad = dict(FOOD_ANSWERS, q_C2="140")
    del bad["q_C3"]
    response = org1.post_form(f"/admin/assessment/{assessment_id}/edit", dict(bad, submit="1"))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Nhập một số từ 0 đến 100" in body or "between 0 and 100" in body
    stored = _stored(app, assessment_id)
    assert stored.state == "draft" and stored.answers == {} and stored.result is None

    # A draft with some answers, then the submission.
    response = org1.post_form(f"/admin/assessment/{assessment_id}/edit", {"q_C1": "partly", "save": "1"})
    assert response.status_code == 302
    assert _stored(app, assessment_id).answers == {"C1": "partly"}
    response = org1.post_form(f"/admin/assessment/{assessment_id}/edit", dict(FOOD_ANSWERS, submit="1"))
    assert response.status_code == 302
    page = org1.get(response.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    stored = _stored(app, assessment_id)
    assert stored.state == "submitted" and stored.submitted_at is not None
    assert f'data-level="{stored.level}"' in html
    # The level follows from the stored result, and the result from its answers and facts.
    c5 = next(r for r in stored.result["criteria"] if r["id"] == "C5")
    share = stored.facts["staff_green_share"]["value"]
    assert share is not None and c5["points"] == (10 if share >= 1 else 5 if share >= 0.8 else 0)
    expected = "may_operate" if c5["points"] == 10 and stored.percent >= 50 else "must_fix"
    assert stored.level == expected
    assert "Minh họa" in html or "Illustrative" in html  # the set is illustrative and says so
    assert 'data-criterion="C10"' in html and "Trả lời: Có" in html  # each criterion's reason
    with app.app_context():
        assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "assessment.submit",
                                                           AuditLog.entity_id == str(assessment_id)))
    # A submitted assessment cannot be changed any more.
    response = org1.post_form(f"/admin/assessment/{assessment_id}/edit", dict(FOOD_ANSWERS, submit="1"))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/assessment/{assessment_id}")

    # inspector.q1 sees it in the compliance list; inspector.q3 does not.
    q1 = as_user("inspector.q1").get(f"/admin/compliance/?district=760&sector=food_service")
    assert q1.status_code == 200
    q1_html = q1.get_data(as_text=True)
    assert f'data-org="{stored.organization_id}"' in q1_html
    assert f"/admin/assessment/{assessment_id}" in q1_html
    q3 = as_user("inspector.q3").get("/admin/compliance/?sector=food_service")
    assert f'data-org="{stored.organization_id}"' not in q3.get_data(as_text=True)
    assert as_user("inspector.q3").get(f"/admin/assessment/{assessment_id}").status_code == 404


def test_inspection_compared_with_self_assessment_and_scope(app, as_user):
    org1_id = _org_id(app, "org1")
    q3 = as_user("inspector.q3")
    assert q3.get(f"/admin/compliance/org/{org1_id}").status_code == 404
    response = q3.post_form("/admin/assessment/start", {"set_id": "hcm-food-service", "org_id": org1_id,
                                                        "kind": "inspection"})
    assert response.status_code == 404
    assert as_user("org1.admin").get("/admin/compliance/").status_code == 403

    own = as_user("org1.admin")
    own_id = _start(own, "hcm-food-service")
    own.post_form(f"/admin/assessment/{own_id}/edit", dict(FOOD_ANSWERS, submit="1"))

    q1 = as_user("inspector.q1")
    assert q1.get(f"/admin/compliance/org/{org1_id}").status_code == 200
    inspection_id = _start(q1, "hcm-food-service", org_id=org1_id, kind="inspection")
    seen = dict(FOOD_ANSWERS, q_C10="no", q_C3="no")
    # A critical criterion fails: the organization has something to remedy, so a deadline is required.
    response = q1.post_form(f"/admin/assessment/{inspection_id}/edit", dict(seen, submit="1"))
    assert response.status_code == 400 and _stored(app, inspection_id).state == "draft"
    assert "thời hạn" in response.get_data(as_text=True)
    deadline = (local_today() + timedelta(days=14)).isoformat()
    response = q1.post_form(f"/admin/assessment/{inspection_id}/edit",
                            dict(seen, submit="1", remedy_deadline=deadline, findings="Chưa có khu cách ly.",
                                 n_C10="Không có khu cách ly tạm thời."))
    assert response.status_code == 302
    html = q1.get(f"/admin/assessment/{inspection_id}").get_data(as_text=True)
    assert 'id="compared-with"' in html
    rows = dict(re.findall(r'<tr class="([^"]*)" data-criterion="(C\d+)"', html)[i][::-1] for i in range(10))
    assert "table-warning" in rows["C10"] and "table-warning" in rows["C3"]
    assert "table-warning" not in rows["C1"]
    assert _stored(app, inspection_id).level == "must_fix"
    # The organization admin may read the inspection but not edit an inspector's draft.
    assert own.get(f"/admin/assessment/{inspection_id}").status_code == 200


def test_compliance_filters_and_export(app, as_user, monkeypatch):
    # The demo's organizations were approved today: no first-assessment grace, so those never assessed are overdue.
    monkeypatch.setitem(app.config, "BACKOFFICE_FIRST_ASSESSMENT_GRACE_DAYS", 0)
    admin = as_user("admin")
    page = admin.get("/admin/compliance/?level=none")
    assert page.status_code == 200
    response = admin.get("/admin/compliance/export?district=760")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data), read_only=True)
    rows = list(wb.active.iter_rows(values_only=True))
    assert len(rows[0]) == 12 and rows[0][0].startswith(("Tổ chức", "Organization"))
    names = {r[0] for r in rows[1:]}
    with app.app_context():
        q1_orgs = set(db.session.scalars(select(Organization.name).where(Organization.district_code == 760)))
    assert names == q1_orgs
    overdue = admin.get("/admin/compliance/?overdue=1").get_data(as_text=True)
    listed = overdue.count("data-org=")
    assert listed > 0 and overdue.count('badge badge-warning">') >= listed
    up_to_date = admin.get("/admin/compliance/?overdue=0").get_data(as_text=True)
    assert 'badge badge-warning">' not in up_to_date.split('id="compliance-table"')[1]


def test_sets_pages_say_illustrative(app, as_user):
    browser = as_user("org2.admin")
    listing = browser.get("/admin/criteria-sets/").get_data(as_text=True)
    assert "hcm-1203-risk" in listing or "1203" in listing
    detail = browser.get("/admin/criteria-sets/hcm-office/1.0.0").get_data(as_text=True)
    assert "Minh họa" in detail or "Illustrative" in detail
    risk = browser.get("/admin/criteria-sets/hcm-1203-risk/1.0.0").get_data(as_text=True)
    assert "Chưa kiểm chứng" in risk or "Unverified" in risk
    assert browser.get("/admin/criteria-sets/hcm-office/9.9.9").status_code == 404
