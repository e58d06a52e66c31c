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

    @login_manager.unauthorized_handler
    def unauthorized():
        from backoffice import _wants_json
        if _wants_json():
            from flask import jsonify
            return jsonify(error={"code": "unauthenticated", "message": str(_l("Please log in to continue."))}), 401
        flash(login_manager.login_message, "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
