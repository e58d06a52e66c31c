"""What each role may do, for views that are not model views (model views declare their own `access`)."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import abort, request
from flask_login import current_user

from backoffice.domain import Role


def deny(reason: str = "role") -> None:
    """Answer 403 and leave a trace in the audit log. Whatever the request had flushed is rolled back
    first: nothing of a refused request survives (and SQLite's write lock is released for the audit entry)."""
    from backoffice import audit
    from backoffice.extensions import db
    db.session.rollback()
    audit.record_now("request.denied", entity_name="request", entity_id=request.path[:64],
                     after={"method": request.method, "reason": reason})
    abort(403)


def roles_required(*roles: Role) -> Callable:
    """Decorator: the logged-in user must have one of `roles` (401 → login when anonymous, 403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                from backoffice.extensions import login_manager
                return login_manager.unauthorized()
            if current_user.role not in {r.value for r in roles}:
                deny()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def has_role(*roles: Role) -> bool:
    return bool(current_user.is_authenticated and current_user.role in {r.value for r in roles})
