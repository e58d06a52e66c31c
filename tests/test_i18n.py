"""Vietnamese first, English on request: the login page, the language switch (anonymous and logged in), Flask-Admin's
own buttons, WTForms' messages, every role's user guide in both languages, and the completeness of the catalogs."""
from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import url_for

from backoffice import i18n
from backoffice.domain import Role
from backoffice.extensions import db
from conftest import DEMO_PASSWORD, csrf_token, get_user, login

ROOT = Path(__file__).resolve().parent.parent
# Packages that keep their own catalog in backoffice/<pkg>/translations; everything else is the foundation's.
CAPABILITY_PACKAGES = {"health", "scanning", "printing", "tracing", "api", "criteria", "imports", "reports"}
ROLE_USERS = {Role.CITY_ADMIN: "admin", Role.INSPECTOR: "inspector.q1", Role.WARD_OFFICER: "ward.bennghe",
              Role.ORG_ADMIN: "org1.admin", Role.CHECKPOINT_STAFF: "org1.staff"}


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    return match.group(1) if match else ""


def switch(client, code: str, next_path: str, page: str = "/login"):
    token = csrf_token(client, page)
    return client.post(f"/lang/{code}", data={"csrf_token": token, "next": next_path})


def english(client) -> None:
    """Choose English for this browser only (the session), leaving the shared demo user's profile alone."""
    with client.session_transaction() as session:
        session["lang"] = "en"


# --- login page and language switch -------------------------------------------------------------------------------

def test_login_page_is_vietnamese_by_default(app):
    response = app.test_client().get("/login")
    assert response.status_code == 200
    text = text_of(response)
    assert html_lang(response) == "vi"
    assert "Đăng nhập" in text and "Tên đăng nhập" in text and "Mật khẩu" in text
    assert "Đăng ký tổ chức, doanh nghiệp" in text
    assert "English" in text  # the switch offers the other language
    assert "Log in" not in text


def test_anonymous_switch_to_english_and_back(app):
    client = app.test_client()
    response = switch(client, "en", "/login")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    response = client.get("/login")
    text = text_of(response)
    assert html_lang(response) == "en"
    assert "Log in" in text and "Username" in text and "Register an organization" in text
    assert "Đăng nhập" not in text and "Tiếng Việt" in text

    assert switch(client, "vi", "/login").status_code == 302
    assert "Đăng nhập" in text_of(client.get("/login"))


def test_unknown_language_changes_nothing(app):
    client = app.test_client()
    assert switch(client, "fr", "/login").status_code == 302
    assert html_lang(client.get("/login")) == "vi"


def test_switch_refused_without_csrf_token(app):
    client = app.test_client()
    client.get("/login")
    assert client.post("/lang/en", data={"next": "/login"}).status_code == 400
    assert html_lang(client.get("/login")) == "vi"


def test_switch_does_not_redirect_off_site(app):
    client = app.test_client()
    response = switch(client, "en", "https://evil.example/")
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_language_survives_login_and_is_kept_in_the_profile(app):
    """A logged-in user switches from the account menu; the choice is saved on the account."""
    username = f"i18n.{uuid.uuid4().hex[:8]}"
    with app.app_context():
        from backoffice.auth import service
        service.create_user(username, DEMO_PASSWORD, Role.CITY_ADMIN.value, full_name="Kiểm thử ngôn ngữ",
                            password_policy=False)  # logs in with the demo password, like the seeded accounts
    client = app.test_client()
    assert login(client, username).status_code == 302
    home = client.get("/admin/")
    assert "Hướng dẫn sử dụng" in text_of(home) and "Đăng xuất" in text_of(home)

    assert switch(client, "en", "/admin/", page="/admin/").headers["Location"].endswith("/admin/")
    text = text_of(client.get("/admin/"))
    assert "User guide" in text and "Log out" in text and "Tiếng Việt" in text
    with app.app_context():
        assert get_user(username).locale == "en"

    # A new login on another browser starts in the account's language.
    other = app.test_client()
    assert login(other, username).status_code == 302
    assert "Log out" in text_of(other.get("/admin/"))


# --- Flask-Admin and WTForms ---------------------------------------------------------------------------------------

def test_flask_admin_list_page_is_vietnamese_by_default(as_user):
    response = as_user("admin").get("/admin/organization/")
    assert response.status_code == 200
    text = text_of(response)
    for words in ("Danh sách", "Tạo", "Thêm bộ lọc", "Tìm kiếm", "Với lựa chọn", "Xuất", "20 dòng",  # Flask-Admin
                  "Tổ chức, doanh nghiệp", "Mã số thuế", "Quận/huyện", "Phường/xã", "Hệ thống"):  # ours
        assert words in text, words
    for words in ("Add Filter", "With selected", "20 items", "Tax code"):
        assert words not in text, words


def test_flask_admin_list_page_in_english(as_user):
    browser = as_user("admin")
    english(browser.client)
    text = text_of(browser.get("/admin/organization/"))
    for words in ("List", "Create", "Add Filter", "Search", "With selected", "Organizations", "Tax code"):
        assert words in text, words
    assert "Thêm bộ lọc" not in text


def test_flask_admin_form_buttons_and_wtforms_errors_in_vietnamese(as_user, ctx):
    from backoffice.models import Organization
    browser = as_user("admin")
    page = browser.get("/admin/organization/new/").get_data(as_text=True)  # buttons are <input value="…">
    assert 'value="Lưu"' in page and 'value="Lưu và thêm bản ghi khác"' in page and "Hủy" in page
    before = db.session.query(Organization).count()
    response = browser.post_form("/admin/organization/new/", {"name": "", "tax_code": "0100233480"},
                                 token_from="/admin/organization/new/")
    assert response.status_code == 200
    text = text_of(response)
    assert "Vui lòng nhập thông tin này." in text  # WTForms' DataRequired, translated by our wtforms.po
    assert "có chữ số kiểm tra không đúng" in text  # the tax-code validator, from the foundation catalog
    assert "This field is required." not in text
    assert db.session.query(Organization).count() == before


def test_flask_wtf_form_errors_follow_the_language(app):
    client = app.test_client()
    token = csrf_token(client, "/login")
    text = text_of(client.post("/login", data={"username": "", "password": "", "csrf_token": token}))
    assert "Vui lòng nhập thông tin này." in text
    switch(client, "en", "/login")
    token = csrf_token(client, "/login")
    text = text_of(client.post("/login", data={"username": "", "password": "", "csrf_token": token}))
    assert "This field is required." in text


def test_error_pages_follow_the_language(app, as_user):
    browser = as_user("org1.admin")
    assert "Không tìm thấy." in text_of(browser.get("/no-such-page"))
    english(browser.client)
    assert "Not found." in text_of(browser.get("/no-such-page"))


# --- user guide ----------------------------------------------------------------------------------------------------

GUIDE_WORDS = {
    Role.CITY_ADMIN: ({"Duyệt đăng ký", "Người dùng và phân quyền", "Truy vết", "Nhập dữ liệu từ Excel"},
                      {"Approving registrations", "Users and roles", "Contact tracing", "Importing from Excel"}),
    Role.INSPECTOR: ({"Danh sách tuân thủ", "Kiểm tra, đánh giá đơn vị", "Báo cáo quận/huyện"},
                     {"Compliance list", "Inspecting an organization", "District report"}),
    Role.WARD_OFFICER: ({"In thẻ Mã QR cá nhân", "Đăng ký và tìm người dân"},
                        {"Printing personal QR cards", "Registering and finding residents"}),
    Role.ORG_ADMIN: ({"Địa điểm và Mã QR địa điểm", "Điểm kiểm soát và mã thiết bị", "Tự đánh giá"},
                     {"Locations and location QR codes", "Checkpoints and device tokens", "Self-assessment"}),
    Role.CHECKPOINT_STAFF: ({"Quét bằng máy quét mã vạch", "Quét bằng camera hoặc ảnh chụp"},
                            {"Scanning with a hardware scanner", "Scanning with the camera or a photo"}),
}


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_guide_renders_for_its_role_in_both_languages(app, as_user, role):
    browser = as_user(ROLE_USERS[role])
    home = browser.get("/admin/").get_data(as_text=True)
    with app.test_request_context():
        guide_url = url_for("guide.show")
        others = {r: url_for("guide.for_role", role=r.value) for r in Role}
    assert f'href="{guide_url}"' in home  # reachable from the account menu

    vi_words, en_words = GUIDE_WORDS[role]
    response = browser.get(guide_url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(response)
    assert f'data-role="{role.value}"' in html
    assert "Hướng dẫn sử dụng" in text and "Màu xanh, màu đen nghĩa là gì" in text
    assert "180 ngày" in text and "14 ngày" in text  # the rule of letter 1913
    for words in vi_words:
        assert words in text, words
    for other in Role:  # each guide links to the others
        assert f'href="{others[other]}"' in html
    assert "Mục lục" in text

    english(browser.client)
    response = browser.get(guide_url)
    text = text_of(response)
    assert response.status_code == 200 and html_lang(response) == "en"
    assert "User guide" in text and "What green and black mean" in text and "Contents" in text
    assert "180 days" in text and "14 days" in text
    for words in en_words:
        assert words in text, words
    assert "Màu xanh, màu đen nghĩa là gì" not in text


def test_every_guide_is_readable_by_any_user(as_user):
    browser = as_user("org1.staff")
    for role in Role:
        response = browser.get(f"/guide/{role.value}")
        assert response.status_code == 200, role
        assert f'data-role="{role.value}"' in response.get_data(as_text=True)
    assert browser.get("/guide/no_such_role").status_code == 404


def test_guide_needs_a_login(app):
    response = app.test_client().get("/guide/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- catalogs ------------------------------------------------------------------------------------------------------

def extract_msgids() -> dict[str, set[str]]:
    """Every msgid used in backoffice/ (python and templates), with babel's extraction and the repo's babel.cfg."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    backoffice_dir = str(ROOT / "backoffice")

    def only_backoffice(path: str) -> bool:
        # os.walk from the repository root (babel.cfg's patterns are relative to it), descending into backoffice/ only
        inside = path == backoffice_dir or path.startswith(backoffice_dir + os.sep)
        return inside and not Path(path).name.startswith((".", "__"))

    found: dict[str, set[str]] = defaultdict(set)
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, directory_filter=only_backoffice):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found[msgid].add(filename)
    return found


def merged_catalog() -> dict[str, object]:
    """msgid → translation over every catalog the app merges (a later directory wins, as at run time)."""
    merged: dict[str, object] = {}
    for directory in i18n.translation_directories():
        po = Path(directory) / "vi" / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            continue
        with po.open("rb") as handle:
            for message in read_po(handle):
                # Untranslated entries never reach the compiled .mo, so they hide nothing at run time either.
                if message.id and not message.fuzzy and _translated(message.string):
                    merged[message.id[0] if isinstance(message.id, tuple) else message.id] = message.string
    return merged


def _translated(value) -> bool:
    if isinstance(value, (tuple, list)):
        return bool(value) and all(v and v.strip() for v in value)
    return bool(value and value.strip())


_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]|%[sdif]")


def test_foundation_babel_cfg_extracts_lazy_labels():
    msgids = extract_msgids()
    assert "City administrator" in msgids  # _l(...) in domain.py
    assert "Log in" in msgids  # {{ _('…') }} in templates
    assert "Guides for each role" in msgids  # templates/guide/_base.html


def test_every_msgid_has_a_vietnamese_translation():
    """The final gate: every msgid of backoffice/ has a non-empty Vietnamese translation in the merged catalogs."""
    msgids = extract_msgids()
    catalog = merged_catalog()
    missing: dict[str, list[str]] = defaultdict(list)
    for msgid, files in sorted(msgids.items()):
        if not _translated(catalog.get(msgid)):
            parts = Path(sorted(files)[0]).parts
            package = parts[1] if len(parts) > 2 and parts[1] in CAPABILITY_PACKAGES else "foundation"
            missing[package].append(f"{msgid!r}  ({', '.join(sorted(files))})")
    if missing:
        report = "\n".join(f"[{pkg}] {len(items)} missing:\n    " + "\n    ".join(items)
                           for pkg, items in sorted(missing.items()))
        print(report)
        pytest.fail(f"{sum(map(len, missing.values()))} msgids without a Vietnamese translation:\n{report}")


def test_translations_keep_their_placeholders():
    """A msgstr that drops or renames a %(name)s placeholder would crash the page that formats it."""
    broken = []
    for directory in i18n.translation_directories():
        for po in sorted(Path(directory).glob("vi/LC_MESSAGES/*.po")):
            with po.open("rb") as handle:
                for message in read_po(handle):
                    if not message.id or not _translated(message.string):
                        continue
                    ids = message.id if isinstance(message.id, tuple) else (message.id,)
                    strings = message.string if isinstance(message.string, tuple) else (message.string,)
                    expected = set(_PLACEHOLDER.findall(ids[-1]))
                    for string in strings:
                        if set(_PLACEHOLDER.findall(string)) != expected:
                            broken.append(f"{po.relative_to(ROOT)}: {ids[0]!r} → {string!r}")
    assert not broken, "\n".join(broken)


def test_catalogs_compile(tmp_path):
    """Every catalog compiles; compiling again with nothing changed compiles nothing."""
    i18n.compile_catalogs(force=True)
    for directory in i18n.translation_directories():
        for po in Path(directory).glob("*/LC_MESSAGES/*.po"):
            assert po.with_suffix(".mo").stat().st_size > 0, po
    assert i18n.compile_catalogs() == []


def test_a_changed_catalog_is_compiled_again_even_when_its_time_goes_back(tmp_path, monkeypatch):
    """A .po replaced by an older copy (branch switch, `cp -p`) must not keep serving the newer .mo."""
    import os as _os
    po_dir = tmp_path / "translations" / "vi" / "LC_MESSAGES"
    po_dir.mkdir(parents=True)
    po = po_dir / "messages.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Hello"\nmsgstr "Xin chào"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "translation_directories", lambda: [str(tmp_path / "translations")])
    assert i18n.compile_catalogs() == [str(po)]
    assert i18n.compile_catalogs() == []
    before = po.stat().st_mtime_ns
    po.write_text(po.read_text(encoding="utf-8").replace("Xin chào", "Chào bạn"), encoding="utf-8")
    _os.utime(po, ns=(before - 10**9, before - 10**9))  # an older time than the .mo's
    assert i18n.compile_catalogs() == [str(po)]
    from babel.support import Translations
    assert Translations.load(str(tmp_path / "translations"), ["vi"]).gettext("Hello") == "Chào bạn"
    assert not list(po_dir.glob(".*.tmp"))
