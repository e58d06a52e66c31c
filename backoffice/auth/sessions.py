"""Server-side login sessions.

The signed Flask cookie carries a random secret; the database keeps only its sha256 (UserSession.id).
A session dies when revoked (logout), when its user changes password or is deactivated (all revoked),
after IDLE_TIMEOUT without a request, or SESSION_ABSOLUTE_LIFETIME after its login however busy it is.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy import update

from backoffice.extensions import db
from backoffice.models import User, UserSession
from backoffice.models.base import utcnow

# last_seen_at is written at most this often, so a busy reception page does not write on every scan.
_TOUCH_EVERY = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(user: User) -> str:
    """Create a session row for `user`; returns the secret the cookie will carry."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(UserSession(
        id=_digest(secret), user_id=user.id, created_at=now, last_seen_at=now,
        ip=request.remote_addr or "", user_agent=(request.user_agent.string or "")[:255],
    ))
    return secret


def load_session(secret: str) -> User | None:
    """The user of a live session, or None (unknown, revoked, idle too long, or user inactive)."""
    if not secret:
        return None
    row = db.session.get(UserSession, _digest(secret))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if now - row.last_seen_at > current_app.config["IDLE_TIMEOUT"] \
            or now - row.created_at > current_app.config["SESSION_ABSOLUTE_LIFETIME"]:
        row.revoked_at = now
        db.session.commit()
        return None
    user = row.user
    if not user.active:
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return user


def close_session(secret: str) -> None:
    db.session.execute(update(UserSession).where(UserSession.id == _digest(secret), UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def close_all_sessions(user_id: int, *, keep_secret: str | None = None) -> None:
    """Revoke every session of a user (password change, deactivation), optionally keeping the current one."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep_secret:
        stmt = stmt.where(UserSession.id != _digest(keep_secret))
    db.session.execute(stmt.values(revoked_at=utcnow()))


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, without its work on requests that carry no session cookie.

    Flask builds a signing serializer for every request before looking for the cookie, and works out the cookie's
    name, domain and path after every request before seeing there is nothing to save. Device clients, health
    checks and first visits send no cookie; for them the session is empty and stays so unless a view writes it."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:
        if not session and not session.modified and not session.accessed:
            return  # what Flask's save_session does in this case too: nothing
        super().save_session(app, session, response)

