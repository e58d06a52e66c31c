"""Assessments and inspections in a real browser.

org1.admin (a restaurant) self-assesses with the only set offered for its sector, reads which criteria failed and
what each needed in words, finds the set by name in its history and prints the record (a PDF read back with
poppler). inspector.q1 inspects it with a note on a criterion, findings and a deadline; the organization says it
remedied; the inspector closes the follow-up and prints the inspection record. The compliance list's level filter
offers the chosen set's levels only."""
from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backoffice.demo.seed import KNOWN_ORGS
from backoffice.extensions import db
from backoffice.models import Assessment, Organization
from backoffice.timeutil import local_today
from tests.e2e.support import download, flash, login, menu

pytestmark = pytest.mark.browser

RAW_CONDITION = re.compile(r"\b(?:value|percent)\s*(?:<=|>=|==|<|>)")
ANSWERS = {"q_C1": "full", "q_C3": "yes", "q_C4": "both", "q_C8": "yes", "q_C9": "weekly", "q_C10": "no"}


def pdf_text(pdf: bytes) -> str | None:
    if shutil.which("pdftotext") is None:
        return None
    from pdf_support import pdf_text as text
    return " ".join(text(pdf).split())


def fill(form, guests: str = "90") -> None:
    for name, value in ANSWERS.items():
        form.locator(f"input[type=radio][name={name}][value={value}]").check()
    form.locator("input[name=q_C2]").fill(guests)


def test_self_assessment_and_inspection_with_follow_up(app, live_server, new_page):
    with app.app_context():
        org_id = db.session.scalar(select(Organization.id).where(
            Organization.tax_code == KNOWN_ORGS["org1"]["tax_code"]))
    owner = new_page()
    login(owner, live_server, "org1.admin")
    menu(owner, "Đánh giá", "Tự đánh giá")
    starts = owner.locator("form[action$='/assessment/start'] input[name=set_id]")
    assert starts.evaluate_all("els => els.map(e => e.value)") == ["hcm-food-service"]  # its sector's set only
    expect(owner.locator("#sets-for-sector")).to_contain_text("Dịch vụ ăn uống")
    owner.locator("form[action$='/assessment/start'] button").click()
    form = owner.locator("#assessment-form")
    fill(form)
    with owner.expect_navigation():
        form.locator("button[name=submit]").click()

    # The result names the failed criteria by their text, with what each needed, in words.
    failing = owner.locator("#assessment-failing")
    expect(failing.locator("li").first.locator(".badge-danger")).to_have_text("Bắt buộc")  # critical ones first
    expect(failing.locator("li[data-failing=C10]")).to_contain_text("Có phương án và khu vực cách ly tạm thời")
    expect(failing.locator("li[data-failing=C10]")).to_contain_text("cần “Có”")
    expect(failing.locator("li[data-failing=C2]")).to_contain_text("không quá 50 %")
    assert not RAW_CONDITION.search(owner.locator("body").inner_text())
    name, pdf = download(owner, "#assessment-pdf")
    assert name.startswith("bien-ban-tu-danh-gia-") and pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    if text is not None:
        assert "BIÊN BẢN TỰ ĐÁNH GIÁ" in text and "không quá 50 %" in text and KNOWN_ORGS["org1"]["name"] in text
    menu(owner, "Đánh giá", "Tự đánh giá")
    expect(owner.locator("#assessment-history tbody tr").first).to_contain_text(
        "Bộ tiêu chí an toàn COVID-19 cho cơ sở kinh doanh dịch vụ ăn uống")

    # The inspector inspects: a note on C10, findings, a deadline.
    inspector = new_page()
    login(inspector, live_server, "inspector.q1")
    inspector.goto(f"{live_server}/admin/compliance/org/{org_id}")
    assert inspector.locator("input[name=set_id]").evaluate_all("els => els.map(e => e.value)") == \
        ["hcm-food-service"]
    inspector.locator("form[action$='/assessment/start'] button").click()
    form = inspector.locator("#assessment-form")
    fill(form)
    form.locator("textarea[name=n_C10]").fill("Chưa bố trí khu cách ly tạm thời.")
    form.locator("textarea[name=findings]").fill("Phải bố trí khu cách ly trước khi phục vụ khách.")
    with inspector.expect_navigation():  # no deadline: refused, nothing saved, the field says why
        form.locator("button[name=submit]").click()
    expect(inspector.locator("#inspection-record .invalid-feedback")).to_contain_text("thời hạn khắc phục")
    deadline = local_today() + timedelta(days=7)
    inspector.locator("input[name=remedy_deadline]").fill(deadline.isoformat())
    with inspector.expect_navigation():
        inspector.locator("#assessment-form button[name=submit]").click()
    follow_up = inspector.locator("#follow-up")
    expect(follow_up).to_have_attribute("data-state", "open")
    expect(follow_up).to_contain_text(deadline.strftime("%d/%m/%Y"))
    expect(inspector.locator("#criteria-result tr[data-criterion=C10]")).to_contain_text("Chưa bố trí khu cách ly")
    inspection_id = int(re.search(r"/assessment/(\d+)", inspector.url).group(1))

    # The organization says what it did; the inspector accepts it and prints the record.
    owner.goto(f"{live_server}/admin/assessment/{inspection_id}")
    owner.fill("#remedy-note", "Đã bố trí phòng cách ly ở tầng trệt.")
    with owner.expect_navigation():
        owner.locator("#remedied-form button").click()
    expect(flash(owner)).to_contain_text("Đã ghi nhận khắc phục")
    inspector.reload()
    with inspector.expect_navigation():
        inspector.click("#close-follow-up")
    expect(inspector.locator("#follow-up")).to_have_attribute("data-state", "closed")
    with app.app_context():
        stored = db.session.get(Assessment, inspection_id)
        assert stored.follow_up == "closed" and stored.remedied_at and stored.closed_at
    name, pdf = download(inspector, "#assessment-pdf")
    assert name == f"bien-ban-kiem-tra-{inspection_id}.pdf"
    text = pdf_text(pdf)
    if text is not None:
        for expected in ("BIÊN BẢN KIỂM TRA", "Chưa bố trí khu cách ly tạm thời.", "Đã bố trí phòng cách ly",
                         f"Thời hạn khắc phục: {deadline:%d/%m/%Y}"):
            assert expected in text, expected

    # The compliance list: choose a set, then its levels.
    menu(inspector, "Đánh giá", "/admin/compliance/")
    levels = inspector.locator("#compliance-level option")
    expect(levels).to_have_count(2)
    inspector.select_option("#compliance-set", "hcm-food-service")
    expect(levels).to_have_count(2 + 5)  # its four levels and "not evaluable"
    expect(inspector.locator("#compliance-level")).to_contain_text("Tạm dừng hoạt động")
    inspector.select_option("#compliance-level", "must_fix")
    with inspector.expect_navigation():
        inspector.locator("#compliance-filters button[type=submit]").click()
    assert "set=hcm-food-service" in inspector.url and "level=must_fix" in inspector.url
    expect(inspector.locator(f"#compliance-table tr[data-org='{org_id}']")).to_have_count(1)
