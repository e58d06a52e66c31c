"""Bad-input campaign through HTTP: generated scan texts, ID numbers and spreadsheet cells sent to the API, the
reception page, the self check-in page and the import wizard answer 4xx (or succeed), never 5xx; oversized
bodies, wrong content types, malformed JSON and hostile upload file names are refused cleanly."""
from __future__ import annotations

import csv
import io
import os
import secrets
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import Checkpoint, ImportRecord, Location
from backoffice.scanning import devices
from backoffice.scanning.payload import REASONS
from campaign_support import report_fixture, tried
from conftest import csrf_token, get_user
from pages_support import Isolated, dedicated_app

_campaign = report_fixture("bad-input campaign, HTTP")
HTTP = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
texts = st.one_of(st.text(st.characters(codec="utf-8"), max_size=120), st.text(string.printable + "|<:", max_size=80),
                  st.builds(lambda a, b: f"{a}|{b}|1990-01-01|0|{a}|", st.text("0123456789", max_size=13),
                            st.text(max_size=20)))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.sampled_from(["payload", "text", "checkpoint",
                                                                                    "method"]), inner, max_size=4)),
                           max_leaves=8)


@pytest.fixture(scope="module")
def device(app):
    with app.app_context():
        admin = get_user("org1.admin")
        checkpoint = db.session.scalar(select(Checkpoint).where(Checkpoint.organization_id == admin.organization_id,
                                                                Checkpoint.active.is_(True)).order_by(Checkpoint.id))
        _token, secret = devices.create_device_token(checkpoint.id, f"campaign {secrets.token_hex(3)}", user=admin)
        # A location of its own for the self check-in page: its per-poster rate limit is not the other tests'.
        location = Location(organization_id=admin.organization_id, name=f"Campaign {secrets.token_hex(3)}")
        db.session.add(location)
        db.session.commit()
        return {"secret": secret, "checkpoint": checkpoint.id, "qr_token": location.qr_token}


def _api(app, device, **kwargs):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {device['secret']}", **kwargs.pop("headers", {})}
    return client.post(kwargs.pop("url", "/api/v1/scans"), headers=headers, **kwargs)


def _json_error(response, status: int | tuple = None) -> str:
    assert response.mimetype == "application/json", (response.status_code, response.get_data()[:200])
    error = response.json["error"]
    assert set(error) == {"code", "message"} and error["message"], error
    if status is not None:
        assert response.status_code in ((status,) if isinstance(status, int) else status), response.status_code
    return error["code"]


# --- generated inputs through every scanning door ---------------------------------------------------------
@HTTP
@given(body=json_values)
def test_api_scan_bodies(app, device, body):
    tried("HTTP POST /api/v1/scans (JSON body)")
    response = _api(app, device, json=body)
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code >= 400:
        assert _json_error(response) in REASONS


@pytest.mark.parametrize("checkpoint", [float("inf"), float("-inf"), 1e300, "9" * 400])
def test_api_scan_checkpoint_that_no_id_can_be(app, device, checkpoint):
    """A checkpoint no integer column holds is an unknown checkpoint, like any other not the token's."""
    response = _api(app, device, json={"payload": "x", "checkpoint": checkpoint})
    assert response.status_code < 500 and _json_error(response) == "unknown_checkpoint"


@HTTP
@given(text=texts)
def test_reception_scan_texts(app, as_user, device, text):
    tried("HTTP POST /reception/scan (text)")
    browser = Isolated(app, as_user("org1.staff"))
    token = csrf_token(browser, "/admin/")
    response = browser.post("/reception/scan", json={"text": text, "checkpoint": device["checkpoint"]},
                            headers={"X-CSRFToken": token})
    assert response.status_code < 500, response.get_data()[:300]


@HTTP
@given(text=texts, id_number=texts)
def test_self_check_in_inputs(app, device, text, id_number):
    tried("HTTP POST /c/<token> (qr text, ID number)")
    with app.app_context():
        # An address of its own per example: the per-address limit (shared by the whole run) stays untouched.
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
        token = csrf_token(client, f"/c/{device['qr_token']}")
        response = client.post(f"/c/{device['qr_token']}", data={"csrf_token": token, "qr_text": text,
                                                                  "id_number": id_number})
    assert response.status_code < 500 and response.status_code != 429, response.get_data()[:300]


cells = st.one_of(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30),
                  st.integers(-10**15, 10**15).map(str), st.sampled_from(["Q.1", "P. Bến Nghé", "0100047516", "=1+1"]))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(header=st.lists(st.one_of(cells, st.sampled_from(["Tên đơn vị", "Mã số thuế", "Quận/Huyện", "Phường/Xã",
                                                         "Địa chỉ", "Ngành"])), min_size=1, max_size=7),
       rows=st.lists(st.lists(cells, max_size=7), max_size=5))
def test_import_uploads_of_generated_sheets(app, as_user, header, rows):
    tried("HTTP import upload (generated CSV)")
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    browser = Isolated(app, as_user("inspector.q1"))
    token = csrf_token(browser, "/admin/imports/organizations/")
    response = browser.post("/admin/imports/organizations/upload", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(out.getvalue().encode("utf-8")), "sheet.csv")})
    assert response.status_code in (302, 303, 400, 422), response.status_code


# --- oversized bodies, content types, malformed JSON -------------------------------------------------------
def test_oversized_bodies_answer_413(app, device):
    with dedicated_app(app, MAX_CONTENT_LENGTH=2048) as small, small.app_context():
        big = b"x" * 4096
        client = small.test_client()
        headers = {"Authorization": f"Bearer {device['secret']}"}
        for url, kwargs in (("/api/v1/scans", {"data": b'{"payload": "' + big + b'"}',
                                               "content_type": "application/json"}),
                            ("/api/v1/scans/image", {"data": big, "content_type": "image/jpeg"}),
                            ("/api/v1/scans/image", {"data": {"image": (io.BytesIO(big), "p.jpg")},
                                                     "content_type": "multipart/form-data"})):
            tried("HTTP oversized body")
            expected = "image_too_large" if url.endswith("/image") else "body_too_large"
            assert _json_error(client.post(url, headers=headers, **kwargs), 413) == expected
        # HTML forms: the error page, not a 500.
        page = client.post("/register", data={"name": "x" * 4096})
        assert page.status_code == 413 and page.mimetype == "text/html"


@pytest.mark.parametrize("content_type, body", [
    ("text/plain", b'{"payload": "x"}'), ("application/x-www-form-urlencoded", b"payload=x"),
    ("application/json", b'{"payload": '), ("application/json", b"\xff\xfe\x00"), ("application/json", b"[1, 2]"),
    ("application/json", b'{"payload": 5}'), ("application/json", b'{"payload": "x", "checkpoint": "\\u0000"}'),
    ("application/json", b"1e999999"), ("application/json", b"[" * 5000 + b"]" * 5000),
    ("application/xml", b"<payload>x</payload>"), ("multipart/form-data; boundary=zz", b"--zz--"),
])
def test_wrong_content_types_and_malformed_json_answer_400(app, device, content_type, body):
    tried("HTTP content type / malformed JSON")
    response = _api(app, device, data=body, content_type=content_type)
    assert _json_error(response, (400, 404, 422)) in REASONS


def test_reception_refuses_non_json_cleanly(app, as_user):
    browser = Isolated(app, as_user("org1.staff"))
    token = csrf_token(browser, "/admin/")
    for content_type, body in (("text/plain", b"x"), ("application/json", b"{"), ("application/json", b"[]")):
        tried("HTTP content type / malformed JSON")
        response = browser.post("/reception/scan", data=body, content_type=content_type,
                                headers={"X-CSRFToken": token})
        assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


def test_image_api_refuses_what_is_not_an_image(app, device):
    for data, content_type in ((b"GIF89a" + b"\x00" * 10, "image/gif"), (b"%PDF-1.4", "application/pdf"),
                               (b"", "image/png"), (b"<svg/>", "image/svg+xml")):
        tried("HTTP content type / malformed JSON")
        code = _json_error(_api(app, device, url="/api/v1/scans/image", data=data, content_type=content_type))
        assert code in {"not_image", "no_image", "truncated_image"}, code


# --- hostile upload file names --------------------------------------------------------------------------------
HOSTILE_NAMES = ["../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd.csv", "a\x00.csv", "x" * 5000 + ".csv",
                 "../../../tmp/evil.xlsx", "CON.csv", ".csv", "", "%2e%2e%2fetc%2fpasswd.csv", "tệp\u202egnp.csv"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_upload_names_are_never_paths(app, as_user, tmp_path, name):
    tried("HTTP hostile upload file name")
    browser = Isolated(app, as_user("inspector.q1"))
    token = csrf_token(browser, "/admin/imports/organizations/")
    with app.app_context():
        before = _imports()
    data = "Tên đơn vị,Mã số thuế\nA,0100047516\n".encode()
    response = browser.post("/admin/imports/organizations/upload", content_type="multipart/form-data",
                            data={"csrf_token": token, "file": (io.BytesIO(data), name)})
    assert response.status_code in (302, 303, 400, 422), response.status_code
    # Nothing was written where the name points: the staging folder names files by its own token.
    assert not (tmp_path / "evil.xlsx").exists() and not os.path.exists("/tmp/evil.xlsx")
    with app.app_context():
        for record in db.session.scalars(select(ImportRecord).where(ImportRecord.id > before)):
            staged = (record.options or {}).get("token", "")
            assert "/" not in staged and "\\" not in staged and ".." not in staged, staged


def _imports() -> int:
    return db.session.scalar(select(func.coalesce(func.max(ImportRecord.id), 0)))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_image_names_at_scan_endpoints(app, device, name):
    tried("HTTP hostile upload file name")
    response = _api(app, device, url="/api/v1/scans/image", content_type="multipart/form-data",
                    data={"image": (io.BytesIO(b"not an image"), name)})
    assert _json_error(response) in {"not_image", "no_image"}
