"""Operations: freezing set versions, stored results that never change, answer validation, facts, scope."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from backoffice.config import PROJECT_ROOT
from backoffice.criteria import service
from backoffice.criteria.display import criterion_views
from backoffice.criteria.facts import staff_green_share
from backoffice.criteria.registry import Registry, check_dir
from backoffice.extensions import db
from backoffice.models import Assessment, Organization, Staff
from backoffice.models.base import utcnow
from conftest import get_user
from factories import demo_org

SCHOOL = (PROJECT_ROOT / "rules" / "criteria" / "hcm-school.yaml").read_text(encoding="utf-8")
ANSWERS = {"S2": "yes", "S3": "yes", "S4": "yes", "S5": "yes", "S6": "no", "S7": "no", "S8": "crowded", "S9": 18}


@pytest.fixture()
def own_set(app, ctx, tmp_path, monkeypatch):
    """A private copy of the school set under a unique id, served by a registry of its own."""
    set_id = f"test-school-{uuid.uuid4().hex[:8]}"
    (tmp_path / "criteria").mkdir()
    path = tmp_path / "criteria" / "set.yaml"
    path.write_text(SCHOOL.replace("id: hcm-school", f"id: {set_id}"), encoding="utf-8")

    def use(text: str | None = None) -> Registry:
        if text is not None:
            path.write_text(text, encoding="utf-8")
        registry = Registry.load(tmp_path)
        monkeypatch.setitem(app.extensions, "criteria", registry)
        return registry

    use()
    return set_id, path, use, tmp_path


def test_stored_result_never_changes_with_a_new_version(app, own_set):
    set_id, path, use, rules_dir = own_set
    user, org = get_user("org1.admin"), demo_org("org1")
    with app.test_request_context():
        draft = service.start_assessment(user, org.id, set_id)
        done = service.save_answers(user, draft.id, ANSWERS, submit=True)
        stored_result, stored_level = done.result, done.level
        old_text = criterion_views(service.compiled_for(done), done.result)[8].text
    assert done.ruleset_version == "1.0.0" and done.set_version.content_sha256

    # Version 1.1.0 changes a threshold and a text: the stored assessment keeps its result and texts.
    v2 = path.read_text(encoding="utf-8").replace('version: "1.0.0"', 'version: "1.1.0"') \
        .replace('{when: "value <= 20", points: 1}', '{when: "value <= 15", points: 1}') \
        .replace("Sĩ số tối đa mỗi lớp", "Sĩ số tối đa mỗi lớp học (sửa đổi)")
    use(v2)
    db.session.expire_all()
    again = db.session.get(Assessment, done.id)
    assert again.result == stored_result and again.level == stored_level
    assert service.rescore(again) == stored_result
    with app.test_request_context():
        assert criterion_views(service.compiled_for(again), again.result)[8].text == old_text
        # A new assessment uses the new version, scoring S9 = 18 as a failure now.
        fresh = service.save_answers(user, service.start_assessment(user, org.id, set_id).id, ANSWERS, submit=True)
    assert fresh.ruleset_version == "1.1.0"
    assert next(c for c in fresh.result["criteria"] if c["id"] == "S9")["points"] == 0
    assert next(c for c in stored_result["criteria"] if c["id"] == "S9")["points"] == 1

    # Editing 1.1.0 in place (no version bump) after it was used is detected, precisely.
    use(v2.replace("Sĩ số tối đa mỗi lớp học (sửa đổi)", "Sĩ số lớp"))
    problems = check_dir(rules_dir)
    assert len(problems) == 1 and f"set {set_id} version 1.1.0" == problems[0].where
    assert "content differs from the version already used" in problems[0].message
    with app.test_request_context(), pytest.raises(service.SetVersionConflict, match="give the changed set a new"):
        service.start_assessment(user, org.id, set_id)


def test_bad_answers_save_nothing(app, own_set):
    set_id, _path, _use, _dir = own_set
    user, org = get_user("org1.admin"), demo_org("org1")
    with app.test_request_context():
        draft = service.start_assessment(user, org.id, set_id)
        bad = dict(ANSWERS, S2="maybe", S8="buffet", S9=12.5)
        del bad["S3"]
        with pytest.raises(service.AnswerErrors) as info:
            service.save_answers(user, draft.id, bad, submit=True)
        assert set(info.value.errors) == {"S2", "S3", "S8", "S9"}
        with pytest.raises(service.AnswerErrors) as info:
            service.save_answers(user, draft.id, dict(ANSWERS, S9=81), submit=False)
        assert "1" in info.value.errors["S9"] and "80" in info.value.errors["S9"]
    db.session.rollback()
    db.session.expire_all()
    stored = db.session.get(Assessment, draft.id)
    assert stored.answers == {} and stored.state == "draft" and stored.result is None


def test_scope_and_roles(app, ctx):
    org1 = demo_org("org1")
    with app.test_request_context():
        with pytest.raises(service.NotFound):
            service.start_assessment(get_user("inspector.q3"), org1.id, "hcm-food-service", service.AssessmentKind.INSPECTION)
        with pytest.raises(service.Forbidden):
            service.start_assessment(get_user("org1.admin"), org1.id, "hcm-food-service",
                                     service.AssessmentKind.INSPECTION)
        with pytest.raises(service.Forbidden):
            service.start_assessment(get_user("inspector.q1"), org1.id, "hcm-food-service")
        with pytest.raises(service.NotFound):
            service.start_assessment(get_user("org2.admin"), org1.id, "hcm-food-service")


def test_staff_green_share_fact(app, ctx):
    from backoffice.health.status import colours_for
    org1 = demo_org("org1")
    staff = db.session.execute(select(Staff.person_id).where(Staff.organization_id == org1.id,
                                                             Staff.active.is_(True))).scalars().all()
    now = utcnow()
    colours = colours_for([p for p in staff if p], now)
    expected = sum(1 for p in staff if p and colours[p].colour == "green") / len(staff)
    fact = staff_green_share(org1, now)
    assert fact.value == round(expected, 4) and fact.count == len(staff) and fact.reason is None
    # An organization without active staff: not evaluable, with its reason.
    empty = Organization(id=10**9, name="x", tax_code="x", ward_code=org1.ward_code, district_code=org1.district_code)
    fact = staff_green_share(empty, now)
    assert fact.value is None and fact.reason == "no_staff"
