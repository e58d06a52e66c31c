"""The device API against its OpenAPI description (backoffice/api/openapi.yaml, served at /api/v1/openapi.json),
exercised by schemathesis through the WSGI app with a real device token: no 5xx, every status and body as
described, authentication not ignored. Bounded: a fixed number of generated requests per operation."""
from __future__ import annotations

import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Checkpoint
from backoffice.scanning import devices
from campaign_support import report_fixture, tried
from conftest import get_user

_campaign = report_fixture("bad-input campaign, OpenAPI (schemathesis)")


@pytest.fixture(scope="module")
def device_secret(app):
    with app.app_context():
        admin = get_user("org1.admin")
        checkpoint = db.session.scalar(select(Checkpoint).where(Checkpoint.organization_id == admin.organization_id,
                                                                Checkpoint.active.is_(True)).order_by(Checkpoint.id))
        _token, secret = devices.create_device_token(checkpoint.id, f"schemathesis {secrets.token_hex(3)}",
                                                     user=admin)
        return secret


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.ignored_auth]
OPERATIONS = ["GET /api/v1/keys", "POST /api/v1/scans", "POST /api/v1/scans/image"]


# schemathesis' own pytest plugin does not run under pytest 9, so each operation's strategy is driven by
# hypothesis directly: positive cases (valid by the schema) and negative ones (violating it).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("name", OPERATIONS)
def test_api_conforms_to_its_description(app, device_secret, name, mode):
    with app.app_context():
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    method, path = name.split(" ")
    operation = next(r.ok() for r in schema.get_all_operations()
                     if r.ok().method.upper() == method and r.ok().path == path)
    if mode == GenerationMode.NEGATIVE and method == "GET":
        return  # nothing to violate: no parameters

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        tried(f"API {name} ({mode.value})")
        with app.app_context():
            case.call_and_validate(headers={"Authorization": f"Bearer {device_secret}"}, checks=CHECKS)

    run()


def test_description_is_served_and_names_every_api_route(app):
    document = app.test_client().get("/api/v1/openapi.json")
    assert document.status_code == 200 and document.mimetype == "application/json"
    described = {path for path in document.json["paths"]}
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert routes == described, f"routes not described: {routes - described}; described, absent: {described - routes}"
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
            assert methods <= set(document.json["paths"][rule.rule]), rule.rule
