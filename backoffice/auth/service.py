"""Operations on accounts: authenticate, change password, create, activate/deactivate. Each writes the audit log."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterable, Mapping

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from backoffice import audit, records
from backoffice.auth import sessions
from backoffice.auth.passwords import MIN_LENGTH, hash_password, needs_rehash, strength_score, verify_password
from backoffice.domain import Role
from backoffice.errors import Invalid
from backoffice.extensions import db
from backoffice.models import Checkpoint, District, User, UserSession, Ward
from backoffice.models.base import utcnow


class AccountError(Invalid):
    """A request about an account that cannot be met; the message is for the user, `field` names the form
    field it concerns, when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Failures are audited; the caller shows one message
    for every kind of failure so usernames cannot be probed."""
    name = (username or "").strip().lower()
    user = db.session.scalar(select(User).where(func.lower(User.username) == name)) if name else None
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or not user.active:
        reason = "unknown_user" if user is None else ("inactive" if ok else "wrong_password")
        audit.record_now("login.failed", actor=None, actor_name=name[:64], entity_name="users",
                         entity_id=user.id if user else "", after={"reason": reason})
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


KNOWN_ADDRESS_DAYS = 30


def logged_in_from(username: str, address: str) -> bool:
    """Whether this user opened a session from this address in the last KNOWN_ADDRESS_DAYS days."""
    if not username or not address:
        return False
    since = utcnow() - timedelta(days=KNOWN_ADDRESS_DAYS)
    return db.session.scalar(
        select(UserSession.id).join(User, User.id == UserSession.user_id)
        .where(func.lower(User.username) == username.strip().lower(), UserSession.ip == address,
               UserSession.created_at >= since).limit(1)) is not None


def start_session(user: User) -> str:
    """Open a server-side session for a user who just authenticated; returns the cookie secret."""
    secret = sessions.open_session(user)
    user.last_login_at = utcnow()
    audit.record("login.success", user, actor=user)
    db.session.commit()
    user.session_secret = secret
    return secret


def end_session(user: User, secret: str) -> None:
    sessions.close_session(secret)
    audit.record("logout", user, actor=user)
    db.session.commit()


def check_password_strength(password: str, username: str = "", *other_inputs: str | None) -> None:
    """The one password policy (own change, administrator's set, registration, user creation): a length, not the
    username, and a zxcvbn score of at least PASSWORD_MIN_SCORE with the user's own words (username, name,
    e-mail) counted as guesses."""
    if len(password) < MIN_LENGTH:
        raise AccountError(_("The password must have at least %(n)d characters.", n=MIN_LENGTH), field="new")
    if username and username.lower() in password.lower():
        raise AccountError(_("The password must not contain the username."), field="new")
    minimum = int(current_app.config.get("PASSWORD_MIN_SCORE", 3))
    if strength_score(password, [username, *(w for w in other_inputs if w)]) < minimum:
        raise AccountError(_("This password is too easy to guess (a common password, a name, a date or a "
                             "simple pattern). Use a longer phrase of several unrelated words."), field="new")


def change_password(user: User, current: str, new: str, *, keep_secret: str | None = None) -> None:
    """Change a user's own password; every other session of the user ends."""
    if not verify_password(user.password_hash, current):
        raise AccountError(_("The current password is wrong."), field="current")
    check_password_strength(new, user.username, user.full_name, user.email)
    if verify_password(user.password_hash, new):
        raise AccountError(_("The new password must differ from the current one."), field="new")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    sessions.close_all_sessions(user.id, keep_secret=keep_secret)
    audit.record("user.password_changed", user)
    db.session.commit()


def set_password(user: User, new: str, *, must_change: bool = True) -> None:
    """An administrator sets a password (or an import issues a one-time password); sessions end."""
    check_password_strength(new, user.username, user.full_name, user.email)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    sessions.close_all_sessions(user.id)
    audit.record("user.password_set", user)


def validate_scope_fields(role: str, *, districts: Iterable[District] = (), ward: Ward | None = None,
                          organization_id: int | None = None, checkpoints: Iterable[Checkpoint] = ()) -> None:
    """Each role needs its scope: districts, a ward, an organization (and checkpoints of it)."""
    districts, checkpoints = list(districts), list(checkpoints)
    if role == Role.INSPECTOR and not districts:
        raise AccountError(_("An inspector needs at least one district."))
    if role == Role.WARD_OFFICER and ward is None:
        raise AccountError(_("A ward officer needs a ward."))
    if role in (Role.ORG_ADMIN, Role.CHECKPOINT_STAFF) and organization_id is None:
        raise AccountError(_("This role needs an organization."))
    if any(c.organization_id != organization_id for c in checkpoints):
        raise AccountError(_("Checkpoints must belong to the user's organization."))


def create_user(username: str, password: str, role: str, *, full_name: str = "", email: str | None = None,
                district_codes: Iterable[int] = (), ward_code: int | None = None, organization_id: int | None = None,
                checkpoint_ids: Iterable[int] = (), sector: str | None = None, must_change_password: bool = False,
                commit: bool = True, password_policy: bool = True) -> User:
    """Create an account. `password_policy=False` only for the demo seed, whose shared password is known anyway."""
    username = username.strip().lower()
    if not username:
        raise AccountError(_("Username is required."))
    if username_taken(username):
        raise AccountError(_("The username %(name)s is taken.", name=username))
    if role not in {r.value for r in Role}:
        raise AccountError(_("Unknown role %(role)s.", role=role))
    districts = list(db.session.scalars(select(District).where(District.code.in_(list(district_codes)))))
    ward = db.session.get(Ward, ward_code) if ward_code else None
    checkpoints = list(db.session.scalars(select(Checkpoint).where(Checkpoint.id.in_(list(checkpoint_ids)))))
    validate_scope_fields(role, districts=districts, ward=ward, organization_id=organization_id,
                          checkpoints=checkpoints)
    if password_policy:
        check_password_strength(password, username, full_name, email)
    user = User(username=username, full_name=full_name, email=email, role=role, password_hash=hash_password(password),
                ward_code=ward_code, organization_id=organization_id, sector=sector, active=True,
                must_change_password=must_change_password, password_changed_at=utcnow())
    user.districts = districts
    user.checkpoints = checkpoints
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, after=audit.snapshot(user))
    if commit:
        db.session.commit()
    return user


def username_taken(username: str) -> bool:
    name = username.strip().lower()
    return db.session.scalar(select(User.id).where(func.lower(User.username) == name)) is not None


def set_active(user: User, active: bool) -> None:
    """Activate or deactivate an account; deactivation ends every session at once."""
    user.active = active
    if not active:
        sessions.close_all_sessions(user.id)
    audit.record("user.activate" if active else "user.deactivate", user)


# --- accounts as an administrator keeps them (the Users view) ------------------------------------------------

USER_FIELDS = ("username", "full_name", "email", "role", "districts", "sector", "ward", "organization",
               "checkpoints", "active")


def _account_rules(actor: Any, user: User, *, created: bool) -> None:
    """What an administrator may make of an account: an organization admin keeps its own organization's checkpoint
    staff (and its own account), nothing else; every role gets the scope it needs."""
    if actor is not None and actor.role == Role.ORG_ADMIN:
        if created:
            user.role = Role.CHECKPOINT_STAFF.value
            user.organization_id = actor.organization_id
        elif user.id != actor.id and user.role != Role.CHECKPOINT_STAFF:
            raise AccountError(_("You can only manage checkpoint staff accounts."))
    user.username = (user.username or "").strip().lower()
    user.sector = user.sector or None
    validate_scope_fields(user.role, districts=user.districts, ward=user.ward,
                          organization_id=user.organization_id or (user.organization.id if user.organization else None),
                          checkpoints=user.checkpoints)


def create_account(actor: Any, values: Mapping[str, Any], password: str) -> User:
    """An administrator opens an account with a first password, which the user must change at their first login."""
    user = User()
    records.apply(user, values, USER_FIELDS)
    _account_rules(actor, user, created=True)
    check_password_strength(password, user.username)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    return records.create(actor, user, {}, USER_FIELDS)


def update_account(actor: Any, user: User, values: Mapping[str, Any], password: str | None = None) -> User:
    """An administrator changes an account, and sets its password when `password` is given; a new password or a
    deactivation ends the account's sessions."""
    before = audit.snapshot(user)
    records.apply(user, values, USER_FIELDS)
    _account_rules(actor, user, created=False)
    if password:
        set_password(user, password, must_change=True)
    records.update(actor, user, {}, USER_FIELDS, before=before)
    if not user.active:
        sessions.close_all_sessions(user.id)
    return user


def delete_account(actor: Any, user: User) -> None:
    records.delete(actor, user)
