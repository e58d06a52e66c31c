"""The domain's errors and their one mapping to HTTP: 400 malformed, 404 out of scope (saying no more), 403 out of role
(audited as `request.denied` with the error's code), 409 conflict, 422 invalid or refused, 503 unavailable, with the
reason code and the user's message; JSON for the API and JSON-accepting requests, the error page otherwise; nothing a
refused request flushed survives. The operations' own errors are these kinds."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backoffice import errors
from backoffice.auth.service import AccountError
from backoffice.criteria.inspections import FollowUpError
from backoffice.criteria.service import Forbidden, NotFound
from backoffice.extensions import db
from backoffice.imports.service import ImportRefused
from backoffice.models import AuditLog, District
from backoffice.printing.cards import CardConflict, CardForbidden, CardInvalid, CardNotFound
from backoffice.printing.locations import NotAllowed as PosterNotAllowed
from backoffice.registration.service import RegistrationError
from backoffice.scanning.keyring import KeyRingError
from backoffice.scanning.rejections import ScanRejected
from backoffice.staff.service import LinkNotFound
from backoffice.tracing.service import TraceConflict, TraceForbidden, TraceInvalid, TraceNotFound
from conftest import get_user
from pages_support import dedicated_app, vi

RAISED = {
    "scope": lambda: errors.OutOfScope(code="organizations.not_found"),
    "role": lambda: errors.OutOfRole(code="matrix.test_role"),
    "invalid": lambda: errors.Invalid("Ngày không hợp lệ.", "bad_date"),
    "refused": lambda: errors.Refused("Đã đóng.", "already_closed"),
    "plain": lambda: errors.Refused(),
    "bad": lambda: errors.BadRequest("Thiếu tham số from.", "missing_from"),
    "conflict": lambda: errors.Conflict(code="pending"),
    "unavailable": lambda: errors.Unavailable("Tệp quy tắc khác nhau.", "rules_differ"),
}
# A district code no seed uses: the view that flushes it, then refuses, must leave no such row.
FLUSHED_CODE = 9_876


@pytest.fixture(scope="module")
def raising_app(app):
    with dedicated_app(app) as second:
        def raise_it(kind: str):
            raise RAISED[kind]()

        def flush_then_refuse():
            db.session.add(District(code=FLUSHED_CODE, name="Quận thử rollback", kind="Quận"))
            db.session.flush()
            raise errors.Conflict(code="after_flush")

        second.add_url_rule("/api/v1/test-raise/<kind>", "api_raise", raise_it)
        second.add_url_rule("/test-raise/<kind>", "page_raise", raise_it)
        second.add_url_rule("/test-flush-then-refuse", "flush_then_refuse", flush_then_refuse)
        yield second


def _get(app, url: str, **headers):
    with app.app_context():
        response = app.test_client().get(url, headers=headers)
        response.get_data()
        return response


@pytest.mark.parametrize("code, status", [("malformed", 422), ("unknown_checkpoint", 404), ("bad_token", 401),
                                          ("checkpoint_inactive", 409)])
def test_a_scan_rejection_keeps_its_own_status_and_message(code, status):
    rejected = ScanRejected(code)
    assert rejected.status == status and rejected.code == code and rejected.message
    detailed = ScanRejected("bad_request", detail="payload")
    assert detailed.status == 400 and detailed.message.endswith("payload")


@pytest.mark.parametrize("kind, status, code, message", [
    ("scope", 404, "404", "Not found."),
    ("role", 403, "403", "You do not have permission to do this."),
    ("invalid", 422, "bad_date", None),
    ("refused", 422, "already_closed", None),
    ("plain", 422, "refused", "This request cannot be carried out."),
    ("bad", 400, "missing_from", None),
    ("conflict", 409, "pending", "This clashes with the record as it stands now. Reload the page and try again."),
    ("unavailable", 503, "rules_differ", None),
])
def test_each_kind_answers_its_status_and_json_body(raising_app, kind, status, code, message):
    response = _get(raising_app, f"/api/v1/test-raise/{kind}", **{"Accept-Language": "vi"})
    assert response.status_code == status
    body = response.get_json()
    expected = vi(message) if message else str(RAISED[kind]().message)
    assert body == {"error": {"code": code, "message": expected}}


def test_json_accepting_requests_get_json_and_browsers_the_error_page(raising_app):
    json = _get(raising_app, "/test-raise/invalid", Accept="application/json")
    assert json.status_code == 422 and json.get_json()["error"]["code"] == "bad_date"
    page = _get(raising_app, "/test-raise/invalid", Accept="text/html")
    assert page.status_code == 422 and page.mimetype == "text/html"
    assert "Ngày không hợp lệ." in page.get_data(as_text=True)
    hidden = _get(raising_app, "/test-raise/scope", Accept="text/html")
    assert hidden.status_code == 404 and "organizations.not_found" not in hidden.get_data(as_text=True)


@pytest.mark.parametrize("kind, status, text", [
    ("scope", 404, "Not found."),
    ("role", 403, "You do not have permission to do this."),
    ("invalid", 422, "Ngày không hợp lệ."),
    ("refused", 422, "Đã đóng."),
    ("bad", 400, "Thiếu tham số from."),
    ("conflict", 409, "This clashes with the record as it stands now. Reload the page and try again."),
    ("unavailable", 503, "Tệp quy tắc khác nhau."),
])
def test_each_kind_answers_its_status_on_the_error_page(raising_app, kind, status, text):
    page = _get(raising_app, f"/test-raise/{kind}", Accept="text/html", **{"Accept-Language": "vi"})
    assert page.status_code == status and page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert (vi(text) if text.isascii() else text) in body
    assert RAISED[kind]().code not in body  # the page speaks to people, not to scripts


def test_a_refused_request_leaves_nothing_it_flushed(raising_app):
    response = _get(raising_app, "/test-flush-then-refuse", Accept="application/json")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "after_flush"
    with raising_app.app_context():
        assert db.session.get(District, FLUSHED_CODE) is None


def test_out_of_role_is_audited_as_a_denied_request(raising_app):
    def denials():
        with raising_app.app_context():
            return db.session.scalars(select(AuditLog.after).where(
                AuditLog.action == "request.denied", AuditLog.entity_id == "/api/v1/test-raise/role")).all()

    before = len(denials())
    assert _get(raising_app, "/api/v1/test-raise/role").status_code == 403
    after = denials()
    assert len(after) == before + 1 and after[-1] == {"method": "GET", "reason": "matrix.test_role"}


@pytest.mark.parametrize("error, kind", [
    (NotFound(1), errors.OutOfScope), (LinkNotFound(1), errors.OutOfScope),
    (Forbidden("self"), errors.OutOfRole), (PosterNotAllowed(), errors.OutOfRole),
    (AccountError("x"), errors.Invalid), (RegistrationError("x"), errors.Invalid),
    (FollowUpError("x"), errors.Refused), (ImportRefused("x"), errors.Refused), (KeyRingError("x"), errors.Refused),
    (TraceInvalid("x", "future"), errors.BadRequest), (TraceNotFound("x", "not_found"), errors.OutOfScope),
    (TraceConflict("x", "pending"), errors.Conflict), (TraceForbidden("x", "t.self"), errors.OutOfRole),
    (CardInvalid("x", "empty"), errors.BadRequest), (CardNotFound("x", "not_found"), errors.OutOfScope),
    (CardConflict("x", "duplicate"), errors.Conflict), (CardForbidden("x", "ward"), errors.OutOfRole),
    (ScanRejected("malformed"), errors.DomainError),
])
def test_operations_errors_are_of_the_vocabulary(error, kind):
    assert isinstance(error, kind) and isinstance(error, ValueError)
    # what their callers caught before still catches them
    assert isinstance(NotFound(1), LookupError) and isinstance(Forbidden("x"), PermissionError)


# --- the views' answers, through the test client ------------------------------------------------------
JSON = {"Accept": "application/json", "Accept-Language": "vi"}


def _denied_reasons(app, path: str) -> list:
    with app.app_context():
        return [after["reason"] for after in db.session.scalars(select(AuditLog.after).where(
            AuditLog.action == "request.denied", AuditLog.entity_id == path).order_by(AuditLog.id))]


def _audit_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditLog))


@pytest.mark.parametrize("user, method, url, data, code", [
    ("admin", "post", "/admin/assessment/start", {"set_id": "hcm-office"}, "assessment.start.no_organization"),
    ("ward.bennghe", "post", "/admin/qr-cards/print", {"format": "gif", "person_id": "1"}, "qr_cards.format"),
    ("admin", "post", "/admin/registration_admin/decide/", {"decision": "maybe", "id": "1"},
     "registrations.decision"),
    ("admin", "get", "/admin/reports/?date=20-10-2021", None, "reports.date"),
])
def test_a_malformed_request_is_a_400_naming_what_is_wrong(app, as_user, user, method, url, data, code):
    browser = as_user(user)
    response = browser.post_form(url, data, headers=JSON) if method == "post" else browser.get(url, headers=JSON)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]


def test_a_report_date_the_page_cannot_read_says_how_to_write_it(as_user):
    page = as_user("admin").get("/admin/reports/?date=20-10-2021", headers={"Accept-Language": "vi"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert vi("The date must be written as YYYY-MM-DD.") in page.get_data(as_text=True)


def test_records_out_of_scope_are_a_plain_404_and_not_audited_as_denied(app, as_user):
    with app.app_context():
        from backoffice.models import Organization, Person
        org1 = db.session.scalar(select(Organization.id).where(Organization.tax_code == get_user("org1.admin")
                                                               .organization.tax_code))
        outsider = db.session.scalar(select(Person.id).where(Person.ward_code != get_user("ward.bennghe").ward_code)
                                     .order_by(Person.id).limit(1))
    cases = [
        (as_user("inspector.q3"), "get", f"/admin/compliance/org/{org1}", None),  # criteria: another district
        (as_user("org2.admin"), "get", f"/admin/qr-posters/org/{org1}/qr.png", None),  # printing: not theirs
        (as_user("ward.bennghe"), "post", "/admin/qr-cards/print", {"format": "pdf", "person_id": str(outsider)}),
        (as_user("inspector.q3"), "get", "/admin/reports/district/760.xlsx", None),  # reports: Quận 1
        (as_user("admin"), "get", "/admin/assessment/999999999", None),
    ]
    for browser, method, url, data in cases:
        path = url.split("?")[0]
        before = _denied_reasons(app, path)
        response = browser.post_form(url, data, headers=JSON) if method == "post" else browser.get(url, headers=JSON)
        assert response.status_code == 404, url
        # Out of scope says no more than "not found": no reason code, nothing to tell a record exists.
        assert response.get_json() == {"error": {"code": "404", "message": vi("Not found.")}}, url
        assert _denied_reasons(app, path) == before, url


def test_a_role_that_may_not_acknowledge_alerts_is_refused_and_audited(app, as_user):
    path = "/tracing/alerts/1/acknowledge"
    before = _denied_reasons(app, path)
    response = as_user("ward.bennghe").post_form(path, headers=JSON)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "403"
    assert _denied_reasons(app, path) == before + ["tracing.alerts"]


def test_hidden_metrics_are_the_same_404_as_no_page_and_write_nothing(app):
    outside = {"REMOTE_ADDR": "203.0.113.5"}
    client = app.test_client()
    before = _audit_rows(app)
    hidden = client.get("/metrics", environ_base=outside, headers=JSON)
    missing = client.get("/no-such-page", environ_base=outside, headers=JSON)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json() == {"error": {"code": "404", "message": vi("Not found.")}}
    assert _audit_rows(app) == before
