"""Results in words, set names in history, printable records (PDF read back with
poppler), inspections with notes, findings, a deadline and a follow-up, sets offered by sector, the level filter
per set."""
from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backoffice.criteria import inspections, service
from backoffice.criteria.engine import CompileErrors, compile_set
from backoffice.criteria.registry import registry
from backoffice.criteria.schema import CriteriaSet
from backoffice.demo.seed import KNOWN_ORGS
from backoffice.domain import AssessmentKind
from backoffice.extensions import db
from backoffice.models import Assessment, AuditLog
from backoffice.timeutil import local_today
from conftest import get_user
from factories import demo_org

FOOD = {"C1": "full", "C2": 90, "C3": "yes", "C4": "both", "C8": "yes", "C9": "weekly", "C10": "no"}
FORM = {"q_C1": "full", "q_C2": "90", "q_C3": "yes", "q_C4": "both", "q_C8": "yes", "q_C9": "weekly", "q_C10": "no"}
RAW_CONDITION = re.compile(r"\b(?:value|percent)\s*(?:<=|>=|==|<|>)|critical_failed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


def _org_id(app, code: str) -> int:
    with app.app_context():
        return demo_org(code).id


def _pdf_text(pdf: bytes) -> str:
    from pdf_support import pdf_pages_png, pdf_text
    assert pdf.startswith(b"%PDF-")
    assert pdf_pages_png(pdf)  # poppler renders it as a viewer would
    return " ".join(pdf_text(pdf).split())  # table cells wrap: compare on single spaces


def _submit_self(browser, form: dict) -> int:
    response = browser.post_form("/admin/assessment/start", {"set_id": "hcm-food-service"})
    assert response.status_code == 302
    assessment_id = int(re.search(r"/assessment/(\d+)/edit", response.headers["Location"]).group(1))
    response = browser.post_form(f"/admin/assessment/{assessment_id}/edit", dict(form, submit="1"))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return assessment_id


# --- in words -------------------------------------------------------------------------------------
def test_result_names_failing_criteria_and_thresholds_in_words(app, as_user):
    org1 = as_user("org1.admin")
    assessment_id = _submit_self(org1, FORM)
    html = org1.get(f"/admin/assessment/{assessment_id}").get_data(as_text=True)
    failing = html.split('id="assessment-failing"')[1].split("</ul>")[0]
    # C10 (critical) first, by its text, with the answer it needed; C2 with its threshold in words.
    assert failing.index('data-failing="C10"') < failing.index('data-failing="C2"')
    assert "Có phương án và khu vực cách ly tạm thời" in failing and "cần “Có”" in failing
    assert "Số khách phục vụ cùng lúc so với sức chứa" in failing and "không quá 50 %" in failing
    assert "đạt 90 %" in failing
    # The criteria table says bands in words too: never a raw condition anywhere on the page.
    assert not RAW_CONDITION.search(html), RAW_CONDITION.search(html)
    with app.app_context():
        stored = db.session.get(Assessment, assessment_id)
        assert stored.level == "must_fix"


def test_conditions_in_words_and_undescribable_bands_refused(app, ctx):
    market = next(s for s in registry().sets.values() if s.spec.id == "hcm-market").compiled
    from backoffice.criteria import words
    k4 = market.criterion("K4")
    with app.test_request_context():
        said = words.band_words(market.spec, k4.spec, 0, k4.bands[0][0], str, "vi")
        assert said == "từ giá trị “Số cổng ra vào đang mở” trở lên"
        assert words.needed_words(market.spec, k4, str, "vi") == "“từ giá trị “Số cổng ra vào đang mở” trở lên”"
    spec = next(s for s in registry().sets.values() if s.spec.id == "hcm-food-service").spec
    raw = spec.model_dump(mode="json", exclude_none=True)
    c2 = raw["groups"][0]["criteria"][1]
    c2["points"][0]["when"] = "value * 2 <= 100"  # arithmetic: no words can be derived
    with pytest.raises(CompileErrors, match="cannot be put in words: give it a label"):
        compile_set(CriteriaSet.model_validate(raw))
    c2["points"][0]["label"] = {"vi": "Không quá một nửa sức chứa", "en": "At most half the capacity"}
    compiled = compile_set(CriteriaSet.model_validate(raw))
    with app.test_request_context():
        assert words.needed_words(compiled.spec, compiled.criterion("C2"), str, "vi") == \
            "“Không quá một nửa sức chứa”"


def test_history_shows_set_names_and_the_record_prints(app, as_user):
    org1 = as_user("org1.admin")
    assessment_id = _submit_self(org1, FORM)
    index = org1.get("/admin/assessment/").get_data(as_text=True)
    history = index.split('id="assessment-history"')[1]
    assert "Bộ tiêu chí an toàn COVID-19 cho cơ sở kinh doanh dịch vụ ăn uống" in history
    assert "hcm-food-service" not in history.replace('value="hcm-food-service"', "")
    assert f"/admin/assessment/{assessment_id}/pdf" in history
    response = org1.get(f"/admin/assessment/{assessment_id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f"bien-ban-tu-danh-gia-{assessment_id}.pdf" in response.headers["Content-Disposition"]
    if shutil.which("pdftotext"):
        text = _pdf_text(response.data)
        for expected in ("BIÊN BẢN TỰ ĐÁNH GIÁ", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", KNOWN_ORGS["org1"]["name"],
                         KNOWN_ORGS["org1"]["tax_code"], "Các tiêu chí chưa đạt", "khu vực cách ly tạm thời",
                         "không quá 50 %", "Chưa được hoạt động", "Đại diện đơn vị"):
            assert expected in text, expected
        assert not RAW_CONDITION.search(text)
    # Another organization's record is out of scope; a draft has no record.
    assert as_user("org2.admin").get(f"/admin/assessment/{assessment_id}/pdf").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "assessment.print", AuditLog.entity_id == str(assessment_id))) == 1
    draft = org1.post_form("/admin/assessment/start", {"set_id": "hcm-food-service"}).headers["Location"]
    draft_id = int(re.search(r"/assessment/(\d+)/edit", draft).group(1))
    assert org1.get(f"/admin/assessment/{draft_id}/pdf").status_code == 404


# --- inspections ---------------------------------------------------------------------------------
def test_inspection_record_deadline_and_follow_up(app, ctx):
    inspector, owner, other = get_user("inspector.q1"), get_user("org1.admin"), get_user("org2.admin")
    org = demo_org("org1")
    today = local_today()
    with app.test_request_context():
        draft = service.start_assessment(inspector, org.id, "hcm-food-service", AssessmentKind.INSPECTION)
        notes = {"C10": "Chưa bố trí khu cách ly tạm thời.", "C1": "", "nope": "ignored"}
        # Something to remedy (C10 is critical and fails): a deadline is needed; a past one or a bad note refused.
        with pytest.raises(service.AnswerErrors) as info:
            service.save_answers(inspector, draft.id, FOOD, submit=True, notes=notes, findings="Thiếu khu cách ly.")
        assert set(info.value.errors) == {"remedy_deadline"}
        with pytest.raises(service.AnswerErrors) as info:
            service.save_answers(inspector, draft.id, FOOD, submit=True, notes={"C3": "x" * 501},
                                 remedy_deadline=today - timedelta(days=1))
        assert set(info.value.errors) == {"remedy_deadline", "note:C3"}
        db.session.expire_all()
        assert db.session.get(Assessment, draft.id).state == "draft"
        done = service.save_answers(inspector, draft.id, FOOD, submit=True, notes=notes,
                                    findings="Thiếu khu cách ly.", remedy_deadline=today + timedelta(days=10))
        assert done.state == "submitted" and done.follow_up == "open"
        assert done.criterion_notes == {"C10": "Chưa bố trí khu cách ly tạm thời."}
        assert done.findings == "Thiếu khu cách ly." and done.remedy_deadline == today + timedelta(days=10)
        assert not inspections.overdue(done, today) and inspections.overdue(done, today + timedelta(days=11))

        # open → remedied (by the organization, saying how) → closed (by an inspector), each dated and signed.
        with pytest.raises(service.NotFound):
            inspections.mark_remedied(other, done.id, "Đã làm")
        with pytest.raises(inspections.FollowUpError):
            inspections.close(inspector, done.id)
        with pytest.raises(inspections.FollowUpError, match="khắc phục"):
            inspections.mark_remedied(owner, done.id, "  ")
        inspections.mark_remedied(owner, done.id, "Đã bố trí phòng cách ly ở tầng trệt.")
        with pytest.raises(service.Forbidden):
            inspections.close(owner, done.id)
        closed = inspections.close(inspector, done.id)
        assert closed.follow_up == "closed" and closed.closed_by_id == inspector.id
        assert closed.remedied_by_id == owner.id and closed.remedied_at <= closed.closed_at
        with pytest.raises(inspections.FollowUpError):
            inspections.close(inspector, done.id)
        actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "assessments",
                                                                       AuditLog.entity_id == str(done.id))))
        assert {"assessment.submit", "inspection.remedied", "inspection.closed"} <= actions

        # Nothing to remedy and no deadline: the follow-up is closed as the inspection is submitted.
        clean = dict(FOOD, C2=40, C10="yes")
        second = service.start_assessment(inspector, org.id, "hcm-food-service", AssessmentKind.INSPECTION)
        try:
            second = service.save_answers(inspector, second.id, clean, submit=True)
        except service.AnswerErrors as exc:  # the demo's staff may not all be green: C5 (critical) then fails
            assert set(exc.errors) == {"remedy_deadline"}
            result = service.compiled_for(second).score(clean, service.compute_facts(
                service.compiled_for(second).fact_names, org, service.utcnow()))
            assert next(r for r in result["criteria"] if r["id"] == "C5")["passed"] is False
        else:
            assert second.level == "may_operate"
            assert second.follow_up == "closed" and second.closed_at is not None


def test_inspection_pages_and_printed_record(app, as_user):
    org1_id = _org_id(app, "org1")
    q1, owner = as_user("inspector.q1"), as_user("org1.admin")
    page = q1.get(f"/admin/compliance/org/{org1_id}").get_data(as_text=True)
    offered = set(re.findall(r'name="set_id" value="([^"]+)"', page))
    assert offered == {"hcm-food-service"}  # org1 is a restaurant: only its sector's sets
    start = q1.post_form("/admin/assessment/start", {"set_id": "hcm-food-service", "org_id": org1_id,
                                                     "kind": "inspection"})
    inspection_id = int(re.search(r"/assessment/(\d+)/edit", start.headers["Location"]).group(1))
    form = q1.get(f"/admin/assessment/{inspection_id}/edit").get_data(as_text=True)
    assert 'name="n_C10"' in form and 'name="findings"' in form and 'name="remedy_deadline"' in form
    deadline = local_today() + timedelta(days=7)
    bad = q1.post_form(f"/admin/assessment/{inspection_id}/edit", dict(FORM, submit="1", remedy_deadline="31/02"))
    assert bad.status_code == 400 and "Nhập một ngày." in bad.get_data(as_text=True)
    response = q1.post_form(f"/admin/assessment/{inspection_id}/edit",
                            dict(FORM, submit="1", n_C10="Không có khu cách ly.", findings="Phải bố trí khu cách ly.",
                                 remedy_deadline=deadline.isoformat()))
    assert response.status_code == 302
    html = q1.get(f"/admin/assessment/{inspection_id}").get_data(as_text=True)
    assert 'data-state="open"' in html and "Không có khu cách ly." in html and "Phải bố trí khu cách ly." in html
    assert deadline.strftime("%d/%m/%Y") in html and "Đang mở: cần khắc phục" in html

    # The organization says what it did; the inspector accepts it.
    assert 'id="remedied-form"' in owner.get(f"/admin/assessment/{inspection_id}").get_data(as_text=True)
    step = owner.post_form(f"/admin/assessment/{inspection_id}/follow-up/remedied", {"note": "Đã bố trí phòng."})
    assert step.status_code == 302
    assert owner.post_form(f"/admin/assessment/{inspection_id}/follow-up/close", {}).status_code == 403
    assert as_user("org2.admin").post_form(f"/admin/assessment/{inspection_id}/follow-up/remedied",
                                           {"note": "x"}).status_code == 404
    assert q1.post_form(f"/admin/assessment/{inspection_id}/follow-up/close", {}).status_code == 302
    html = q1.get(f"/admin/assessment/{inspection_id}").get_data(as_text=True)
    assert 'data-state="closed"' in html and "Đã bố trí phòng." in html

    response = q1.get(f"/admin/assessment/{inspection_id}/pdf")
    assert response.status_code == 200
    assert f"bien-ban-kiem-tra-{inspection_id}.pdf" in response.headers["Content-Disposition"]
    if shutil.which("pdftotext"):
        text = _pdf_text(response.data)
        for expected in ("BIÊN BẢN KIỂM TRA", "Ghi chú của đoàn kiểm tra", "Không có khu cách ly.",
                         "Phải bố trí khu cách ly.", f"Thời hạn khắc phục: {deadline:%d/%m/%Y}", "Đã kết thúc",
                         "Đã bố trí phòng.", "Người kiểm tra"):
            assert expected in text, expected


def test_only_the_sectors_sets_are_offered(app, as_user):
    org1 = as_user("org1.admin")
    index = org1.get("/admin/assessment/").get_data(as_text=True)
    assert set(re.findall(r'name="set_id" value="([^"]+)"', index)) == {"hcm-food-service"}
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Assessment))
    forged = org1.post_form("/admin/assessment/start", {"set_id": "hcm-school"})
    assert forged.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Assessment)) == before
    office = as_user("org2.admin").get("/admin/assessment/").get_data(as_text=True)
    assert set(re.findall(r'name="set_id" value="([^"]+)"', office)) == {"hcm-office", "hcm-1203-risk"}
    # A sector no set is made for ("other") is offered every set in force, and told so.
    with app.app_context():
        sets, general = registry().offered("other", local_today())
        assert general and {s.spec.id for s in sets} == {s.spec.id for s in registry().in_force(local_today())}


def test_compliance_level_filter_is_per_set(app, as_user):
    org1 = as_user("org1.admin")
    _submit_self(org1, dict(FORM, q_C2="40", q_C10="yes"))  # its latest: food service
    admin = as_user("admin")
    page = admin.get("/admin/compliance/").get_data(as_text=True)
    level_select = page.split('id="compliance-level"')[1].split("</select>")[0]
    assert level_select.count("<option") == 2  # no set chosen: "choose a set first" and "never self-assessed"
    page = admin.get("/admin/compliance/?set=hcm-food-service").get_data(as_text=True)
    level_select = page.split('id="compliance-level"')[1].split("</select>")[0]
    food_levels = {lv.id for s in registry_sets(app, "hcm-food-service") for lv in s.spec.levels}
    offered = set(re.findall(r'<option value="([a-z_]+)"', level_select)) - {"none", "not_evaluable"}
    assert offered == food_levels
    with app.app_context():
        stored = service.latest_self_assessment(demo_org("org1").id)
        level, org_id = stored.level, stored.organization_id
    listed = admin.get(f"/admin/compliance/?set=hcm-food-service&level={level}").get_data(as_text=True)
    assert f'data-org="{org_id}"' in listed
    other = admin.get(f"/admin/compliance/?set=hcm-school&level={level}").get_data(as_text=True)
    assert f'data-org="{org_id}"' not in other


def registry_sets(app, set_id: str):
    with app.app_context():
        return [s for s in registry().sets.values() if s.spec.id == set_id]
