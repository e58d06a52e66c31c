"""Importing organizations: an office's own sheet, each kind of row error at its cell, scope, atomicity (also
when the process is killed mid-import), the CLI."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.imports import service, staging
from backoffice.models import AuditLog, ImportRecord, Organization, User
from conftest import get_user
from factories import tax_codes
from imports_support import ORG_HEADER, org_row, write, xlsx



@pytest.fixture(autouse=True)
def english(ctx):
    """Messages are asserted in English; the wizard test checks the Vietnamese default."""
    with force_locale("en"):
        yield

def preview(user, path: Path, kind: str = "organizations") -> ImportRecord:
    record = service.receive_path(user, kind, path)
    return service.run_preview(record, user)


def apply(record, user, skip: bool = False, accounts: bool = False) -> ImportRecord:
    return service.run_apply(service.confirm(record, user, skip_errors=skip, create_accounts=accounts), user)


def lines(record) -> list[dict]:
    return list(staging.read_lines(record.options["token"]))


def org(code: str) -> Organization | None:
    db.session.expire_all()
    return db.session.scalar(select(Organization).where(Organization.tax_code == code))


def test_office_sheet(ctx, tmp_path):
    """Title rows with a merged cell, header on row 4 with variant names, numbers that lost their zeros,
    +84 and landline phones, numbers stored as text, spellings of districts and wards, trailing blank rows."""
    admin = get_user("admin")
    a, b, c, d = tax_codes(4)
    header = ["STT", "Tên đơn vị", "MST", "Địa chỉ trụ sở", "Quận", "Phường", "Lĩnh vực", "Người liên hệ", "SĐT",
              "E-mail", "Số người lao động", "Ghi chú"]
    rows = [
        header,
        [1, "Nhà hàng Sen Vàng", int(a), "5 Lê Lợi", "Q.1", "P. Bến Thành", "Nhà hàng", "Lê Thị Hoa", 903123456,
         "Hoa@Example.VN", "1.200", "mới"],
        [2, "Công ty CP Dệt Sài Gòn", f"{b}-001", "8 Võ Văn Tần", "quan 3", "P.2", "Doanh nghiệp, cơ sở sản xuất",
         "Trần Văn Bảo", "+84 28 3829 1234", "", 350.0, None],
        [3, "Siêu thị Phú Mỹ", c, "1 Tỉnh lộ 8", "Huyện Củ Chi", "TT Củ Chi", "Siêu thị", "", "+84903000111",
         None, "45", None],
        [4, "Trường Tiểu học Linh Xuân", d, "2 Kha Vạn Cân", "TP. Thủ Đức", "Linh Xuân", "Trường học", None,
         "0283 896 1234", "truong@example.edu.vn", 60, None],
    ]
    data = xlsx(rows, before=[["DANH SÁCH DOANH NGHIỆP TRÊN ĐỊA BÀN"], ["(Kèm theo công văn số 123/UBND)"], []],
                merge="A1:L1", trailing_blank=30)
    record = preview(admin, write(tmp_path, "ds.xlsx", data))
    assert record.state == service.PREVIEWED, record.options
    assert record.options["header_row"] == 4
    assert record.counts == {"new": 4, "update": 0, "unchanged": 0, "error": 0}
    assert set(record.options["ignored"]) == {"STT", "Ghi chú"}

    record = apply(record, admin)
    assert record.state == service.APPLIED and record.counts["new"] == 4
    first, second, third, fourth = org(a), org(f"{b}-001"), org(c), org(d)
    assert first.tax_code.startswith("0") and first.district_code == 760 and first.ward_code == 26743
    assert (first.phone, first.email, first.workers_on_site, first.sector) == \
        ("+84903123456", "Hoa@example.vn", 1200, "food_service")
    assert (second.ward_code, second.phone, second.sector, second.workers_on_site) == \
        (27157, "+842838291234", "enterprise", 350)
    assert (third.ward_code, third.sector, fourth.district_code, fourth.sector) == (27496, "supermarket", 769,
                                                                                  "school")
    assert fourth.status == "active" and len(fourth.qr_token) >= 20
    # One audit entry for the whole import, with its counts.
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "import.apply",
                                                     AuditLog.entity_id == str(record.id)))
    assert entry.after["counts"]["new"] == 4

    # The same file again: nothing to do. One changed cell: an update showing old → new.
    again = preview(admin, write(tmp_path, "ds2.xlsx", data))
    assert again.counts == {"new": 0, "update": 0, "unchanged": 4, "error": 0}
    service.cancel(again, admin)
    rows[1][1] = "Nhà hàng Sen Vàng Quận 1"
    rows[2][7] = ""  # an empty cell keeps the current value
    changed = preview(admin, write(tmp_path, "ds3.xlsx", xlsx(rows, before=[["DANH SÁCH"], [], []])))
    assert changed.counts == {"new": 0, "update": 1, "unchanged": 3, "error": 0}
    update = next(line for line in lines(changed) if line["s"] == "update")
    assert update["r"] == 5 and list(update["c"].values()) == [["Nhà hàng Sen Vàng", "Nhà hàng Sen Vàng Quận 1"]]
    apply(changed, admin)
    assert org(a).name == "Nhà hàng Sen Vàng Quận 1" and org(f"{b}-001").contact_name == "Trần Văn Bảo"


def test_each_row_error_at_its_cell(ctx, tmp_path):
    admin = get_user("admin")
    good, dup, other = tax_codes(3)
    bad_digit = good[:-1] + str((int(good[-1]) + 1) % 10)
    rows = [ORG_HEADER,
            org_row(good),                                                   # row 2: fine
            org_row(bad_digit),                                              # 3: check digit → B3
            org_row(f"{other}-000"),                                         # 4: branch suffix → B4
            org_row(dup), org_row(dup),                                      # 5 fine, 6: duplicate → B6
            org_row(tax_codes(1)[0], district="Quận 3", ward="Bến Nghé"),    # 7: ward outside district → E7
            org_row(tax_codes(1)[0], phone="12345"),                         # 8: phone → H8
            org_row(tax_codes(1)[0], email="not-an-email"),                  # 9: e-mail → I9
            org_row(tax_codes(1)[0], workers=-5),                            # 10: workers → J10
            org_row(tax_codes(1)[0], workers="nhiều"),                       # 11: workers → J11
            [None, *org_row(tax_codes(1)[0])[1:]],                           # 12: required → A12
            org_row(tax_codes(1)[0], name="=HYPERLINK(\"http://x\")"),       # 13: formula → A13
            org_row(tax_codes(1)[0], district="Quận 2"),                     # 14: unknown district → D14
            org_row(tax_codes(1)[0], sector="Karaoke"),                      # 15: sector → F15
            ]
    record = preview(admin, write(tmp_path, "errors.xlsx", xlsx(rows)))
    assert record.counts == {"new": 2, "update": 0, "unchanged": 0, "error": 12}
    errors = {line["r"]: line["e"] for line in lines(record) if line["s"] == "error"}
    expected = {3: ("B", "check digit"), 4: ("B", "not valid"), 6: ("B", "row 5"), 7: ("E", "Quận 3"),
                8: ("H", "phone"), 9: ("I", "e-mail"), 10: ("J", "greater than zero"), 11: ("J", "nhiều"),
                12: ("A", "required"), 13: ("A", "formula"), 14: ("D", "Quận 2"), 15: ("F", "Karaoke")}
    assert set(errors) == set(expected)
    for row, (letter, fragment) in expected.items():
        [(got_letter, header, message)] = errors[row]
        assert got_letter == letter, (row, errors[row])
        assert header == ORG_HEADER[ord(letter) - ord("A")]
        assert fragment.lower() in message.lower(), (row, message)

    # The error report: the uploaded rows with errors, the row number and an error column; formula-safe.
    book = load_workbook(io.BytesIO(db.session.get(ImportRecord, record.id).error_report))
    sheet = book.active
    assert [c.value for c in sheet[1]][:3] == ["Row", "Tên doanh nghiệp", "Mã số thuế"]
    by_row = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    assert set(by_row) == set(expected)
    assert "B3" in by_row[3][-1].value and "Mã số thuế" in by_row[3][-1].value
    assert by_row[13][1].value.startswith("=HYPERLINK") and by_row[13][1].data_type == "s"

    # Blocking errors: nothing can be confirmed; skipping them imports the two valid rows only.
    with pytest.raises(service.ImportRefused, match="12"):
        service.confirm(record, admin, skip_errors=False)
    done = apply(db.session.get(ImportRecord, record.id), admin, skip=True)
    assert done.counts["new"] == 2 and done.counts["error"] == 12
    assert org(good) and org(dup) and not org(other + "-000")


def test_csv_import(ctx, tmp_path):
    admin = get_user("admin")
    code = tax_codes(1)[0]
    # A new organization states its sector (never a silent "Khác").
    text = ("Tên doanh nghiệp;MST;Quận/Huyện;Phường/Xã;SĐT;Ngành\r\n"
            "Cửa hàng Ánh Dương;{};Q1;P. Tân Định;0903 555 666;Siêu thị\r\n")
    path = write(tmp_path, "ds.csv", ("\ufeff" + text.format(int(code))).encode())
    record = apply(preview(admin, path), admin)
    assert record.state == service.APPLIED
    assert (org(code).ward_code, org(code).phone) == (26734, "+84903555666")


def test_inspector_scope(ctx, tmp_path):
    """A Quận 1 inspector's file with a Quận 3 row, and a row that would change a Quận 3 organization."""
    inspector = get_user("inspector.q1")
    mine, theirs = tax_codes(2)
    rows = [ORG_HEADER, org_row(mine), org_row(theirs, district="Quận 3", ward="Phường 02"),
            org_row("0100233488", name="Đổi tên trái phép")]  # org2 of the demo data, in Quận 3
    record = preview(inspector, write(tmp_path, "q1.xlsx", xlsx(rows)))
    # Both error rows lie outside the inspector's districts, counted apart.
    assert record.counts == {"new": 1, "update": 0, "unchanged": 0, "error": 2, "outside": 2}
    assert record.district_code == 760
    errors = {line["r"]: line["e"][0] for line in lines(record) if line["s"] == "error"}
    assert errors[3][0] == "D" and "outside your districts" in errors[3][2]
    assert errors[4][0] == "B" and "outside your scope" in errors[4][2]
    apply(record, inspector, skip=True)
    assert org(mine) and not org(theirs) and org("0100233488").name != "Đổi tên trái phép"
    # The Quận 3 inspector does not see this import.
    assert service.get(record.id, get_user("inspector.q3")) is None
    assert service.get(record.id, inspector) is not None


def test_failure_on_the_last_row_leaves_nothing(app, ctx, tmp_path):
    """Rows checked at preview; before confirm, someone creates the last row's tax code in Quận 3. The apply
    (chunks of 2, so earlier rows were already written in the transaction) fails on the last row."""
    inspector = get_user("inspector.q1")
    codes = tax_codes(5)
    record = preview(inspector, write(tmp_path, "five.xlsx", xlsx([ORG_HEADER, *[org_row(c) for c in codes]])))
    assert record.counts["new"] == 5
    db.session.add(Organization(name="Đơn vị khác", tax_code=codes[-1], district_code=770, ward_code=27157))
    db.session.commit()
    audit_before = db.session.scalar(select(func.count()).select_from(AuditLog))
    app.config["IMPORT_CHUNK_SIZE"] = 2
    try:
        record = apply(record, inspector)
    finally:
        app.config.pop("IMPORT_CHUNK_SIZE")
    assert record.state == service.REJECTED and "Row 6" in record.options["message"]
    assert db.session.scalar(select(func.count()).select_from(Organization)
                             .where(Organization.tax_code.in_(codes[:-1]))) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "import.apply")
                             .where(AuditLog.entity_id == str(record.id))) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audit_before


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from flask_babel import force_locale
    from backoffice import create_app
    from backoffice.imports import service
    from backoffice.imports.cli import CliUser
    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "t", "IMPORT_CHUNK_SIZE": 10})
    with app.app_context(), force_locale("en"):
        user = CliUser()
        record = service.run_preview(service.receive(user, "organizations", open(sys.argv[2], "rb"), "k.xlsx"), user)
        record = service.confirm(record, user, skip_errors=False)
        def progress(done, total, phase):
            if done >= 20:
                print("WRITTEN", done, flush=True)
                time.sleep(60)
        service.run_apply(record, user, progress=progress)
        print("FINISHED", flush=True)
""")


def test_killed_process_leaves_nothing(app, ctx, tmp_path):
    codes = tax_codes(40)
    path = write(tmp_path, "kill.xlsx", xlsx([ORG_HEADER, *[org_row(c) for c in codes]]))
    env = dict(os.environ, BACKOFFICE_INSTANCE=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, app.config["SQLALCHEMY_DATABASE_URI"], str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=Path(__file__).resolve().parent.parent)
    try:
        line = process.stdout.readline()
        assert line.startswith("WRITTEN"), (line, process.stderr.read() if process.poll() is not None else "")
        db.session.remove()
        process.send_signal(signal.SIGKILL)  # mid-transaction: 20 rows written, not committed
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert db.session.scalar(select(func.count()).select_from(Organization)
                             .where(Organization.tax_code.in_(codes))) == 0
    record = db.session.scalar(select(ImportRecord).where(ImportRecord.filename == "k.xlsx")
                               .order_by(ImportRecord.id.desc()))
    assert record.state == service.APPLYING  # it never finished; shown as failed once its progress is stale
    app.config["IMPORT_STALL_SECONDS"] = 0
    try:
        assert service.effective_state(record) == service.FAILED
    finally:
        app.config.pop("IMPORT_STALL_SECONDS")


def test_admin_accounts_with_one_time_passwords(ctx, tmp_path):
    admin = get_user("admin")
    new, existing = tax_codes(2)
    apply(preview(admin, write(tmp_path, "one.xlsx", xlsx([ORG_HEADER, org_row(existing)]))), admin)
    record = preview(admin, write(tmp_path, "two.xlsx", xlsx([ORG_HEADER, org_row(new), org_row(existing,
                                                                                               workers=99)])))
    record = apply(record, admin, accounts=True)
    assert record.counts["accounts"] == 1  # only the organization this import created
    user = db.session.scalar(select(User).where(User.username == new))
    assert user.role == "org_admin" and user.must_change_password and user.organization_id == org(new).id
    assert db.session.scalar(select(User).where(User.username == existing)) is None
    sheet = load_workbook(io.BytesIO(service.take_credentials(record, admin))).active
    username, password = sheet["C2"].value, sheet["D2"].value
    from backoffice.auth.passwords import verify_password
    assert username == new and verify_password(user.password_hash, password)
    assert service.take_credentials(record, admin) is None  # once only: erased from the database
    assert db.session.get(ImportRecord, record.id).credentials_report is None


def test_cli(app, ctx, tmp_path):
    runner = app.test_cli_runner()
    good, other = tax_codes(2)
    clean = write(tmp_path, "clean.xlsx", xlsx([ORG_HEADER, org_row(good)]))
    result = runner.invoke(args=["import", "organizations", str(clean), "--dry-run", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output and org(good) is None

    broken = write(tmp_path, "broken.xlsx", xlsx([ORG_HEADER, org_row(good), org_row(other, phone="123")]))
    errors_out = tmp_path / "errors.xlsx"
    result = runner.invoke(args=["import", "organizations", str(broken), "--lang", "en",
                                 "--errors-out", str(errors_out)])
    assert result.exit_code == 1 and "H3 (Số điện thoại)" in result.output and errors_out.exists()
    assert org(good) is None

    result = runner.invoke(args=["import", "organizations", str(clean), "--as", "inspector.q3", "--lang", "en"])
    assert result.exit_code == 1 and "outside your districts" in result.output

    result = runner.invoke(args=["import", "organizations", str(broken), "--skip-errors", "--as", "inspector.q1"])
    assert result.exit_code == 0, result.output
    assert org(good) is not None and org(other) is None

    result = runner.invoke(args=["import", "organizations", str(write(tmp_path, "x.xlsx", b"not a workbook"))])
    assert result.exit_code == 2
