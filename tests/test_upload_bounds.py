"""Uploads are bounded by the memory they cost, not only by their size. Every file here is
real and generated in the test: a 7000×7000 PNG of a few KB, a 12 MP JPEG, a workbook whose shared strings
inflate past their cap, a workbook that needs more memory than an import's worker may use."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import qrcode
from flask_babel import force_locale
from openpyxl import Workbook
from PIL import Image
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.imports import reader
from backoffice.models import ImportRecord, Organization
from backoffice.scanning import decode
from conftest import csrf_token, get_user
from imports_support import write

ROOT = Path(__file__).resolve().parent.parent
STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SIDE = 7000  # under the old 50 MP cap; a decode of it took ~1 GB


def _png_bomb() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (SIDE, SIDE), (255, 255, 255, 255)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _qr(text: str = "HCMBO1:UPLOADBOUNDS", box: int = 12) -> Image.Image:
    code = qrcode.QRCode(box_size=box, border=4)
    code.add_data(text)
    return code.make_image().get_image().convert("RGB")


def _photo_12mp() -> bytes:
    photo = Image.effect_noise((4032, 3024), 30).convert("RGB")
    photo.paste(_qr(), (2500, 1500))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    return out.getvalue()


def _transparent_png_at_cap() -> bytes:
    """A 4032×3024 RGBA PNG (the cap exactly): the transparent path, the costliest a PNG can take."""
    image = Image.new("RGBA", (4032, 3024), (0, 0, 0, 0))
    image.paste(_qr().convert("RGBA"), (1800, 1200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


MEASURE = textwrap.dedent("""
    import sys
    from backoffice.scanning.decode import decode_image
    from backoffice.scanning.payload import ScanRejected

    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    data = open(sys.argv[1], "rb").read()
    before = peak_mb()
    try:
        outcome = "text:" + decode_image(data)
    except ScanRejected as exc:
        outcome = exc.code
    print(outcome, round(peak_mb() - before, 1))
""")


def _decode_in_child(tmp_path: Path, data: bytes) -> tuple[str, float]:
    """decode_image in a fresh process: what it returned and how much its peak memory (VmHWM) grew, in MB."""
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, grown = done.stdout.split()
    return outcome, float(grown)


def test_png_bomb_is_refused_before_decoding_and_memory_stays_flat(tmp_path):
    data = _png_bomb()
    assert len(data) < 300_000  # a few hundred KB declaring 49 MP
    outcome, grown = _decode_in_child(tmp_path, data)
    assert outcome == "image_too_large"
    assert grown < 20, f"peak memory grew {grown} MB"  # the header only: nothing decoded


@pytest.mark.parametrize("make, expected", [(_photo_12mp, "text:HCMBO1:UPLOADBOUNDS"),
                                            (_transparent_png_at_cap, "text:HCMBO1:UPLOADBOUNDS")],
                         ids=["12mp-jpeg-draft", "rgba-png-at-cap"])
def test_photos_within_the_cap_decode_in_bounded_memory(tmp_path, make, expected):
    outcome, grown = _decode_in_child(tmp_path, make())
    assert outcome == expected
    assert grown < 150, f"peak memory grew {grown} MB"


def test_pixel_cap_is_configurable(app):
    small = io.BytesIO()
    _qr().save(small, "PNG")
    with app.app_context():
        app.config["QR_DECODE_MAX_PIXELS"] = 100 * 100
        try:
            with pytest.raises(decode.ScanRejected) as info:
                decode.decode_image(small.getvalue())
        finally:
            app.config.pop("QR_DECODE_MAX_PIXELS")
        assert info.value.code == "image_too_large"
        assert decode.decode_image(small.getvalue()) == "HCMBO1:UPLOADBOUNDS"


@pytest.fixture()
def location_token(app):
    from backoffice.models import Location
    with app.app_context():
        org_id = get_user("org1.admin").organization_id
        location = db.session.scalar(select(Location).where(Location.organization_id == org_id,
                                                            Location.active.is_(True)))
        return location.qr_token


def _self_checkin(app, token: str, data: bytes):
    client = app.test_client()
    page = client.get(f"/c/{token}").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(f"/c/{token}", data={"csrf_token": csrf, "photo": (io.BytesIO(data), "anh.png")},
                       content_type="multipart/form-data")


def _reception(app, as_user, data: bytes):
    from backoffice.scanning.service import checkpoints_for
    with app.app_context():
        checkpoint = checkpoints_for(get_user("org1.staff"))[0].id
    staff = as_user("org1.staff")
    return staff.client.post("/reception/scan-image", data={"image": (io.BytesIO(data), "anh.png"),
                                                            "checkpoint": str(checkpoint)},
                             headers={"X-CSRFToken": csrf_token(staff.client, "/admin/")},
                             content_type="multipart/form-data")


def test_png_bomb_through_self_checkin_and_reception_is_refused(app, as_user, location_token):
    data = _png_bomb()
    anonymous = _self_checkin(app, location_token, data)
    assert anonymous.status_code == 413
    assert "Ảnh quá lớn" in anonymous.get_data(as_text=True) or "quá lớn" in anonymous.get_data(as_text=True)
    at_reception = _reception(app, as_user, data)
    assert at_reception.status_code == 413 and at_reception.get_json()["error"]["code"] == "image_too_large"


def test_saturated_decoder_answers_503_try_again(app, as_user, location_token):
    photo = io.BytesIO()
    _qr().save(photo, "PNG")
    app.config.update(QR_DECODE_CONCURRENCY=1, QR_DECODE_WAIT_SECONDS=0)
    slots = decode._semaphore(1)  # this process's slots at that setting: take the only one
    slots.acquire()
    try:
        anonymous = _self_checkin(app, location_token, photo.getvalue())
        at_reception = _reception(app, as_user, photo.getvalue())
    finally:
        slots.release()
    try:
        assert anonymous.status_code == 503 and "thử lại" in anonymous.get_data(as_text=True)
        assert at_reception.status_code == 503 and at_reception.get_json()["error"]["code"] == "decoder_busy"
        with app.app_context():  # the slot is free again: the same photo goes through to the scan
            assert decode.decode_image(photo.getvalue()) == "HCMBO1:UPLOADBOUNDS"
    finally:
        app.config.pop("QR_DECODE_CONCURRENCY")
        app.config.pop("QR_DECODE_WAIT_SECONDS")


# --- workbooks -------------------------------------------------------------------------------------------------

def _with_shared_strings(strings: bytes, rows: int = 0) -> bytes:
    """A real workbook (openpyxl) with `strings` as its xl/sharedStrings.xml part, declared as such; with `rows`,
    its sheet is the organizations' header and `rows` rows whose name cells use string 0, 1, 2…"""
    book = Workbook()
    book.active.append(["Tên doanh nghiệp", "Mã số thuế"])
    base = io.BytesIO()
    book.save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename == "xl/sharedStrings.xml":
                continue  # replaced below: a workbook holds each part once
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", f'<Override PartName="/xl/sharedStrings.xml" '
                                                 f'ContentType="{STRINGS_TYPE}"/></Types>'.encode())
            if item.filename == "xl/_rels/workbook.xml.rels":  # calamine finds the strings by this relation
                data = data.replace(b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/'
                                    b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml" '
                                    b'Id="rId9" /></Relationships>')
            if item.filename == "xl/worksheets/sheet1.xml" and rows:
                data = _sheet(rows)
            target.writestr(item, data)
        target.writestr("xl/sharedStrings.xml", strings)
    return out.getvalue()


def _sheet(rows: int) -> bytes:
    head = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>' for col, name in
                   zip("ABCDE", ("Tên doanh nghiệp", "Mã số thuế", "Quận/Huyện", "Phường/Xã", "Ngành")))
    body = "".join(f'<row r="{n}"><c r="A{n}" t="s"><v>{n - 2}</v></c></row>' for n in range(2, rows + 2))
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            f'spreadsheetml/2006/main"><sheetData><row r="1">{head}</row>{body}</sheetData></worksheet>').encode()


def _strings(items) -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main">' + b"".join(f"<si><t>{s}</t></si>".encode() for s in items) + b"</sst>")


def _strings_bomb() -> bytes:
    """70 MB of shared strings (past the 64 MB cap), a few hundred KB zipped."""
    return _with_shared_strings(_strings(["A" * 1000] * 70 * 1024))


def test_shared_strings_past_their_cap_are_refused_naming_the_part(ctx, tmp_path):
    data = _strings_bomb()
    assert len(data) < 2 * 2**20
    with force_locale("en"), pytest.raises(reader.FileRejected) as info:
        reader.open_table(write(tmp_path, "strings.xlsx", data), "strings.xlsx", reader.Limits())
    assert "xl/sharedStrings.xml" in str(info.value) and "at most 64 MB" in str(info.value)


def test_every_part_has_its_cap(ctx, tmp_path):
    data = _with_shared_strings(_strings(f"Công ty {i}" for i in range(5000)))
    path = write(tmp_path, "ok.xlsx", data)
    reader.check_file(path, "ok.xlsx", reader.Limits())  # honest: passes
    with force_locale("en"), pytest.raises(reader.FileRejected, match=r"The part xl/(theme/theme1|styles)\.xml"):
        reader.check_file(path, "ok.xlsx", reader.Limits(max_other_part=1000))
    with force_locale("en"), pytest.raises(reader.FileRejected, match="xl/worksheets/sheet1.xml"):
        reader.check_file(path, "ok.xlsx", reader.Limits(max_sheet_part=100))


def test_inflated_bytes_are_counted_whatever_the_directory_says(ctx, tmp_path):
    """The archive openpyxl reads through stops a part at its cap while inflating it, should the directory
    have passed a part whose real size is larger."""
    path = write(tmp_path, "s.xlsx", _with_shared_strings(_strings(f"Công ty {i}" for i in range(5000))))
    with path.open("rb") as handle, reader._BoundedZip(handle, {"xl/sharedStrings.xml": 4096}, 4096) as archive:
        with pytest.raises(reader.PartTooLarge) as info:
            archive.read("xl/sharedStrings.xml")
        assert info.value.part == "xl/sharedStrings.xml"
        with archive.open("xl/sharedStrings.xml") as part:  # streamed, as openpyxl's iterparse reads
            with pytest.raises(reader.PartTooLarge):
                while part.read(1000):
                    pass
        assert archive.read("xl/workbook.xml").startswith(b"<")  # parts under their cap read normally


def _upload(browser, data: bytes, name: str):
    base = "/admin/imports/organizations/"
    return browser.post_form(base + "upload", {"file": (io.BytesIO(data), name)}, token_from=base,
                             content_type="multipart/form-data")


def _alerts(response) -> list[str]:
    return re.findall(r'class="alert[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)


def _organizations() -> int:
    return db.session.scalar(select(func.count()).select_from(Organization))


def test_strings_bomb_through_the_wizard_is_refused_and_imports_nothing(app, as_user):
    with app.app_context():
        before = _organizations()
    response = _upload(as_user("admin"), _strings_bomb(), "bom.xlsx")
    assert response.status_code == 422
    assert "xl/sharedStrings.xml" in response.get_data(as_text=True)
    with app.app_context():
        record = db.session.scalar(select(ImportRecord).order_by(ImportRecord.id.desc()).limit(1))
        assert record.state == "rejected" and record.filename == "bom.xlsx"
        assert _organizations() == before


def test_import_past_the_workers_memory_limit_fails_cleanly(app, as_user):
    """150,000 rows whose names are shared strings, every part under its cap, needing more memory than the worker
    is allowed (set low here): the child runs out (its memory from one arena, so the limit counts all of it), the
    import is marked failed with its reason, nothing is imported, this process goes on."""
    data = _with_shared_strings(_strings(f"Công ty TNHH Thương mại Dịch vụ Số {i}" for i in range(150_000)),
                                rows=150_000)
    with app.app_context():
        before = _organizations()
    app.config["IMPORT_WORKER_MEMORY_MB"] = 4
    try:
        response = _upload(as_user("admin"), data, "nang.xlsx")
    finally:
        app.config.pop("IMPORT_WORKER_MEMORY_MB")
    assert response.status_code == 302, _alerts(response)
    url = response.headers["Location"]
    deadline = time.time() + 180  # the sync wait (IMPORT_SYNC_WAIT_SECONDS) may end first on a loaded machine
    while as_user("admin").get(url + "progress.json").get_json()["state"] == "reading" and time.time() < deadline:
        time.sleep(0.5)
    page = as_user("admin").get(url)
    assert page.status_code == 200 and "bộ nhớ" in page.get_data(as_text=True), (_alerts(page), as_user("admin").get(url + "progress.json").get_json())
    with app.app_context():
        record = db.session.scalar(select(ImportRecord).order_by(ImportRecord.id.desc()).limit(1))
        assert record.state == "failed" and record.filename == "nang.xlsx"
        assert "bộ nhớ" in record.options["message"]
        assert _organizations() == before
    assert as_user("admin").get("/admin/").status_code == 200  # the web process is fine


def test_a_part_named_twice_is_refused(ctx, tmp_path):
    """Two entries under one name: openpyxl reads the last, calamine the first, so what the caps checked need not
    be what is read. Refused before anything inflates."""
    good = _with_shared_strings(_strings(["Tên doanh nghiệp", "Mã số thuế"]))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("xl/sharedStrings.xml", _strings(["A" * 1000] * 10))
    with force_locale("en"), pytest.raises(reader.FileRejected, match="two of its parts have the same name"):
        reader.open_table(write(tmp_path, "twice.xlsx", out.getvalue()), "twice.xlsx", reader.Limits())


def test_a_zip_version_python_cannot_read_is_a_damaged_workbook(ctx, tmp_path):
    """A central directory that claims a zip version zipfile does not implement (found by the parser campaign)
    raises NotImplementedError inside zipfile: the user hears the workbook is damaged, never a 500."""
    data = bytearray(_with_shared_strings(_strings(["Tên doanh nghiệp", "Mã số thuế"])))
    record = data.index(b"PK\x01\x02")
    data[record + 6:record + 8] = (188).to_bytes(2, "little")  # "version needed to extract": 18.8
    with force_locale("en"), pytest.raises(reader.FileRejected, match="damaged"):
        reader.open_table(write(tmp_path, "version.xlsx", bytes(data)), "version.xlsx", reader.Limits())
