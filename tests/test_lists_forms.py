"""The new-user form (no role chosen in advance, no "__None", password help per form), the
personal-QR cards list (pages with counts, print all of a search, names without diacritics, the last digits of the
ID, every page shown audited), the compliance list's search, and the signing keys page of the city admin."""
from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select

from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import AuditLog, Organization, Person, PersonalQRIssue, SigningKey, User
from backoffice.models.audit import PersonRead
from backoffice.scanning import keyring
from backoffice.search import fold
from factories import build_organization, new_person


def _marker() -> int:
    return db.session.scalar(select(func.max(AuditLog.id))) or 0


def _entries(marker: int, action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.id > marker, AuditLog.action == action)
                                   .order_by(AuditLog.id)))


def _read_persons(entry: AuditLog) -> set[int]:
    return set(db.session.scalars(select(PersonRead.person_id).where(PersonRead.audit_id == entry.id)))


def _rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-person="(\d+)"', html)]


# --- the new-user form -----------------------------------------------------------------------------------------

def test_new_user_form_chooses_no_role_and_shows_no_none(app, as_user):
    admin = as_user("admin")
    html = admin.get("/admin/user/new/").get_data(as_text=True)
    role = re.search(r'<select[^>]*id="role".*?</select>', html, re.S).group(0)
    assert "selected" not in role and '<option value="">— Chọn vai trò —</option>' in role.split("</option>")[0] + "</option>"
    assert "__None</option>" not in html and ">—</option>" in html
    # Create: the password is required and its help says what it must be, not "leave empty to keep".
    assert "Để trống nếu giữ nguyên mật khẩu hiện tại" not in html
    assert "Ít nhất 8 ký tự" in html
    assert re.search(r'<input[^>]*id="new_password"[^>]*required', html)
    with app.app_context():
        some_id = db.session.scalar(select(User.id).where(User.username == "inspector.q1"))
    edit = admin.get(f"/admin/user/edit/?id={some_id}").get_data(as_text=True)
    assert "Để trống nếu giữ nguyên mật khẩu hiện tại" in edit
    assert not re.search(r'<input[^>]*id="new_password"[^>]*required', edit)
    assert re.search(r'<option selected value="inspector">', edit)


def test_new_user_without_a_role_is_refused_and_saves_nothing(app, as_user):
    admin = as_user("admin")
    username = f"norole{secrets.token_hex(3)}"
    response = admin.post_form("/admin/user/new/", {"username": username, "full_name": "Không Vai Trò",
                                                    "new_password": "Correct-Horse-Battery-9", "role": "",
                                                    "active": "y"}, token_from="/admin/user/new/")
    assert response.status_code == 200  # the form again, with its error
    assert "Trường này là bắt buộc" in response.get_data(as_text=True) or "bắt buộc" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.username == username)) is None


# --- the personal-QR cards list ----------------------------------------------------------------------------------

def test_cards_list_pages_with_counts_and_audits_every_page(app, as_user):
    admin = as_user("admin")  # the whole city: more residents than one page
    with app.app_context():
        total = db.session.scalar(select(func.count(Person.id)))
        marker = _marker()
    assert total > 50
    first = admin.get("/admin/qr-cards/").get_data(as_text=True)
    assert f"1–50 / {total}" in first or f"1–50 trên {total}" in first
    seen = _rows(first)
    page = 2
    while "rel=\"next\"" in first or page == 2:
        html = admin.get(f"/admin/qr-cards/?page={page}").get_data(as_text=True)
        rows = _rows(html)
        assert rows and not set(rows) & set(seen)
        seen += rows
        if 'rel="next"' not in html:
            break
        page += 1
    assert len(seen) == total  # nothing stops at 50
    with app.app_context():
        reads = _entries(marker, "person.read")
        shown = set().union(*(_read_persons(e) for e in reads))
    assert shown == set(seen) and len(reads) == page  # one audited read per page shown


def test_cards_search_without_diacritics_and_by_last_digits(app, as_user):
    suffix = secrets.token_hex(3)
    with app.app_context():
        person = new_person(f"Nguyễn Văn Ấn Đức {suffix}", BEN_NGHE, green=False)
        db.session.commit()
        pid, tail = person.id, person.id_number[-4:]
        other_ward = new_person(f"Nguyễn Văn Ấn Đức {suffix}", 26734, green=False)  # Tân Định: out of ward.bennghe's scope
        db.session.commit()
        hidden = other_ward.id
        marker = _marker()
    ward = as_user("ward.bennghe")
    html = ward.get("/admin/qr-cards/", query_string={"q": f"nguyen van an duc {suffix}"}).get_data(as_text=True)
    assert _rows(html) == [pid]  # the other ward's namesake stays out of scope
    html = ward.get("/admin/qr-cards/", query_string={"q": f"NGUYEN VAN ẤN duc {suffix.upper()}"}).get_data(as_text=True)
    assert pid in _rows(html)
    html = ward.get("/admin/qr-cards/", query_string={"q": tail}).get_data(as_text=True)
    assert pid in _rows(html) and hidden not in _rows(html)
    with app.app_context():
        assert all(p.endswith(tail) for p in db.session.scalars(
            select(Person.id_number).where(Person.id.in_(_rows(html)))))
        reads = _entries(marker, "person.read")
        assert len(reads) == 3 and all(e.after["why"] == "card search" for e in reads)
        assert hidden not in set().union(*(_read_persons(e) for e in reads))


def test_print_all_of_a_search_prints_every_match_not_just_the_page(app, as_user):
    suffix = secrets.token_hex(3)
    with app.app_context():
        ids = [new_person(f"Lê Thị Lô In {suffix} {i:02d}", BEN_NGHE, green=False).id for i in range(3)]
        db.session.commit()
        marker = _marker()
    ward = as_user("ward.bennghe")
    q = f"le thi lo in {suffix}"
    html = ward.get("/admin/qr-cards/", query_string={"q": q}).get_data(as_text=True)
    assert 'id="print-all"' in html and "3" in re.search(r'id="print-all"[^>]*>([^<]*)<', html).group(1)
    response = ward.post_form("/admin/qr-cards/print", {"format": "pdf", "all_matching": "1", "q": q},
                              token_from="/admin/qr-cards/")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    with app.app_context():
        issued = db.session.scalars(select(PersonalQRIssue.person_id).where(PersonalQRIssue.id > 0,
                                                                           PersonalQRIssue.person_id.in_(ids))).all()
        assert sorted(issued) == sorted(ids)
        [printed] = [e for e in _entries(marker, "person.read") if e.after["why"] == "card print"]
        assert _read_persons(printed) == set(ids)


def test_print_all_of_a_too_big_search_is_refused_and_prints_nothing(app, as_user, monkeypatch):
    from backoffice.printing import cards
    monkeypatch.setattr(cards, "MAX_BATCH", 2)  # the limit, made small: the rule is what is tested
    suffix = secrets.token_hex(3)
    with app.app_context():
        ids = [new_person(f"Trần Văn Quá Nhiều {suffix} {i}", BEN_NGHE, green=False).id for i in range(3)]
        db.session.commit()
    response = as_user("ward.bennghe").post_form("/admin/qr-cards/print", {
        "format": "pdf", "all_matching": "1", "q": f"tran van qua nhieu {suffix}"}, token_from="/admin/qr-cards/")
    assert response.status_code == 400 and "2" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(PersonalQRIssue.person_id.in_(ids))) == 0


def test_fold_matches_the_database_fold(app):
    with app.app_context():
        name = "ĐẶNG Thị Ánh Nguyệt ỨNG Ỷ"
        expected = fold(name)
        from backoffice.search import folded, prepare
        from sqlalchemy import literal
        prepare(db.session)
        assert db.session.scalar(select(folded(literal(name)))) == expected == "dang thi anh nguyet ung y"


# --- the compliance list's search -------------------------------------------------------------------------------

def test_compliance_searches_by_name_without_diacritics_and_by_tax_code(app, as_user):
    with app.app_context():
        # The demo seeds one organization in District 1: another shows that the search narrows the list.
        db.session.add(build_organization())
        db.session.commit()
        org = db.session.scalar(select(Organization).where(Organization.district_code == 760,
                                                           Organization.name.like("%ế%") | Organization.name.like("%à%"))
                                .order_by(Organization.id).limit(1)) or \
            db.session.scalar(select(Organization).where(Organization.district_code == 760).limit(1))
        org_id, name, tax = org.id, org.name, org.tax_code
        others = db.session.scalar(select(func.count(Organization.id)).where(Organization.district_code == 760))
    inspector = as_user("inspector.q1")
    html = inspector.get("/admin/compliance/", query_string={"q": fold(name)}).get_data(as_text=True)
    rows = [int(x) for x in re.findall(r'<tr data-org="(\d+)"', html)]
    assert org_id in rows and len(rows) < others
    html = inspector.get("/admin/compliance/", query_string={"q": tax}).get_data(as_text=True)
    assert [int(x) for x in re.findall(r'<tr data-org="(\d+)"', html)] == [org_id]
    assert 'name="q" value="' + tax in html  # the search stays in the box
    html = inspector.get("/admin/compliance/", query_string={"q": "khong co don vi nao ten nay"}).get_data(as_text=True)
    assert re.findall(r'<tr data-org="(\d+)"', html) == []
    # The export follows the search.
    export = inspector.get("/admin/compliance/export", query_string={"q": tax})
    assert export.status_code == 200


# --- signing keys in the back office ----------------------------------------------------------------------------

def test_city_admin_lists_and_rotates_signing_keys_with_confirmation(app, as_user):
    admin = as_user("admin")
    with app.app_context():
        keyring.current_signer()  # a ring with a signer
        before = set(db.session.scalars(select(SigningKey.kid)))
        marker = _marker()
    html = admin.get("/admin/signing-keys/").get_data(as_text=True)
    for kid in before:
        assert kid in html
    assert "Mã khóa" in html and "Ký từ" in html and "Ngừng dùng" in html
    confirm = admin.get("/admin/signing-keys/rotate")
    assert confirm.status_code == 200 and 'id="rotate-form"' in confirm.get_data(as_text=True)
    with app.app_context():
        assert set(db.session.scalars(select(SigningKey.kid))) == before  # asking changes nothing
    # Without CSRF: refused, nothing made.
    assert admin.post("/admin/signing-keys/rotate", data={}).status_code == 400
    response = admin.post_form("/admin/signing-keys/rotate", {}, token_from="/admin/signing-keys/rotate")
    assert response.status_code == 302
    with app.app_context():
        after = set(db.session.scalars(select(SigningKey.kid)))
        [new] = after - before
        row = db.session.get(SigningKey, new)
        assert row.retired_at is None
        actions = [e.action for e in _entries(marker, "signing_key.rotate")]
        assert actions == ["signing_key.rotate"]
        entry = _entries(marker, "signing_key.rotate")[0]
        assert entry.actor_name == "admin" and entry.entity_id == new
    assert new in admin.get("/admin/signing-keys/").get_data(as_text=True)


def test_signing_keys_page_is_for_city_admins_only(app, as_user):
    for username in ("inspector.q1", "ward.bennghe", "org1.admin"):
        browser = as_user(username)
        assert browser.get("/admin/signing-keys/").status_code == 403
        assert browser.post_form("/admin/signing-keys/rotate", {}).status_code == 403
    with app.app_context():
        signer = keyring.current_signer().kid
    admin = as_user("admin")
    # The signer cannot be retired (the ring always has a key to sign with); an unknown key is 404.
    response = admin.post_form(f"/admin/signing-keys/{signer}/retire", {}, token_from="/admin/signing-keys/")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(SigningKey, signer).retired_at is None
    assert admin.get("/admin/signing-keys/NOSUCHKEY/retire").status_code == 404
