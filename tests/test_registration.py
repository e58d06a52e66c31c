"""Organization self-registration: pending organization and inactive admin; the district's inspector (or the
city admin) approves or rejects; another district's inspector cannot; a duplicate tax code is refused."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import Organization, Ward
from conftest import csrf_token, get_user
from factories import new_tax_code
from pages_support import Isolated, alerts, field_errors, vi

Q1, Q3 = 760, 770
PASSWORD = "Dang-ky-2021-manh"


@pytest.fixture()
def as_user(app, as_user):
    return lambda username: Isolated(app, as_user(username))


def register(app, district: int = Q1, **overrides):
    ward = db.session.scalar(select(Ward.code).where(Ward.district_code == district).order_by(Ward.code))
    tag = secrets.token_hex(3)
    data = {"name": f"Cửa hàng Đăng Ký {tag}", "tax_code": new_tax_code(), "sector": "supermarket",
            "address": "5 Lê Thánh Tôn", "ward": str(ward), "contact_name": "Trần Thị Mai", "phone": "0903 123 456",
            "email": f"mai.{tag}@example.vn", "username": f"dk.{tag}", "password": PASSWORD, "confirm": PASSWORD}
    data.update(overrides)
    client = Isolated(app, app.test_client())
    data["csrf_token"] = csrf_token(client, "/register")
    return client.post("/register", data=data), data


def org_by_tax(tax_code: str) -> Organization | None:
    db.session.expire_all()
    return db.session.scalar(select(Organization).where(Organization.tax_code == tax_code))


def can_log_in(app, username: str) -> bool:
    client = Isolated(app, app.test_client())
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302


def test_registration_creates_a_pending_organization_and_an_inactive_admin(app, ctx):
    response, data = register(app)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    org = org_by_tax(data["tax_code"])
    assert org.status == "pending" and org.district_code == Q1 and str(org.ward_code) == data["ward"]
    assert org.phone == "+84903123456"
    user = get_user(data["username"])
    assert user.role == "org_admin" and user.organization_id == org.id and user.active is False
    assert not can_log_in(app, data["username"])


def test_inspector_of_the_district_approves(app, ctx, as_user):
    _, data = register(app)
    org = org_by_tax(data["tax_code"])
    inspector = as_user("inspector.q1")
    assert data["name"] in inspector.get("/admin/registration_admin/").get_data(as_text=True)
    response = inspector.post_form("/admin/registration_admin/action/", {"action": "approve", "rowid": [org.id]})
    assert response.status_code == 302
    org = org_by_tax(data["tax_code"])
    assert org.status == "active" and org.decided_by_id == get_user("inspector.q1").id
    assert get_user(data["username"]).active is True
    assert can_log_in(app, data["username"])
    # Decided: it leaves the list of registrations to approve.
    assert data["name"] not in inspector.get("/admin/registration_admin/").get_data(as_text=True)


def test_inspector_of_another_district_cannot_approve(app, ctx, as_user):
    _, data = register(app)
    org = org_by_tax(data["tax_code"])
    other = as_user("inspector.q3")
    assert data["name"] not in other.get("/admin/registration_admin/").get_data(as_text=True)
    for action in ("approve", "reject"):
        response = other.post_form("/admin/registration_admin/action/", {"action": action, "rowid": [org.id]})
        assert response.status_code == 302
    assert org_by_tax(data["tax_code"]).status == "pending"
    assert get_user(data["username"]).active is False
    # Roles without the view are refused outright.
    response = as_user("org1.admin").post_form("/admin/registration_admin/action/",
                                               {"action": "approve", "rowid": [org.id]})
    assert response.status_code == 403
    assert org_by_tax(data["tax_code"]).status == "pending"


def test_city_admin_rejects(app, ctx, as_user):
    _, data = register(app, district=Q3)
    org = org_by_tax(data["tax_code"])
    response = as_user("admin").post_form("/admin/registration_admin/action/", {"action": "reject",
                                                                                "rowid": [org.id]})
    assert response.status_code == 302
    assert org_by_tax(data["tax_code"]).status == "rejected"
    assert get_user(data["username"]).active is False
    assert not can_log_in(app, data["username"])


def test_duplicate_tax_code_is_refused_with_a_clear_message(app, ctx):
    taken = db.session.get(Organization, get_user("org1.admin").organization_id).tax_code
    count = db.session.scalar(select(func.count()).select_from(Organization))
    response, data = register(app, tax_code=taken)
    assert response.status_code == 200
    errors = field_errors(response.get_data(as_text=True))
    assert errors.get("tax_code") == [vi("An organization with this tax code is already registered.")]
    assert db.session.scalar(select(func.count()).select_from(Organization)) == count
    assert get_user(data["username"]) is None
    # Written differently (spaces, the leading zero lost) it is still the same code.
    response, _ = register(app, tax_code=" " + taken.lstrip("0")[:3] + " " + taken.lstrip("0")[3:])
    assert field_errors(response.get_data(as_text=True)).get("tax_code") == [
        vi("An organization with this tax code is already registered.")]


def test_registration_page_is_public_and_in_vietnamese(app):
    client = Isolated(app, app.test_client())
    response = client.get("/register")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert vi("Register an organization") in html
    assert not alerts(html)
