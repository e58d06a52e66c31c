"""Printing: posters and cards decode back to the right URL / payload, from the PNGs and from real rasterised
PDFs; diacritics survive; ward officers print only for their ward; every card is recorded; revocation."""
from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import AuditLog, Location, Person, PersonalQRIssue
from backoffice.health import status as health
from backoffice.printing import locations
from backoffice.printing import render
from backoffice.scanning.payload import parse_scan_text
from backoffice.timeutil import now_utc
from factories import demo_org, new_person, person
from pdf_support import needs_pdftoppm, pdf_pages_png, pdf_text, png_qr_texts, qr_texts

GREEN_ID, BLACK_ID = "079090000001", "079195000004"  # demo residents of Bến Nghé (seed.KNOWN_RESIDENTS)


def _issues(person_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(PersonalQRIssue)
                             .where(PersonalQRIssue.person_id == person_id))


# --- posters ---------------------------------------------------------------------------------------
def test_location_poster_png_decodes_to_its_checkin_url(app, as_user):
    # In development (the test app) without BACKOFFICE_PUBLIC_URL, the URL is the one the page was reached at:
    # the test client's http://localhost/.
    with app.test_request_context():
        location = demo_org("org1").locations[0]
        url = locations.checkin_url(location.qr_token)
        assert url.startswith("http://localhost/c/") and url.isascii()
        location_id = location.id
    response = as_user("org1.admin").get(f"/admin/qr-posters/location/{location_id}/poster.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert png_qr_texts(response.data) == [url]
    image = Image.open(io.BytesIO(response.data))
    assert abs(image.size[1] / image.size[0] - 297 / 210) < 0.01  # A4 portrait
    svg = as_user("org1.admin").get(f"/admin/qr-posters/location/{location_id}/qr.svg")
    assert svg.status_code == 200 and svg.data.startswith(b"<?xml") and b"<svg" in svg.data


@needs_pdftoppm
def test_all_posters_pdf_rasterised_decodes_page_by_page_with_vietnamese_names(app, as_user):
    with app.test_request_context():
        org = demo_org("org1")
        expected = [locations.checkin_url(org.qr_token)] + [
            locations.checkin_url(loc.qr_token) for loc in org.locations if loc.active]
        names = [loc.name for loc in org.locations if loc.active]
        org_id, org_name = org.id, org.name
    response = as_user("org1.admin").get(f"/admin/qr-posters/org/{org_id}/all.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pages = pdf_pages_png(response.data, dpi=100)
    assert [qr_texts(page) for page in pages] == [[url] for url in expected]
    text = " ".join(pdf_text(response.data).split())
    assert org_name in text  # "Nhà hàng Bến Nghé Xanh": embedded with its diacritics, extractable
    for name in names:
        assert name in text
    assert "MÃ QR ĐƠN VỊ" in text and "MÃ QR ĐỊA ĐIỂM" in text


def test_poster_scope_roles_and_bad_urls(app, as_user):
    with app.app_context():
        org1_location = demo_org("org1").locations[0].id
        org1_id = demo_org("org1").id
    org2 = as_user("org2.admin")
    assert org2.get(f"/admin/qr-posters/location/{org1_location}/poster.pdf").status_code == 404
    assert org2.get(f"/admin/qr-posters/org/{org1_id}/all.pdf").status_code == 404
    assert org2.post_form(f"/admin/qr-posters/location/{org1_location}/rotate").status_code == 404
    org1 = as_user("org1.admin")
    assert org1.get(f"/admin/qr-posters/location/{org1_location}/poster.gif").status_code == 404
    assert org1.get("/admin/qr-posters/location/abc/poster.pdf").status_code == 404
    assert as_user("org1.staff").get("/admin/qr-posters/").status_code == 403
    assert as_user("ward.bennghe").get("/admin/qr-posters/").status_code == 403
    page = org1.get("/admin/qr-posters/").get_data(as_text=True)
    assert f'data-location="{org1_location}"' in page
    # Inspectors read posters of their district, and may not revoke them.
    q1 = as_user("inspector.q1")
    assert q1.get(f"/admin/qr-posters/org/{org1_id}/poster.pdf").status_code == 200
    assert q1.post_form(f"/admin/qr-posters/location/{org1_location}/rotate").status_code == 403
    assert as_user("inspector.q3").get(f"/admin/qr-posters/org/{org1_id}/poster.pdf").status_code == 404


def test_rotating_revokes_old_posters_and_deactivation_revokes(app, as_user):
    with app.app_context():
        org = demo_org("org1")
        location = Location(organization_id=org.id, name="Quầy thu ngân tầng 2", address="12 Nguyễn Huệ")
        db.session.add(location)
        db.session.commit()
        location_id, old = location.id, location.qr_token
    with app.test_request_context():
        old_url = locations.checkin_url(old)
    org1 = as_user("org1.admin")
    assert org1.post_form(f"/admin/qr-posters/location/{location_id}/rotate").status_code == 302
    with app.test_request_context():
        location = db.session.get(Location, location_id)
        assert location.qr_token != old and len(location.qr_token) >= 22
        assert png_qr_texts(render.poster_png(locations.poster_for_location(location))) == [
            locations.checkin_url(location.qr_token)]
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "qr_token.rotate", AuditLog.entity_id == locations.fingerprint(old))) == 1
        new_token = location.qr_token
    public = app.test_client()
    old_page = public.get(urlsplit(old_url).path)
    assert old_page.status_code == 410 and 'data-code="revoked"' in old_page.get_data(as_text=True)
    assert public.get(f"/c/{new_token}").status_code == 200
    assert public.get("/c/" + "A" * 22).status_code == 404
    assert public.get("/c/%3Cscript%3E").status_code == 404
    with app.app_context():
        db.session.get(Location, location_id).active = False
        db.session.commit()
    assert public.get(f"/c/{new_token}").status_code == 410
    assert org1.get(f"/admin/qr-posters/location/{location_id}/poster.pdf").status_code == 410


# --- personal cards --------------------------------------------------------------------------------
def _print(browser, ids, fmt="pdf"):
    return browser.post_form("/admin/qr-cards/print", {"person_id": [str(i) for i in ids], "format": fmt},
                             token_from="/admin/qr-cards/")


def _dark_pixel(image: Image.Image) -> tuple[int, int, int]:
    rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20)
    dark = [(count, c) for count, c in colours if sum(c) < 300]
    return max(dark)[1]


@needs_pdftoppm
def test_ward_officer_prints_a_card_that_scans_back(app, as_user):
    officer = as_user("ward.bennghe")
    with app.app_context():
        green, black = person(GREEN_ID), person(BLACK_ID)
        assert health.evaluate(green, now_utc()).colour == "green"
        assert health.evaluate(black, now_utc()).colour == "black"
        ids = {green.id: green.qr_ref, black.id: black.qr_ref}
        green_id = green.id
        before = {pid: _issues(pid) for pid in ids}
    for pid, ref in ids.items():
        response = _print(officer, [pid])
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert "attachment" in response.headers["Content-Disposition"]
        page = pdf_pages_png(response.data, dpi=200)[0]
        [text] = qr_texts(page)
        with app.app_context():
            assert parse_scan_text(text).qr_ref == ref
        png = _print(officer, [pid], "png")
        assert png.status_code == 200 and png.mimetype == "image/png"
        [png_text] = png_qr_texts(png.data)
        with app.app_context():
            assert parse_scan_text(png_text).qr_ref == ref
        colour = _dark_pixel(Image.open(io.BytesIO(png.data)))
        if pid == green_id:
            assert colour[1] > colour[0] + 60 and colour[1] > colour[2]  # green ink
        else:
            assert max(colour) < 40  # black ink
        content = " ".join(pdf_text(response.data).split())
        assert "******" in content and ("Nguyễn Văn An" in content or "Phạm Thị Dung" in content)
        assert GREEN_ID not in content and BLACK_ID not in content  # the ID number is masked, never printed
    with app.app_context():
        for pid in ids:
            assert _issues(pid) == before[pid] + 2
        issue = db.session.scalar(select(PersonalQRIssue).where(PersonalQRIssue.person_id == green_id)
                                  .order_by(PersonalQRIssue.id.desc()).limit(1))
        assert issue.colour == "green" and issue.ward_code == BEN_NGHE and issue.key_id
        assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "personal_qr.print")) >= 4


@needs_pdftoppm
def test_batch_of_residents_is_one_pdf(app, as_user):
    with app.app_context():
        people = [new_person(f"Cư Dân Lô {i} Trường Sơn", BEN_NGHE, green=False) for i in range(10)]
        db.session.commit()
        refs = {p.qr_ref for p in people}
        ids = [p.id for p in people]
    response = _print(as_user("ward.bennghe"), ids)
    assert response.status_code == 200
    pages = pdf_pages_png(response.data, dpi=200)
    assert len(pages) == 2  # 8 cards per A4 sheet
    with app.app_context():
        found = {parse_scan_text(t).qr_ref for page in pages for t in qr_texts(page)}
        assert found == refs
        assert all(_issues(pid) == 1 for pid in ids)


def test_ward_officer_scope_and_bad_inputs(app, as_user):
    officer = as_user("ward.bennghe")
    with app.app_context():
        other_ward = db.session.scalar(select(Person).where(Person.ward_code != BEN_NGHE,
                                                            Person.ward_code.is_not(None)).limit(1))
        mine = person(GREEN_ID)
        outsider_id, mine_id = other_ward.id, mine.id
        before = db.session.scalar(select(func.count()).select_from(PersonalQRIssue))
    assert _print(officer, [outsider_id]).status_code == 404
    assert _print(officer, [mine_id, outsider_id]).status_code == 404  # the whole batch: nothing printed
    assert _print(officer, ["abc"]).status_code == 400
    assert _print(officer, []).status_code == 400
    assert _print(officer, [mine_id], "docx").status_code == 400
    assert _print(officer, [mine_id, mine_id + 1], "png").status_code == 400
    assert officer.post("/admin/qr-cards/print", data={"person_id": str(mine_id)}).status_code == 400  # no CSRF
    assert officer.get("/admin/qr-cards/print").status_code == 405
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PersonalQRIssue)) == before
    for user in ("org1.admin", "inspector.q1", "org1.staff"):
        assert as_user(user).get("/admin/qr-cards/").status_code == 403, user
    page = officer.get(f"/admin/qr-cards/?q={GREEN_ID}").get_data(as_text=True)
    listing = page[page.index('id="residents"'):page.index("</table>", page.index('id="residents"'))]
    assert f'data-person="{mine_id}"' in listing and "********0001" in listing and GREEN_ID not in listing
    assert f'data-person="{outsider_id}"' not in officer.get("/admin/qr-cards/?q=").get_data(as_text=True)
    with app.app_context():
        outsider = db.session.get(Person, outsider_id)
    assert f'data-person="{outsider_id}"' not in officer.get(
        f"/admin/qr-cards/?q={outsider.id_number}").get_data(as_text=True)


def test_register_a_resident_with_the_person_form_rules(app, as_user):
    officer = as_user("ward.bennghe")
    url = "/admin/qr-cards/register"
    good = {"full_name": "Đỗ Thị Hồng Nhung", "id_type": "cccd", "id_number": "079 198 123 457",
            "birth_date": "1998-04-30", "gender": "2", "phone": "0903 123 456", "address": "5 Lê Lợi",
            "ward": str(BEN_NGHE)}
    assert officer.post_form(url, {**good, "id_number": "12345"}, token_from=url).status_code == 400
    assert officer.post_form(url, {**good, "phone": "12"}, token_from=url).status_code == 400
    assert officer.post_form(url, {**good, "full_name": ""}, token_from=url).status_code == 400
    assert officer.post_form(url, {**good, "ward": "26734"}, token_from=url).status_code == 400  # not theirs
    with app.app_context():
        # SQLite may give a new row the id of one another test deleted: count this registration's entries only.
        last_entry = db.session.scalar(select(func.max(AuditLog.id))) or 0
    response = officer.post_form(url, good, token_from=url)
    assert response.status_code == 302 and "q=079198123457" in response.headers["Location"]
    with app.app_context():
        registered = person("079198123457")
        assert registered.ward_code == BEN_NGHE and registered.phone == "+84903123456" and registered.qr_ref
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "persons.create", AuditLog.entity_id == str(registered.id),
            AuditLog.id > last_entry)) == 1
    again = officer.post_form(url, good, token_from=url)
    assert again.status_code == 409 and "already registered" in again.get_data(as_text=True).lower() or \
        again.status_code == 409


def test_render_is_pure_and_rejects_empty_batches():
    card = render.Card("Nguyễn Văn Ánh", "******123456", "HCMBO1:ABC", "green", now_utc().date(), "Phường Bến Nghé")
    assert png_qr_texts(render.personal_card_png(card)) == ["HCMBO1:ABC"]
    with pytest.raises(ValueError):
        render.cards_pdf([])
    assert re.match(rb"%PDF-1\.\d", render.personal_card_pdf(card))


def test_pages_render_for_their_roles(app, as_user):
    with app.app_context():
        org1_id = demo_org("org1").id
    for user, url in [("ward.bennghe", "/admin/qr-cards/"), ("ward.bennghe", "/admin/qr-cards/register"),
                      ("admin", "/admin/qr-cards/register"), ("admin", f"/admin/qr-posters/?org={org1_id}"),
                      ("org1.admin", "/admin/qr-posters/"), ("inspector.q1", "/admin/qr-posters/")]:
        response = as_user(user).get(url)
        assert response.status_code == 200, (user, url)
    page = as_user("org1.admin").get("/admin/qr-posters/").get_data(as_text=True)
    assert "Mã QR đơn vị" in page and "Tạo mã mới" in page
    assert as_user("admin").get("/admin/qr-posters/?org=abc").status_code == 404
    assert as_user("inspector.q3").get(f"/admin/qr-posters/?org={org1_id}").status_code == 404
