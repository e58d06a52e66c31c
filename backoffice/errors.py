"""The domain's error vocabulary, and its one mapping to HTTP.

Operations raise these, never `abort()`: they run the same from a view, the CLI or a job, and only the web
interface turns them into answers (`register(app)`). Every kind, its status, and when to raise it:

| kind          | status | when                                                                              |
|---------------|--------|-----------------------------------------------------------------------------------|
| `BadRequest`  | 400    | the request itself is malformed: a missing or unreadable parameter, an unknown     |
|               |        | format, a list of ids that are not ids                                            |
| `OutOfRole`   | 403    | the record is in the user's scope (or none is involved) but their role may not do  |
|               |        | this; audited as `request.denied` with the error's code as the reason             |
| `OutOfScope`  | 404    | the record does not exist or lies outside the user's scope; the answer says no     |
|               |        | more than "not found", so it never reveals a record outside the scope             |
| `Conflict`    | 409    | well formed, but it clashes with the record's current state: a duplicate, a case   |
|               |        | still waiting for approval, a version edited meanwhile                            |
| `Invalid`     | 422    | the input is well formed but cannot be accepted (a date out of range, a bad code)  |
| `Refused`     | 422    | well formed and valid, but it cannot be done now (already closed, rows with errors)|
| `Unavailable` | 503    | this host cannot serve the request as things stand: a balancer or client tries     |
|               |        | another host or later                                                             |

The answers other than 404 and 403 carry the reason code and the user's message. JSON for the API and requests
that accept JSON, the HTML error page otherwise, in the one shape every error of the application has:
`{"error": {"code": …, "message": …}}`. Whatever the request had flushed is rolled back before the answer.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask


class DomainError(ValueError):
    """A request the domain will not carry out. `code` is a stable reason code (for scripts and the audit log),
    `message` the text for the user (may be lazy; empty: the status's usual sentence)."""

    status: int = 422
    default_code: str = "invalid"

    def __init__(self, message: Any = "", code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class OutOfScope(DomainError, LookupError):
    """No such record within the user's scope (404)."""

    status = 404
    default_code = "not_found"


class OutOfRole(DomainError, PermissionError):
    """In scope, but the user's role may not do this (403, audited)."""

    status = 403
    default_code = "role"


class BadRequest(DomainError):
    """The request is malformed: a parameter missing, unreadable or not one of those allowed (400)."""

    status = 400
    default_code = "bad_request"


class Conflict(DomainError):
    """Well formed, but it clashes with the record's current state (409): a duplicate, a pending approval…"""

    status = 409
    default_code = "conflict"


class Invalid(DomainError):
    """The input cannot be accepted (422 with the reason code)."""


class Refused(DomainError):
    """Well formed, but it cannot be done now: already closed, a conflict… (422 with the reason code)."""

    default_code = "refused"


class Unavailable(DomainError):
    """This host cannot serve the request as things stand (its rule files differ from those in force…): 503, so
    a balancer or a client tries another host or later."""

    status = 503
    default_code = "unavailable"


Render = Callable[..., Any]


def answer(exc: DomainError, render: Render):
    """The HTTP answer for `exc`, drawn by `render(status, message=None, reason=None)`, the application's error
    renderer. Whatever the request had flushed is rolled back first: nothing of a refused request survives."""
    from backoffice.extensions import db
    db.session.rollback()
    if isinstance(exc, OutOfScope):
        return render(404)
    if isinstance(exc, OutOfRole):
        from backoffice.auth.permissions import record_denied
        record_denied(exc.code)
        return render(403)
    return render(exc.status, str(exc.message) if exc.message else None, exc.code)


def register(app: Flask, render: Render) -> None:
    """The one place domain errors become HTTP answers."""
    app.register_error_handler(DomainError, lambda exc: answer(exc, render))


__all__ = ["DomainError", "BadRequest", "OutOfScope", "OutOfRole", "Conflict", "Invalid", "Refused", "Unavailable",
           "answer", "register"]
