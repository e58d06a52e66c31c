"""The domain's error vocabulary, and its one mapping to HTTP.

Operations raise these, never `abort()`: they run the same from a view, the CLI or a job, and only the web
interface turns them into answers (`register(app)`):

- `OutOfScope` → 404. The record does not exist or the user may not read it; the answer says no more than
  "not found", so it never reveals that a record exists outside the user's scope.
- `OutOfRole` → 403, audited as `request.denied` with the error's code as the reason (as `deny()` does).
- `Invalid` (the input cannot be accepted) and `Refused` (the request is well formed but cannot be met now)
  → 422, with the reason code and the user's message.

JSON for the API and requests that accept JSON, the HTML error page otherwise, in the one shape every error of
the application has: `{"error": {"code": …, "message": …}}`.
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


__all__ = ["DomainError", "OutOfScope", "OutOfRole", "Invalid", "Refused", "answer", "register"]
