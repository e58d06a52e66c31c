"""Authentication (login, sessions, passwords) and authorization (roles, scope)."""
from __future__ import annotations

from flask import Flask, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from backoffice.auth.scope import in_scope, scope, scope_clause

__all__ = ["scope", "scope_clause", "in_scope", "init_login"]


def init_login(app: Flask, login_manager: LoginManager) -> None:
    from backoffice.auth import sessions

    app.session_interface = sessions.CookieSessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(secret: str):
        user = sessions.load_session(secret)
        if user is not None:
            user.session_secret = secret
        return user

    app.before_request(_enforce_password_change)

    @login_manager.unauthorized_handler
    def unauthorized():
        from backoffice import _wants_json
        if _wants_json():
            from flask import jsonify
            return jsonify(error={"code": "unauthenticated", "message": str(_l("Please log in to continue."))}), 401
        flash(login_manager.login_message, "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))


# What a user who must change the password may still reach: the change itself, logging out, the language and
# static files (every blueprint's static endpoint ends in "static").
_ALLOWED_BEFORE_CHANGE = {"auth.change_password", "auth.logout", "auth.set_language", "health.healthz"}


def _enforce_password_change():
    """On every request, not only after login: a flagged user reaches nothing else until the password changes."""
    from flask import session
    from flask_login import current_user
    endpoint = request.endpoint or ""
    if "_user_id" not in session or endpoint in _ALLOWED_BEFORE_CHANGE or endpoint.endswith("static"):
        return None
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    from backoffice import _wants_json
    message = str(_l("You must change your password before you can continue."))
    if _wants_json():
        from flask import jsonify
        return jsonify(error={"code": "password_change_required", "message": message}), 403
    flash(message, "warning")
    return redirect(url_for("auth.change_password"))
