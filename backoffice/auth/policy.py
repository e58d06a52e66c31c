"""Who may do what: the one table of the application's rights, and `may(user, action, record)`.

Two kinds of entries, read the same way:

- `ACTIONS`: a named action (a page, a verb) → the roles that may do it;
- `MODEL_ACCESS`: a Flask-Admin model view's rights, role → the verbs of `ALL_ACTIONS` (list, details, create,
  edit, delete, export); `may(user, "organization.edit")` reads them as the action "<view>.<verb>".

A role answers which actions a user may do; which rows, `backoffice.auth.scope` (the scope of each model). An action
on a record needs both: `may(user, action, record)` also asks whether the record is in the user's scope.
"""
from __future__ import annotations

from typing import Any, Mapping

from backoffice.domain import Role

ALL_ACTIONS = frozenset({"list", "details", "create", "edit", "delete", "export"})
READ = frozenset({"list", "details", "export"})

CITY, INSPECTOR, WARD, ORG, CHECKPOINT = (Role.CITY_ADMIN, Role.INSPECTOR, Role.WARD_OFFICER, Role.ORG_ADMIN,
                                          Role.CHECKPOINT_STAFF)

ACTIONS: dict[str, frozenset[Role]] = {
    # Criteria: the assessment pages serve the organization's self-assessment and the inspector's inspection.
    "criteria.assess": frozenset({ORG, INSPECTOR, CITY}),
    "criteria.self_assess": frozenset({ORG}),
    "criteria.sets": frozenset({ORG, INSPECTOR, CITY}),
    "compliance.inspect": frozenset({INSPECTOR, CITY}),
    # An inspection in draft is its inspector's to edit; the city may edit anyone's.
    "compliance.edit_others": frozenset({CITY}),
    # Staff links: the ward confirms what an organization listed; the organization reads its linked staff's health.
    "staff.link_queue": frozenset({WARD}),
    "staff.health": frozenset({ORG}),
    # Contact tracing, and the alerts it sends to the organizations visited.
    "tracing.trace": frozenset({CITY, INSPECTOR}),
    "tracing.alerts": frozenset({ORG}),
    # Scanning: the reception page, the signing keys, device tokens, closing stays from the check-in list.
    "reception.scan": frozenset({CHECKPOINT, ORG}),
    "keys.manage": frozenset({CITY}),
    "devices.issue": frozenset({ORG}),
    "devices.revoke": frozenset({ORG, CITY}),
    "checkins.check_out": frozenset({ORG}),
    # A check-in's stored reason is health data: the officers whose scope holds the person's record read it; an
    # organization reads its visitors' colours only.
    "checkins.health_reason": frozenset({CITY, INSPECTOR}),
    # Printing: posters and their tokens (an inspector reads posters but does not revoke them), residents' cards.
    "printing.posters": frozenset({CITY, INSPECTOR, ORG}),
    "printing.rotate": frozenset({CITY, ORG}),
    "printing.cards": frozenset({WARD, CITY}),
    # Reports over an area; a ward's and an organization's own figures (their home panel and its chart).
    "reports.area": frozenset({CITY, INSPECTOR}),
    "reports.ward": frozenset({WARD}),
    "reports.organization": frozenset({ORG}),
    # Imports, one action per kind of file.
    "imports.organizations": frozenset({CITY, INSPECTOR}),
    "imports.residents": frozenset({WARD}),
    "imports.staff": frozenset({ORG}),
    # Registrations: approving or rejecting an organization that registered itself.
    "registration.decide": frozenset({CITY, INSPECTOR}),
}

_HEALTH_RECORDS = {
    CITY: ALL_ACTIONS,
    INSPECTOR: READ,
    WARD: ALL_ACTIONS,
    # No organization admin: an organization sees its linked staff's health summary (backoffice.staff), not records.
}

MODEL_ACCESS: dict[str, Mapping[Role, frozenset[str]]] = {
    "organization": {CITY: ALL_ACTIONS, INSPECTOR: READ | {"create", "edit"}, WARD: READ,
                     ORG: frozenset({"list", "details", "edit"})},
    "registration_admin": {CITY: frozenset({"list", "details"}), INSPECTOR: frozenset({"list", "details"})},
    "location": {CITY: ALL_ACTIONS, INSPECTOR: READ, ORG: ALL_ACTIONS},
    "checkpoint": {CITY: ALL_ACTIONS, INSPECTOR: READ, ORG: ALL_ACTIONS},
    "staff": {CITY: ALL_ACTIONS, INSPECTOR: READ, ORG: ALL_ACTIONS},
    # No organization admin: the registry is not an organization's to read, not even its staff's rows.
    "person": {CITY: ALL_ACTIONS, INSPECTOR: READ, WARD: READ | {"create", "edit"}},
    "vaccination": _HEALTH_RECORDS,
    "testresult": _HEALTH_RECORDS,
    "recovery": _HEALTH_RECORDS,
    "user": {CITY: ALL_ACTIONS, ORG: frozenset({"list", "details", "create", "edit"})},
    "auditlog": {CITY: READ, INSPECTOR: READ, ORG: frozenset({"list", "details"})},
    # Check-ins are read; an organization admin also closes stays (the action "checkins.check_out").
    "checkin": {CITY: READ, INSPECTOR: READ, ORG: READ},
    # One way to create a token: the list's own "Create" tab, for organization admins ("devices.issue").
    "devicetoken": {CITY: frozenset({"list", "details"}), ORG: frozenset({"list", "details", "create"})},
}


def model_access(view: str) -> dict[Role, frozenset[str]]:
    """A model view's rights, role → verbs, in the shape `ScopedModelView.access` has."""
    return dict(MODEL_ACCESS[view])


def roles_for(action: str) -> frozenset[Role]:
    """The roles that may do `action` ("<model view>.<verb>" for a model view's verbs). An unknown action is a
    programming error: it raises, so a typo never quietly allows or denies."""
    if action in ACTIONS:
        return ACTIONS[action]
    view, _sep, verb = action.rpartition(".")
    if view in MODEL_ACCESS and verb in ALL_ACTIONS:
        return frozenset(role for role, verbs in MODEL_ACCESS[view].items() if verb in verbs)
    raise LookupError(f"no policy for {action!r}; add it to backoffice.auth.policy")


def role_of(user: Any) -> Role | None:
    """The role of a logged-in user; None for anyone else (anonymous, unknown role). A deactivated account is
    refused at login and on every request (Flask-Login's is_active), and reads nothing (its scope is empty)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return Role(user.role)
    except ValueError:
        return None


def may(user: Any, action: str, record: Any = None) -> bool:
    """Whether `user` may do `action`, and, given a `record` (a model instance), on that record: its role must
    allow the action and the record must be in the user's scope."""
    roles = roles_for(action)
    role = role_of(user)
    if role is None or role not in roles:
        return False
    if record is None:
        return True
    from sqlalchemy import inspect as sa_inspect
    from backoffice.auth.scope import in_scope
    identity = sa_inspect(record).identity
    return identity is not None and in_scope(type(record), identity[0], user)


__all__ = ["ACTIONS", "MODEL_ACCESS", "ALL_ACTIONS", "READ", "may", "model_access", "role_of", "roles_for"]
