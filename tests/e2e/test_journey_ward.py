"""A ward officer's main job in a real browser (ward.bennghe): register a resident without a smartphone, then print
their personal QR card — PNG and PDF downloads whose QR verifies as this resident's signed code."""
from __future__ import annotations

import io
import secrets

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.demo.seed import BEN_NGHE
from backoffice.extensions import db
from backoffice.models import Person, PersonalQRIssue
from backoffice.scanning.payload import parse_scan_text
from tests.e2e.support import download, flash, login, menu, pdf_qr_texts
from pdf_support import png_qr_texts

pytestmark = pytest.mark.browser


def test_ward_officer_registers_a_resident_and_prints_the_card(app, live_server, new_page):
    id_number = f"079{secrets.randbelow(10**9):09d}"
    full_name = "Võ Thị Xuân Mai"
    page = new_page()
    login(page, live_server, "ward.bennghe")

    menu(page, "Người dân", "Thẻ Mã QR cá nhân")
    page.locator("a", has_text="Đăng ký người dân").click()
    form = page.locator("#resident-form")
    expect(form.locator("#ward")).to_have_value(str(BEN_NGHE))  # their own ward, already chosen
    form.locator("#full_name").fill(full_name)
    form.locator("#id_type").select_option(index=0)  # CCCD
    form.locator("#id_number").fill(id_number)
    form.locator("#birth_date").fill("1948-05-19")
    form.locator("#phone").fill("028 3829 1234")
    form.locator("#address").fill("7 Hàm Nghi")
    form.locator("button[type=submit]").click()

    expect(flash(page)).to_contain_text(full_name)
    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.id_number == id_number))
        assert person is not None and person.ward_code == BEN_NGHE
        person_id, qr_ref = person.id, person.qr_ref
    row = page.locator(f"#residents tr[data-person='{person_id}']")
    expect(row).to_contain_text(full_name)
    expect(row).to_contain_text("*" * (len(id_number) - 4) + id_number[-4:])  # masked to its last 4, as on the card
    expect(row).not_to_contain_text(id_number)

    filename, png = download(page, row.locator("button", has_text="PNG"))
    assert filename.endswith(".png")
    assert Image.open(io.BytesIO(png)).format == "PNG"
    [text] = png_qr_texts(png)
    with app.app_context():
        parsed = parse_scan_text(text)  # verifies the Ed25519 signature with the key ring
    assert parsed.signed and parsed.qr_ref == qr_ref

    filename, pdf = download(page, row.locator("button", has_text="PDF"))
    assert filename.endswith(".pdf")
    texts = pdf_qr_texts(pdf)
    with app.app_context():
        if texts is not None:
            assert len(texts) == 1 and parse_scan_text(texts[0]).qr_ref == qr_ref
        issued = db.session.scalars(select(PersonalQRIssue).where(PersonalQRIssue.person_id == person_id)).all()
        assert len(issued) == 2  # each printed card is recorded
    # The list now shows when the card was last printed.
    page.reload()
    expect(page.locator(f"#residents tr[data-person='{person_id}'] td").nth(4)).not_to_have_text("—")
