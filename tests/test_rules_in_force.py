"""Rule files identical on every host, or refused: what each host loaded is compared with the files in force, and a
host whose files differ refuses to score (scans and assessments) and says which files, until they agree again."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from backoffice import create_app, rules_in_force
from backoffice.criteria import service as criteria_service
from backoffice.domain import AssessmentKind
from backoffice.errors import Unavailable
from backoffice.extensions import db
from backoffice.health.status import evaluate
from backoffice.models import AuditLog, RuleFileInForce, RuleHost
from backoffice.models.base import utcnow
from backoffice.scanning.payload import issue_personal_payload
import conftest
from conftest import get_user, post_json
from factories import checkpoint, demo_org, new_person

HEALTH = "health_status"


@pytest.fixture
def nothing_in_force(app):
    """Each test starts and ends with nothing published (the rest of the suite scores unhindered)."""
    def clear():
        with app.app_context():
            db.session.execute(delete(RuleFileInForce))
            db.session.execute(delete(RuleHost))
            db.session.commit()
        rules_in_force.forget_cache()
    clear()
    yield
    clear()


def _host(app, tmp_path: Path, name: str, edit=None):
    """Another host on the same database, with its own copy of the rule files (edited by `edit`)."""
    rules = tmp_path / f"rules-{name}"
    shutil.copytree(app.config["BACKOFFICE_RULES_DIR"], rules)
    if edit:
        edit(rules)
    other = create_app(conftest.test_config(app.config["SQLALCHEMY_DATABASE_URI"], BACKOFFICE_RULES_DIR=str(rules),
                                   BACKOFFICE_HOST_NAME=name))
    rules_in_force.forget_cache()
    return other


def _health_file(rules: Path) -> Path:
    return sorted((rules / HEALTH).glob("*.yaml"))[0]


def _comment_added(rules: Path) -> None:
    path = _health_file(rules)
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited on this host only\n", encoding="utf-8")


def _broken(rules: Path) -> None:
    _health_file(rules).write_text("id: [unclosed\n", encoding="utf-8")


def test_with_nothing_published_every_host_scores(app, nothing_in_force):
    with app.app_context():
        rules_in_force.require(HEALTH)
        rules_in_force.require("criteria")
        assert evaluate(new_person(), utcnow()).colour


def test_publish_records_every_file_of_both_suites_and_is_audited(app, nothing_in_force):
    with app.app_context():
        published = rules_in_force.publish(actor_name="test")
        rows = db.session.scalars(select(RuleFileInForce)).all()
        on_disk = {p.name for p in (Path(app.config["BACKOFFICE_RULES_DIR"]) / HEALTH).glob("*.y*ml")}
        assert {r.name for r in rows if r.kind == HEALTH} == on_disk
        assert published[HEALTH] == len(on_disk) and published["criteria"] >= 1
        assert all(len(r.sha256) == 64 for r in rows)
        assert rules_in_force.differences(HEALTH) == [] and rules_in_force.differences("criteria") == []
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action == "rules.publish")).all()
        assert len(actions) >= 2


def _browser(on_app, cookie: str) -> conftest.Browser:
    """A logged-in browser on `on_app` (sessions live in the shared database, so a login holds on every host)."""
    client = on_app.test_client()
    client.set_cookie("bo_session", cookie)
    return conftest.Browser(client, "org1.staff")


def test_a_host_whose_file_differs_refuses_scans(app, nothing_in_force, tmp_path, _sessions):
    with app.app_context():
        rules_in_force.publish()
        cp = checkpoint().id
        text = issue_personal_payload(new_person())
    other = _host(app, tmp_path, "host-b", _comment_added)
    with other.app_context():
        host = db.session.get(RuleHost, ("host-b", HEALTH))
        assert host is not None and host.agrees is False
        assert db.session.get(RuleHost, ("host-b", "criteria")).agrees is True
        found = rules_in_force.differences(HEALTH)
        assert len(found) == 1 and "content differs" in found[0]

    answer = post_json(_browser(other, _sessions["org1.staff"]), "/reception/scan", {"text": text, "checkpoint": cp})
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    assert error["code"] == "rules_differ"
    assert _health_file(Path(app.config["BACKOFFICE_RULES_DIR"])).name in error["message"]

    # The host whose files are those in force goes on scoring.
    assert post_json(_browser(app, _sessions["org1.staff"]), "/reception/scan", {"text": text, "checkpoint": cp}).status_code in (200, 201)


def test_an_assessment_on_a_host_whose_criteria_differ_is_refused(app, nothing_in_force, tmp_path):
    with app.app_context():
        rules_in_force.publish()
        user, org = get_user("org1.admin"), demo_org("org1")

    def edit_criteria(rules: Path) -> None:
        path = sorted((rules / "criteria").glob("*.yaml"))[0]
        path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")

    other = _host(app, tmp_path, "host-c", edit_criteria)
    with other.test_request_context():
        with pytest.raises(Unavailable) as info:
            criteria_service.start_assessment(user, org.id, "hcm-food-service", AssessmentKind.SELF)
        assert info.value.code == "rules_differ" and info.value.status == 503


def test_a_broken_edit_on_one_host_is_caught_not_silently_dropped(app, nothing_in_force, tmp_path):
    with app.app_context():
        rules_in_force.publish()
    other = _host(app, tmp_path, "host-d", _broken)
    with other.app_context():
        found = rules_in_force.differences(HEALTH)
        assert found and "not loaded here" in found[0]
        with pytest.raises(Unavailable):
            evaluate(new_person(), utcnow())


def test_the_first_host_to_start_publishes_and_later_hosts_compare(app, nothing_in_force, tmp_path):
    first = _host(app, tmp_path, "host-e")
    with first.app_context():
        assert db.session.scalar(select(RuleFileInForce.name).where(RuleFileInForce.kind == HEALTH).limit(1))
        assert db.session.get(RuleHost, ("host-e", HEALTH)).agrees is True
    second = _host(app, tmp_path, "host-f", _comment_added)
    with second.app_context():
        assert db.session.get(RuleHost, ("host-f", HEALTH)).agrees is False


def test_cli_publish_and_hosts(app, nothing_in_force, tmp_path):
    other = _host(app, tmp_path, "host-g", _comment_added)
    runner = other.test_cli_runner()
    published = runner.invoke(args=["rules", "publish"])
    assert published.exit_code == 0, published.output
    assert f"{HEALTH}:" in published.output and "file(s) in force" in published.output
    rules_in_force.forget_cache()
    with other.app_context():
        assert rules_in_force.differences(HEALTH) == []
    with app.app_context():
        assert rules_in_force.differences(HEALTH)  # now the session's own host is the one that differs
    hosts = runner.invoke(args=["rules", "hosts"])
    assert hosts.exit_code == 0 and "host-g\thealth_status" in hosts.output


def test_cli_publish_refuses_files_with_problems(app, nothing_in_force, tmp_path):
    rules = tmp_path / "rules-broken"
    shutil.copytree(app.config["BACKOFFICE_RULES_DIR"], rules)
    _broken(rules)
    old = app.config["BACKOFFICE_RULES_DIR"]
    app.config["BACKOFFICE_RULES_DIR"] = str(rules)
    try:
        result = app.test_cli_runner().invoke(args=["rules", "publish"])
    finally:
        app.config["BACKOFFICE_RULES_DIR"] = old
    assert result.exit_code == 1 and "Nothing published" in result.output
    with app.app_context():
        assert db.session.scalar(select(RuleFileInForce.name).limit(1)) is None
