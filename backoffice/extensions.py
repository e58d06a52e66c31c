"""Flask extensions, created unbound and initialised in create_app()."""
from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from backoffice.models.base import Base
from backoffice.replica import RoutingSession

# The session sends the SELECTs of reading work to the reports replica when one is configured (backoffice.replica).
db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def client_ip() -> str:
    """The address used for rate limits and the audit log (ProxyFix sets remote_addr behind a proxy)."""
    return request.remote_addr or "-"
