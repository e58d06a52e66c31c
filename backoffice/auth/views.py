"""Login, logout, password change and language choice."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from backoffice.auth import service
from backoffice.auth.forms import ChangePasswordForm, LoginForm
from backoffice.extensions import client_ip, db, limiter

bp = Blueprint("auth", __name__)


def _username() -> str:
    return (request.form.get("username") or "").strip().lower()[:64]


def _username_key() -> str:
    return "login-user:" + _username()


def _user_address_key() -> str:
    return f"login-user-addr:{_username()}|{client_ip()}"


def _failed(response) -> bool:
    """Only failures count: a user who logs in often from one place is never slowed."""
    return response.status_code != 302


def _from_known_address() -> bool:
    """The per-username limit does not apply where the user logged in before: an attacker elsewhere who
    exhausts it cannot lock the user out of their own office."""
    return service.logged_in_from(_username(), client_ip())


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login page cannot be used as an open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], key_func=client_ip)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_USER_ADDRESS"], methods=["POST"],
               key_func=_user_address_key, deduct_when=_failed)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_USERNAME"], methods=["POST"], key_func=_username_key,
               deduct_when=_failed, exempt_when=_from_known_address)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(form.username.data, form.password.data)
        if user is None:
            # One message for an unknown user, a wrong password and a disabled account; only the right password
            # of an applicant whose registration is undecided learns why (no oracle for usernames).
            from backoffice.registration.service import undecided_status
            status = undecided_status(form.username.data, form.password.data)
            if status == "pending":
                flash(_("Your organization's registration is awaiting approval by the district. You can log in "
                        "once it is approved."), "warning")
            elif status == "rejected":
                flash(_("Your organization's registration was not approved. Please contact the district's "
                        "office."), "warning")
            else:
                flash(_("Wrong username or password."), "danger")
        else:
            lang = session.get("lang")
            session.clear()  # a fresh session on login: nothing from before survives (fixation)
            if lang:
                session["lang"] = lang
            service.start_session(user)
            login_user(user)
            if user.must_change_password:
                flash(_("Please choose a new password."), "warning")
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    # The real User, not Flask-Login's proxy: the audit log reads the entity's type for its table name.
    service.end_session(current_user._get_current_object(), current_user.session_secret)
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user._get_current_object(), form.current.data, form.new.data,
                                    keep_secret=current_user.session_secret)
        except service.AccountError as exc:
            db.session.rollback()
            getattr(form, exc.field or "new").errors.append(str(exc))
        else:
            flash(_("Your password has been changed. Your other sessions have ended."), "success")
            return redirect(url_for("admin.index"))
    return render_template("auth/change_password.html", form=form)


@bp.post("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(_safe_next(request.form.get("next") or request.referrer and urlsplit(request.referrer).path))
