"""The policy table: every action names roles that exist, every admin view takes its rights from it, and what
`may(user, action)` answers is what each role meets over HTTP (the access matrix checks the model views' verbs)."""
from __future__ import annotations

import pytest
from flask_admin.contrib.sqla import ModelView

from backoffice.admin import admin_for
from backoffice.auth import policy
from backoffice.auth.permissions import PolicyView
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import Organization
from conftest import DEMO_USERS, get_user


def test_every_action_maps_to_roles_that_exist():
    assert policy.ACTIONS and policy.MODEL_ACCESS
    for action, roles in policy.ACTIONS.items():
        assert roles and all(isinstance(role, Role) for role in roles), action
    for view, rights in policy.MODEL_ACCESS.items():
        for role, verbs in rights.items():
            assert isinstance(role, Role) and verbs and verbs <= policy.ALL_ACTIONS, (view, role)


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(LookupError):
        policy.may(None, "no.such.action")
    with pytest.raises(LookupError):
        policy.roles_for("organization.approve")  # a model view, but not one of its verbs


def test_every_admin_view_takes_its_rights_from_the_policy(app):
    seen = set()
    for view in admin_for(app)._views:
        if isinstance(view, ModelView):
            assert view.access == policy.model_access(view.endpoint), view.endpoint
            seen.add(view.endpoint)
        elif isinstance(view, PolicyView):
            assert policy.roles_for(view.action), view.endpoint
        else:
            assert view.endpoint == "admin", f"{view.endpoint}: an admin page that is not a PolicyView"
    assert seen == set(policy.MODEL_ACCESS)


def _pages(app) -> list[tuple[str, str]]:
    """(policy action, index URL) of every admin page that is not a model view, plus the reception page."""
    pages = [(view.action, view.url.rstrip("/") + "/") for view in admin_for(app)._views
             if isinstance(view, PolicyView)]
    return pages + [("reception.scan", "/reception/")]


@pytest.mark.parametrize("username", DEMO_USERS)
def test_may_is_what_each_role_meets_over_http(app, ctx, as_user, username):
    user = get_user(username)
    browser = as_user(username)
    for action, url in _pages(app):
        status = browser.get(url).status_code
        if policy.may(user, action):
            assert status in (200, 302), (username, action, url, status)
        else:
            assert status == 403, (username, action, url, status)


def test_model_view_verbs_read_the_same_table(ctx):
    admin, org_admin, ward = get_user("admin"), get_user("org1.admin"), get_user("ward.bennghe")
    assert policy.may(admin, "organization.delete") and not policy.may(org_admin, "organization.delete")
    assert policy.may(org_admin, "organization.edit") and not policy.may(ward, "organization.edit")
    assert policy.may(ward, "person.create") and not policy.may(org_admin, "person.list")
    assert not policy.may(None, "organization.list")


def test_an_action_on_a_record_also_needs_the_record_in_scope(ctx):
    org1, org2 = get_user("org1.admin"), get_user("org2.admin")
    own = db.session.get(Organization, org1.organization_id)
    assert policy.may(org1, "printing.rotate", own)
    assert not policy.may(org2, "printing.rotate", own)  # the role may, this record is not theirs
    assert not policy.may(get_user("inspector.q1"), "printing.rotate", own)  # the role may not
