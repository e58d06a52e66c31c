"""Flask extensions, created unbound and initialised in create_app()."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from backoffice.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def client_ip() -> str:
    """The address used for rate limits and the audit log (ProxyFix sets remote_addr behind a proxy)."""
    return request.remote_addr or "-"


_sqlite_writer = threading.Lock()


@contextmanager
def serialized_writes() -> Iterator[None]:
    """Hold while writing and committing a short hot-path transaction (a scan's check-in).

    SQLite admits one writer at a time, and a connection that finds the database locked sleeps in growing steps
    (up to 100 ms each) before trying again: under 16 threads a scan could wait most of a second. Threads of one
    process queue here instead and go on the moment the writer before them commits, so only processes contend
    for SQLite's lock. Never take this while the session already holds a write (deadlock until busy_timeout).
    PostgreSQL locks rows, not the database: nothing to do.
    """
    if current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with _sqlite_writer:
            yield
    else:
        yield
