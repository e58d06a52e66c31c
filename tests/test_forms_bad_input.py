"""Bad input answers with the field's error in the user's language and saves nothing; tax codes against
the published vectors."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.identifiers import clean_phone, clean_tax_code
from backoffice.models import Organization, Ward
from conftest import csrf_token
from factories import new_tax_code
from pages_support import Isolated, explain, field_errors, vi

Q1, Q3 = 760, 770
LONGER = ("Field cannot be longer than %(max)d character.", "Field cannot be longer than %(max)d characters.")


@pytest.fixture()
def as_user(app, as_user):
    return lambda username: Isolated(app, as_user(username))


def _ward(district: int) -> int:
    return db.session.scalar(select(Ward.code).where(Ward.district_code == district).order_by(Ward.code))


def _org_form(**overrides) -> dict:
    data = {"name": f"Công ty Dữ Liệu Sai {secrets.token_hex(3)}", "tax_code": new_tax_code(), "sector": "office",
            "address": "1 Lê Lợi", "district": Q1, "ward": _ward(Q1), "contact_name": "Lan",
            "phone": "0903123456", "email": "lan@example.vn", "workers_on_site": "5", "status": "active"}
    data.update(overrides)
    return data


def _count(name: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Organization).where(Organization.name == name))


CASES = {
    "bad tax code": ({"tax_code": "0100233480"}, "tax_code",
                     lambda: vi("Tax code %(code)s has a wrong check digit.", code="0100233480")),
    "ward outside district": ({"ward": "Q3"}, "ward", lambda: vi("This ward is not in the chosen district.")),
    "foreign phone": ({"phone": "+14155552671"}, "phone",
                      lambda: vi("%(value)s is not a valid Vietnamese phone number.", value="+14155552671")),
    "not a phone": ({"phone": "abc"}, "phone", lambda: vi("%(value)s is not a phone number.", value="abc")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_admin_organization_form_rejects_bad_input_in_vietnamese(as_user, ctx, case):
    overrides, field, message = CASES[case]
    if overrides.get("ward") == "Q3":
        overrides = {"ward": _ward(Q3)}
    data = _org_form(**overrides)
    response = as_user("admin").post_form("/admin/organization/new/", data)
    assert response.status_code == 200, explain(response)
    errors = field_errors(response.get_data(as_text=True))
    assert errors.get(field) == [message()], errors
    assert _count(data["name"]) == 0


def test_over_long_field_is_refused_in_vietnamese(as_user, ctx):
    name = "Công ty " + "Rất Dài " * 40
    response = as_user("admin").post_form("/admin/organization/new/", _org_form(name=name))
    assert response.status_code == 200
    errors = field_errors(response.get_data(as_text=True))
    assert list(errors) == ["name"], errors
    (message,) = errors["name"]
    assert "255" in message and message != "Field cannot be longer than 255 characters."
    assert message == vi(LONGER[0], domain="wtforms", plural=LONGER[1], n=255, max=255)
    assert _count(name) == 0


def test_bad_input_on_edit_changes_nothing(as_user, ctx):
    org = db.session.scalar(select(Organization).where(Organization.district_code == Q3).order_by(Organization.id))
    before = (org.tax_code, org.phone, org.ward_code, org.name)
    data = _org_form(name=org.name, tax_code="0100233480", phone="+14155552671", district=Q3, ward=_ward(Q1))
    response = as_user("admin").post_form(f"/admin/organization/edit/?id={org.id}", data)
    assert response.status_code == 200
    assert {"tax_code", "phone", "ward"} <= set(field_errors(response.get_data(as_text=True)))
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    assert (org.tax_code, org.phone, org.ward_code, org.name) == before


def _register(app, language: str | None = None, **overrides):
    client = Isolated(app, app.test_client())
    if language:
        token = csrf_token(client, "/register")
        client.post(f"/lang/{language}", data={"csrf_token": token, "next": "/register"})
    tag = secrets.token_hex(3)
    data = {"name": f"Cửa hàng Sai {tag}", "tax_code": new_tax_code(), "sector": "market", "address": "9 Pasteur",
            "ward": str(_ward(Q1)), "contact_name": "Mai", "phone": "0903123456", "email": f"m.{tag}@example.vn",
            "username": f"sai.{tag}", "password": "Mat-khau-2021", "confirm": "Mat-khau-2021"}
    data.update(overrides)
    data["csrf_token"] = csrf_token(client, "/register")
    return client.post("/register", data=data), data


def test_registration_form_errors_in_vietnamese_and_english(app, ctx):
    response, data = _register(app, tax_code="0100233480", phone="+14155552671", contact_name="M" * 200)
    assert response.status_code == 200
    errors = field_errors(response.get_data(as_text=True))
    assert errors["tax_code"] == [vi("Tax code %(code)s has a wrong check digit.", code="0100233480")]
    assert errors["phone"] == [vi("%(value)s is not a valid Vietnamese phone number.", value="+14155552671")]
    assert errors["contact_name"] == [vi(LONGER[0], domain="wtforms", plural=LONGER[1], n=128, max=128)]
    assert _count(data["name"]) == 0
    response, data = _register(app, language="en", tax_code="0100233480")
    assert field_errors(response.get_data(as_text=True))["tax_code"] == ["Tax code 0100233480 has a wrong check digit."]
    assert _count(data["name"]) == 0


# --- tax codes (DOMAIN.md §6; python-stdnum) ------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    ("0100047516", "0100047516"),
    ("0100233488", "0100233488"),
    ("0100047516-001", "0100047516-001"),      # a branch
    ("0100047516001", "0100047516-001"),       # a branch without its dash
    ("0100047516-999", "0100047516-999"),
    ("100047516", "0100047516"),               # a spreadsheet lost the leading zero
    (100047516, "0100047516"),
    (100047516.0, "0100047516"),
    ("100047516-002", "0100047516-002"),
    (" 0100 047 516 ", "0100047516"),
    ("0100.047.516", "0100047516"),
])
def test_valid_tax_codes(app, value, expected):
    with app.test_request_context():
        assert clean_tax_code(value) == expected


@pytest.mark.parametrize("value", [
    "0100233480",          # wrong check digit (the published invalid vector)
    "0100047517",
    "0100047516-000",      # branch 000 does not exist
    "0100047516-1",
    "01000475160001",
    "0000000000",
    "12345",
    "01000475AB",
    "",
    None,
])
def test_invalid_tax_codes(app, value):
    with app.test_request_context(), pytest.raises(ValueError):
        clean_tax_code(value)


def test_wrong_check_digit_is_named(app):
    with app.test_request_context(headers={"Accept-Language": "vi"}), pytest.raises(ValueError) as exc:
        clean_tax_code("0100233480")
    assert str(exc.value) == vi("Tax code %(code)s has a wrong check digit.", code="0100233480")


@pytest.mark.parametrize("value,expected", [("0903 123 456", "+84903123456"), ("+84 903 123 456", "+84903123456"),
                                            ("903123456", "+84903123456"), (903123456, "+84903123456"),
                                            ("028 3822 1234", "+842838221234")])
def test_vietnamese_phones(app, value, expected):
    with app.test_request_context():
        assert clean_phone(value) == expected


@pytest.mark.parametrize("value", ["+14155552671", "0903", "abc", "+44 20 7946 0958"])
def test_non_vietnamese_phones(app, value):
    with app.test_request_context(), pytest.raises(ValueError):
        clean_phone(value)
