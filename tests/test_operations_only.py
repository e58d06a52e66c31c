"""Every write of a Flask-Admin view is an operation's (`backoffice/<package>/service.py`, the device tokens'
`scanning/devices.py`), never Flask-Admin's own model writing.

Two checks. Statically: every registered model view whose policy lets some role create, edit or delete uses the
scoped base's create_model / update_model / delete_model (which call the view's operation) and names the operation
for each verb it allows. At run time: real POSTs to every create, edit and delete form, with a `before_flush`
listener that records, for each flush of a domain row, whether an operation module is on the call stack; a view
writing through Flask-Admin's default path (populate the model, commit) flushes with none there and fails.
"""
from __future__ import annotations

import re
import secrets
import traceback
from datetime import date

import pytest
from flask_admin.model import BaseModelView
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from backoffice.admin.base import ScopedModelView
from backoffice.extensions import db
from backoffice.models import (
    AuditLog, Checkpoint, DeviceToken, Location, Organization, Person, Recovery, Staff, TestResult, User, UserSession,
    Vaccination, Ward,
)
from backoffice.models.audit import PersonRead
from conftest import get_user
from factories import new_id_number, new_tax_code
from pages_support import as_multidict, model_form

Q1, BEN_NGHE = 760, 26740
VERBS = {"create": ("create_model", "create_record"), "edit": ("update_model", "update_record"),
         "delete": ("delete_model", "delete_record")}
# Operation modules: a package's service, the record steps its operations share, the device tokens' operations.
OPERATION = re.compile(r"backoffice/(\w+/service|scanning/devices|records)\.py$")
# Rows every request may write beside the domain's: the audit log, read records, the login session.
BOOKKEEPING = (AuditLog, PersonRead, UserSession)


def _model_views(app):
    admin = app.extensions["backoffice_admin"]
    return [v for v in admin._views if isinstance(v, BaseModelView)]


def _writable(view) -> set[str]:
    return {verb for verbs in view.access.values() for verb in verbs if verb in VERBS}


def test_every_model_view_writes_through_an_operation(app):
    views = _model_views(app)
    assert views
    for view in views:
        cls = type(view)
        assert isinstance(view, ScopedModelView), f"{cls.__name__} is not a ScopedModelView"
        for verb in _writable(view):
            writer, operation = VERBS[verb]
            if verb == "create" and cls.create_view is not BaseModelView.create_view:
                continue  # its own create page (device tokens): the run-time check below covers it
            assert getattr(cls, writer) is getattr(ScopedModelView, writer), \
                f"{cls.__name__}.{writer} is overridden: a write must go through the view's {operation}"
            assert view.operations is not None or getattr(cls, operation) is not getattr(ScopedModelView, operation), \
                f"{cls.__name__} allows {verb!r} but names no operation (operations, or its own {operation})"


def _in_operation() -> tuple[bool, str]:
    stack = traceback.extract_stack()
    by_operation = any(OPERATION.search(frame.filename.replace("\\", "/")) for frame in stack)
    where = next((f"{f.filename}:{f.lineno}" for f in reversed(stack) if "/backoffice/" in f.filename), "?")
    return by_operation, where


class Flushes:
    """The domain rows each flush writes, and whether an operation wrote them: a row an operation added to the
    session or flushed is the operation's for the rest of the request (it may leave a change to the caller's
    commit: a positive test's trace case gets its summary after its first flush); any other row must be flushed
    with an operation on the stack."""

    def __init__(self):
        self.seen: list[tuple[set[str], bool, str]] = []
        self.owned: dict[int, object] = {}

    def _own(self, instances) -> None:
        for obj in instances:
            self.owned[id(obj)] = obj

    def on_add(self, session, instance) -> None:
        if _in_operation()[0]:
            self._own([instance])

    def __call__(self, session, flush_context, instances):
        rows = [o for o in (*session.new, *session.dirty, *session.deleted) if not isinstance(o, BOOKKEEPING)]
        if not rows:
            return
        by_operation, where = _in_operation()
        if by_operation:
            self._own(rows)
        for obj in rows:
            self.seen.append(({type(obj).__name__}, by_operation or self.owned.get(id(obj)) is obj, where))

    def take(self) -> list[tuple[set[str], bool, str]]:
        seen, self.seen, self.owned = self.seen, [], {}
        return seen


@pytest.fixture()
def flushes(app):
    recorder = Flushes()
    event.listen(Session, "transient_to_pending", recorder.on_add)
    event.listen(Session, "before_flush", recorder)
    yield recorder
    event.remove(Session, "before_flush", recorder)
    event.remove(Session, "transient_to_pending", recorder.on_add)


def _one(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(model).where(*where).order_by(model.id.desc()))


def _edited(browser, endpoint: str, record_id: int, **changes):
    page = browser.get(f"/admin/{endpoint}/edit/?id={record_id}")
    assert page.status_code == 200
    fields = model_form(page.get_data(as_text=True))["fields"]
    return browser.post(f"/admin/{endpoint}/edit/?id={record_id}", data=as_multidict(fields, **changes))


def _deleted(browser, endpoint: str, record_id: int):
    return browser.post_form(f"/admin/{endpoint}/delete/", {"id": str(record_id)})


def test_every_form_write_runs_inside_an_operation(app, as_user, ctx, flushes):
    admin, org_admin = as_user("admin"), as_user("org1.admin")
    done: set[tuple[str, str]] = set()
    tag = secrets.token_hex(3)

    def check(endpoint: str, verb: str, response, model: type) -> None:
        assert response.status_code in (200, 302), (endpoint, verb, response.status_code)
        seen = flushes.take()
        assert any(model.__name__ in names for names, _op, _where in seen), \
            f"{endpoint} {verb}: no {model.__name__} was written"
        outside = [(names, where) for names, op, where in seen if not op]
        assert not outside, f"{endpoint} {verb} wrote outside an operation: {outside}"
        done.add((endpoint, verb))

    def crud(endpoint: str, model: type, form: dict, find, change: dict, browser=admin) -> int:
        flushes.take()
        check(endpoint, "create", browser.post_form(f"/admin/{endpoint}/new/", form), model)
        record = find()
        assert record is not None, f"{endpoint}: nothing created"
        check(endpoint, "edit", _edited(browser, endpoint, record.id, **change), model)
        return record.id

    ward = db.session.get(Ward, BEN_NGHE)
    org_id = crud("organization", Organization, {
        "name": f"Công ty Thao Tác {tag}", "tax_code": new_tax_code(), "sector": "office", "address": "1 Lê Lợi",
        "district": ward.district_code, "ward": BEN_NGHE, "contact_name": "Lan", "phone": "0903123456",
        "email": "a@example.vn", "workers_on_site": "5", "status": "active"},
        lambda: _one(Organization, Organization.name == f"Công ty Thao Tác {tag}"), {"contact_name": "Mai"})
    location_id = crud("location", Location, {"organization": org_id, "name": f"Kho {tag}", "address": "x",
                                              "active": "y"},
                       lambda: _one(Location, Location.name == f"Kho {tag}"), {"address": "y"})
    checkpoint_id = crud("checkpoint", Checkpoint, {"location": location_id, "name": f"Cổng {tag}",
                                                    "direction": "entry", "active": "y"},
                         lambda: _one(Checkpoint, Checkpoint.name == f"Cổng {tag}"), {"name": f"Cổng B {tag}"})
    staff_id = crud("staff", Staff, {"organization": org_id, "full_name": f"Nhân Viên {tag}",
                                     "id_number": new_id_number(), "phone": "", "position": "Bảo vệ", "active": "y"},
                    lambda: _one(Staff, Staff.full_name == f"Nhân Viên {tag}"), {"position": "Lễ tân"})
    id_number = new_id_number()
    person_id = crud("person", Person, {"full_name": f"Cư Dân {tag}", "id_type": "cccd", "id_number": id_number,
                                        "birth_date": "1990-05-05", "gender": "", "phone": "", "address": "",
                                        "ward": str(BEN_NGHE)},
                     lambda: _one(Person, Person.id_number == id_number), {"address": "3 Hàm Nghi"})
    vaccination_id = crud("vaccination", Vaccination, {"person": person_id, "vaccine": "pfizer", "dose_number": "1",
                                                       "vaccinated_on": "2021-08-02"},
                          lambda: _one(Vaccination, Vaccination.person_id == person_id), {"dose_number": "2"})
    test_id = crud("testresult", TestResult, {"person": person_id, "kind": "pcr", "result": "negative",
                                              "tested_at": "2021-10-01 08:00:00"},
                   lambda: _one(TestResult, TestResult.person_id == person_id), {"result": "positive"})
    recovery_id = crud("recovery", Recovery, {"person": person_id, "recovered_on": "2021-09-01"},
                       lambda: _one(Recovery, Recovery.person_id == person_id),
                       {"recovered_on": date(2021, 9, 2).isoformat()})
    username = f"thaotac.{tag}"
    user_id = crud("user", User, {"username": username, "full_name": "Thanh Tra Thử", "role": "inspector",
                                  "districts": [Q1], "new_password": "Str0ng-pass-2021-xyz", "active": "y"},
                   lambda: get_user(username), {"full_name": "Thanh Tra Đổi", "new_password": "Another-str0ng-42x"})

    flushes.take()
    org1_checkpoint = db.session.scalar(select(Checkpoint.id).where(
        Checkpoint.organization_id == get_user("org1.admin").organization_id, Checkpoint.active.is_(True)))
    response = org_admin.post_form("/admin/devicetoken/new/", {"name": f"Máy {tag}", "checkpoint": org1_checkpoint})
    check("devicetoken", "create", response, DeviceToken)

    for endpoint, model, record_id in (("user", User, user_id), ("recovery", Recovery, recovery_id),
                                       ("testresult", TestResult, test_id),
                                       ("vaccination", Vaccination, vaccination_id), ("person", Person, person_id),
                                       ("staff", Staff, staff_id), ("checkpoint", Checkpoint, checkpoint_id),
                                       ("location", Location, location_id),
                                       ("organization", Organization, org_id)):
        check(endpoint, "delete", _deleted(admin, endpoint, record_id), model)
        assert db.session.scalar(select(model.id).where(model.id == record_id)) is None, f"{endpoint}: not deleted"

    writable = {(view.endpoint, verb) for view in _model_views(app) for verb in _writable(view)}
    assert writable <= done, f"add a scenario for {sorted(writable - done)}"


# --- the operations themselves ----------------------------------------------------------------------------------

def test_one_function_issues_a_residents_qr_reference():
    """`models.people.new_qr_ref` is the only maker of QR references: the admin form's operation, the card desk, the
    residents' import, the declared visitor and the demo seed all call it."""
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "backoffice"
    makers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "token_urlsafe(12)" in p.read_text("utf-8"))
    assert makers == ["models/people.py"]
    for caller in ("people/service.py", "imports/kinds/residents.py", "scanning/service.py", "demo/seed.py"):
        assert "new_qr_ref()" in (root / caller).read_text("utf-8"), caller
    assert "people.PERSONS.create(" in (root / "printing/cards.py").read_text("utf-8")


def test_a_registered_resident_gets_a_qr_reference_that_an_edit_keeps(ctx):
    from backoffice.people import service as people
    admin = get_user("admin")
    marker = db.session.scalar(select(func.max(AuditLog.id))) or 0
    person = people.PERSONS.create(admin, {"full_name": "Cư Dân Mã QR", "id_type": "cccd", "id_number": new_id_number(),
                                          "gender": "", "ward": db.session.get(Ward, BEN_NGHE)})
    ref = person.qr_ref
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", ref) and person.gender is None
    people.PERSONS.update(admin, person, {"address": "5 Hàm Nghi"})
    assert person.qr_ref == ref
    entries = db.session.scalars(select(AuditLog.action).where(AuditLog.id > marker, AuditLog.entity == "persons",
                                                               AuditLog.entity_id == str(person.id))
                                 .order_by(AuditLog.id)).all()
    assert entries == ["persons.create", "persons.update"]
    db.session.rollback()


def test_an_operation_refuses_a_record_out_of_the_actors_scope(ctx):
    from backoffice.errors import OutOfRole
    from backoffice.orgs import service as orgs
    org2 = db.session.get(Organization, get_user("org2.admin").organization_id)
    with pytest.raises(OutOfRole):
        orgs.LOCATIONS.create(get_user("org1.admin"), {"organization": org2, "name": f"Kho {secrets.token_hex(3)}"})
    db.session.rollback()


def test_a_staff_members_new_id_number_drops_the_link(ctx):
    from backoffice.errors import Invalid
    from backoffice.orgs import service as orgs
    from backoffice.staff import service as staff_links
    actor = get_user("org1.admin")
    org = db.session.get(Organization, actor.organization_id)
    # A resident no staff row names yet: not linked anywhere, and no typed ID of this organization's staff.
    resident = db.session.scalar(select(Person).where(
        Person.id.not_in(select(Staff.person_id).where(Staff.person_id.is_not(None))),
        Person.id_number.not_in(select(Staff.id_number).where(Staff.organization_id == org.id,
                                                              Staff.id_number.is_not(None)))).order_by(Person.id))
    staff = orgs.STAFF.create(actor, {"organization": org, "full_name": "Nhân Viên Liên Kết",
                                      "id_number": resident.id_number})
    assert staff_links.link(staff, resident.id, staff_links.WARD, actor=actor, now=staff.created_at)
    orgs.STAFF.update(actor, staff, {"position": "Bảo vệ", "id_number": resident.id_number})
    assert staff.person_id == resident.id  # the same ID number: the link stands
    orgs.STAFF.update(actor, staff, {"id_number": new_id_number()})
    assert staff.person_id is None and staff.link_method is None
    with pytest.raises(Invalid):
        orgs.STAFF.update(actor, staff, {"id_number": "12"})
    db.session.rollback()


def test_an_administrator_sets_a_password_through_set_password(app, as_user, fresh_login, ctx):
    from backoffice.auth import service as accounts
    username = f"datmk.{secrets.token_hex(3)}"
    password = "Initial-str0ng-pass-77"
    target = accounts.create_user(username, password, "inspector", full_name="Thanh Tra Đặt Mật Khẩu",
                                  district_codes=[Q1])
    target_id = target.id
    marker = db.session.scalar(select(func.max(AuditLog.id))) or 0
    own = fresh_login(username, password)
    assert own.get("/admin/").status_code == 200
    admin = as_user("admin")
    response = _edited(admin, "user", target_id, new_password="Thanh Tra Đặt Mật Khẩu")
    assert response.status_code == 200 and "quá dễ đoán" in response.get_data(as_text=True)  # the name as password
    response = _edited(admin, "user", target_id, new_password="Brand-new-str0ng-88")
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, target_id)
    assert user.must_change_password and user.password_changed_at is not None
    assert own.get("/admin/").status_code == 302  # the user's sessions ended
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.id > marker, AuditLog.entity == "users",
                                                               AuditLog.entity_id == str(target_id))
                                 .order_by(AuditLog.id)).all()
    assert actions[-2:] == ["user.password_set", "users.update"]
