"""Role checks for interfaces: refusing (audited), a decorator for blueprint routes and the base of every admin page
that is not a model view. What each role may do is `backoffice.auth.policy`'s table; these only ask it."""
from __future__ import annotations

from functools import wraps
from typing import Callable, NoReturn

from flask import redirect, request, url_for
from flask_admin import BaseView
from flask_login import current_user

from backoffice.auth.policy import may
from backoffice.errors import OutOfRole


def record_denied(reason: str = "role") -> None:
    """Leave a trace of a refused request in the audit log. Whatever the request had flushed is rolled back
    first: nothing of a refused request survives (and SQLite's write lock is released for the audit entry)."""
    from backoffice import audit
    from backoffice.extensions import db
    db.session.rollback()
    audit.record_now("request.denied", entity_name="request", entity_id=request.path[:64],
                     after={"method": request.method, "reason": reason})


def deny(reason: str = "role") -> NoReturn:
    """Refuse with 403, audited as `request.denied` with `reason` (OutOfRole, answered by `errors.answer`)."""
    raise OutOfRole(code=reason)


def policy_required(action: str) -> Callable:
    """Decorator: the logged-in user must be allowed `action` (401 → login when anonymous, 403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                from backoffice.extensions import login_manager
                return login_manager.unauthorized()
            if not may(current_user, action):
                deny()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def allows(action: str) -> bool:
    """Whether the current user may do `action`."""
    return may(current_user, action)


class PolicyView(BaseView):
    """Base of every admin page that is not a model view: open to the roles `action` names in the policy; anyone
    else is sent to the login page (anonymous) or refused with 403, audited as `denied_as` (default
    "<endpoint>.access")."""

    action: str = ""
    denied_as: str | None = None

    def is_accessible(self) -> bool:
        return allows(self.action)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        deny(self.denied_as or f"{self.endpoint}.access")
