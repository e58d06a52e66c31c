"""HCMC COVID-19 safe-operation back office.

`create_app()` builds the Flask application: configuration from the environment, extensions, the scoped
Flask-Admin, public blueprints, the JSON API and the CLI.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, Request, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from backoffice import config as config_module
from backoffice.extensions import csrf, db, limiter, login_manager, migrate

log = logging.getLogger(__name__)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False,
                instance_path=os.environ.get("BACKOFFICE_INSTANCE", str(config_module.PROJECT_ROOT / "instance")))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(config_module.from_environment(app.instance_path))
    if overrides:
        app.config.update(overrides)
    _ensure_secret_key(app)
    if "SESSION_COOKIE_SECURE" not in os.environ and not (overrides or {}).get("SESSION_COOKIE_SECURE") \
            and (app.testing or app.debug):
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = False
    _trust_proxies(app)

    # Path ids beyond 64 bits can name no row; unbounded, they reach the database driver (SQLite raises
    # OverflowError) and answered 500. Set before any route is added: rules bind their converter then.
    app.url_map.converters["int"] = _BoundedInt
    app.request_class = _Request
    _init_extensions(app)
    _register_blueprints(app)
    _register_errors(app)

    from backoffice import cli
    cli.init_app(app)
    from backoffice.admin import init_admin
    init_admin(app)
    _init_plugins(app)
    from backoffice import rules_in_force
    rules_in_force.report_host(app)
    return app


class _Request(Request):
    """JSON nested thousands deep makes the json module raise RecursionError, which Flask's get_json does not
    treat as bad JSON (only ValueError): it escaped as a 500. Read it as the malformed JSON it is."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            return self.on_json_loading_failed(ValueError("JSON nested too deeply"))


class _BoundedInt(IntegerConverter):
    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**63 - 1,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class TrustedProxyFix:
    """ProxyFix for requests whose immediate peer (REMOTE_ADDR) is one of the trusted proxies; from anyone else
    X-Forwarded-* is ignored, so a client that reaches the app directly cannot choose its address (rate limits,
    audit log) by sending the header."""

    def __init__(self, app, trusted: str, count: int) -> None:
        import ipaddress
        self.app = app
        self.networks = [ipaddress.ip_network(entry.strip(), strict=False)
                         for entry in trusted.split(",") if entry.strip()]
        self.fixed = ProxyFix(app, x_for=count, x_proto=count, x_host=count)

    def trusts(self, peer: str) -> bool:
        import ipaddress
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self.trusts(environ.get("REMOTE_ADDR") or ""):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def _trust_proxies(app: Flask) -> None:
    """BACKOFFICE_PROXY_COUNT proxies in front, trusted only when they are BACKOFFICE_TRUSTED_PROXIES."""
    count = int(app.config.get("BACKOFFICE_PROXY_COUNT") or 0)
    if count > 0:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, app.config.get("BACKOFFICE_TRUSTED_PROXIES") or "", count)


def _ensure_secret_key(app: Flask) -> None:
    """Production must set SECRET_KEY; the embedded setup keeps a generated one in the instance folder."""
    if app.config.get("SECRET_KEY"):
        return
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        import secrets
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
        log.warning("SECRET_KEY not set: generated one in %s", key_file)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _init_extensions(app: Flask) -> None:
    from backoffice import database, i18n, replica, security
    database.configure_engine(app)
    db.init_app(app)
    database.init_app(app)
    replica.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.PROJECT_ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    _check_decorated_limits_only(app)
    i18n.init_app(app)
    security.init_app(app)
    from backoffice import observability
    observability.init_app(app)
    from backoffice.auth import init_login
    init_login(app, login_manager)


def _check_decorated_limits_only(app: Flask) -> None:
    """Flask-Limiter checks every request in a before_request hook, for application-wide and default limits.
    This application has none: its limits sit on the routes that need them (login, registration, self check-in),
    whose decorators check them. The hook then only costs every request (~70 µs, a quarter of /healthz), so it is
    dropped while there is nothing for it to check."""
    manager = limiter.limit_manager
    if (manager.application_limits or manager.default_limits
            or any(app.config.get(name) for name in ("RATELIMIT_APPLICATION", "RATELIMIT_DEFAULT", "RATELIMIT_META"))):
        return
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [hook for hook in hooks if getattr(hook, "__self__", None) is not limiter]


def _register_blueprints(app: Flask) -> None:
    from backoffice.auth.views import bp as auth_bp
    from backoffice.liveness import bp as health_bp
    from backoffice.registration.views import bp as registration_bp
    from backoffice.guide import bp as guide_bp
    from backoffice.public import bp as public_bp
    app.register_blueprint(public_bp)  # `/`: the public home page
    app.register_blueprint(auth_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(guide_bp)


def _init_plugins(app: Flask) -> None:
    """Each capability registers its blueprints, admin views, CLI commands and rule suites in `init_app`."""
    from backoffice import api, criteria, health, imports, jobs, printing, reports, scanning, tracing
    for capability in (health, scanning, printing, criteria, imports, reports, tracing, api, jobs):
        capability.init_app(app)


def _wants_json() -> bool:
    # A client that sent JSON reads JSON back, whatever its Accept header says.
    return (request.path.startswith("/api/") or request.is_json
            or request.accept_mimetypes.best == "application/json")


def _register_errors(app: Flask) -> None:
    from flask_babel import gettext as _
    from flask_wtf.csrf import CSRFError

    messages = {
        400: lambda: _("The request could not be understood."),
        403: lambda: _("You do not have permission to do this."),
        404: lambda: _("Not found."),
        405: lambda: _("This method is not allowed here."),
        409: lambda: _("This clashes with the record as it stands now. Reload the page and try again."),
        413: lambda: _("The upload is too large."),
        415: lambda: _("This content type is not accepted."),
        422: lambda: _("This request cannot be carried out."),
        429: lambda: _("Too many attempts. Please wait a moment and try again."),
        500: lambda: _("Something went wrong on our side. The error has been logged."),
        503: lambda: _("The service is temporarily unavailable. Please try again shortly."),
    }

    def render(code: int, message: str | None = None, reason: str | None = None):
        message = message or messages.get(code, messages[500])()
        if _wants_json():
            return jsonify(error={"code": reason or str(code), "message": message}), code
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        from backoffice import audit
        audit.record_now("request.csrf_failed", entity_name="request", entity_id=request.path[:64])
        return render(400, _("The form has expired or was not sent from this site. Reload the page and try again."),
                      "csrf")

    for code in messages:
        app.register_error_handler(code, lambda exc, code=code: render(code))

    from backoffice import errors
    errors.register(app, render)

    from sqlalchemy.exc import DataError, InterfaceError, OperationalError

    def rolled_back(status: int, reason: str, level: int, what: str):
        def handler(exc):
            log.log(level, "%s: %s", what, exc)
            db.session.rollback()
            return render(status, reason=reason)
        return handler

    # A value from the request the database or a date cannot hold (?id=99999999999999999999 — OverflowError
    # on SQLite, DataError "out of range" on PostgreSQL —, ?page=-5 as a negative OFFSET, a NUL in a text
    # filter): the request's fault, and nothing was written.
    out_of_range = rolled_back(400, "out_of_range", logging.INFO, "out of range")
    # The database went away (restart, network): answer 503 so clients retry; nothing half-written
    # survives because every operation is one transaction.
    database_unavailable = rolled_back(503, "database_unavailable", logging.ERROR, "database error")
    for error, handler in ((OverflowError, out_of_range), (DataError, out_of_range),
                           (OperationalError, database_unavailable), (InterfaceError, database_unavailable)):
        app.register_error_handler(error, handler)
