"""Reading work on a streaming replica: reports, dashboards, exports and tracing read there when
`REPORTS_DATABASE_URL` names one; without it (the embedded SQLite setup, a single server) everything reads the
primary and nothing here costs a query.

- `reading()` (and the `reads_replica` decorator) marks a piece of reading work: the session's SELECTs inside it
  go to the replica. Its INSERTs still go to the primary, committed with the session's transaction there: every
  read of a resident's record is audited, also when the read itself came from the replica. An UPDATE or DELETE
  inside it is a programming error and raises `WriteWhileReading`, with or without a replica.
- Read-your-writes: a request that changed domain data (not audit-only or login-session rows) gives its browser a
  cookie with the primary's WAL position after it; that browser's reading work goes to the primary until the
  replica has replayed past it, and the cookie is then dropped.
- The replica's lag: `now() - pg_last_xact_replay_timestamp()` there, except when everything received is
  replayed (an idle primary writes no transactions, so that timestamp grows old while the replica is current).
  Pages read there say "data as of …" (`shown()`, templates/_data_as_of.html).
- A replica that cannot be reached is left alone for REPORTS_REPLICA_RETRY_SECONDS (default 30) and its reading
  work goes to the primary meanwhile: a report is slower, never refused.

`db` is imported lazily: backoffice.extensions imports `RoutingSession` from here to build it.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, TypeVar

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_sqlalchemy.session import Session
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Delete, Update, UpdateBase

log = logging.getLogger(__name__)

EXTENSION = "reports_replica"
COOKIE = "bo_written_lsn"
COOKIE_SECONDS = 15 * 60  # a replica further behind than this is broken, not lagging: stop pinning the browser
DEFAULT_RETRY_SECONDS = 30.0
# Writes after which a user's next reports need not come from the primary: the audit trail of reads, login
# sessions touched on every request, the hosts' rule-file records.
NOT_DOMAIN = frozenset({"audit_log", "person_reads", "user_sessions", "rule_hosts"})
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_STATUS = text("SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
               "pg_last_xact_replay_timestamp(), now()")

F = TypeVar("F", bound=Callable[..., Any])


class WriteWhileReading(RuntimeError):
    """An UPDATE or DELETE inside `reading()`: reading work changes nothing (it may read a replica)."""


@dataclass(frozen=True)
class Route:
    """Where one piece of reading work reads: `engine` None is the primary; `as_of`/`lag` when a replica."""

    engine: Engine | None = None
    as_of: datetime | None = None
    lag: timedelta | None = None

    @property
    def replica(self) -> bool:
        return self.engine is not None


PRIMARY = Route()
_route: ContextVar[Route | None] = ContextVar("bo_reading", default=None)


class Replica:
    """The replica's engine and whether it answered lately (per process)."""

    def __init__(self, url: str, retry_seconds: float, connect_args: dict | None = None) -> None:
        # The primary's driver arguments too: a replica reached through PgBouncer needs prepare off as well.
        self.engine = create_engine(url, pool_size=5, max_overflow=10, connect_args=connect_args or {})
        self.retry_seconds = retry_seconds
        self.down_until = 0.0
        self._lock = threading.Lock()
        # A replica lost in the middle of a request fails that request (503, as the primary would); the
        # requests after it go to the primary at once instead of each finding out again.
        event.listen(self.engine, "handle_error", self._lost)

    def _lost(self, context: Any) -> None:
        if context.is_disconnect:
            self.mark_down(str(context.original_exception))

    def mark_down(self, why: str) -> None:
        with self._lock:
            self.down_until = time.monotonic() + self.retry_seconds
        log.warning("reports replica unreachable, reading the primary for %.0f s: %s", self.retry_seconds,
                    why.splitlines()[0] if why else "")

    def status(self) -> tuple | None:
        """The replica's recovery status row, or None while it is taken to be down."""
        if time.monotonic() < self.down_until:
            return None
        try:
            with self.engine.connect() as connection:
                return tuple(connection.execute(_STATUS).one())
        except DBAPIError as exc:
            self.mark_down(str(exc))
            return None


def lsn_value(lsn: str | None) -> int | None:
    """A WAL position ('16/B374D848') as a number, comparable; None for anything else."""
    if not lsn or not _LSN.match(lsn):
        return None
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def configured() -> Replica | None:
    return current_app.extensions.get(EXTENSION)


def _choose() -> Route:
    replica = configured()
    if replica is None:
        return PRIMARY
    if has_request_context() and "bo_route" in g:
        return g.bo_route
    route = _route_for(replica)
    if has_request_context():
        g.bo_route = route
    return route


def _route_for(replica: Replica) -> Route:
    status = replica.status()
    if status is None:
        return PRIMARY
    in_recovery, received, replayed, replayed_at, now = status
    written = lsn_value(request.cookies.get(COOKIE)) if has_request_context() else None
    if written is not None:
        if in_recovery and (lsn_value(replayed) or 0) < written:
            return PRIMARY  # this user's own change is not there yet
        g.bo_caught_up = True
    if not in_recovery or (received is not None and lsn_value(received) <= (lsn_value(replayed) or 0)):
        return Route(replica.engine, now, timedelta(0))
    if replayed_at is None:
        return PRIMARY  # nothing replayed since it started: how far behind it is cannot be told
    return Route(replica.engine, replayed_at, max(now - replayed_at, timedelta(0)))


def current() -> Route | None:
    """The route of the reading work under way in this context (None outside `reading()`), to hand to a thread."""
    return _route.get()


@contextmanager
def using(route: Route | None) -> Iterator[None]:
    """Carry on the reading work of another thread (`current()` there) in this one."""
    token = _route.set(route)
    try:
        yield
    finally:
        _route.reset(token)


@contextmanager
def reading() -> Iterator[Route]:
    """Reading work: its SELECTs go to the replica when there is one and it is fit (see the module)."""
    outer = _route.get()
    if outer is not None:
        yield outer
        return
    from backoffice.extensions import db
    if has_request_context():
        from flask_login import current_user
        current_user._get_current_object()  # loading the login session may touch it: before, not inside
    db.session.flush()  # changes made before the reading work are not its changes
    route = _choose()
    if route.replica and has_request_context():
        g.bo_read_from = route
    with using(route):
        yield route


def reads_replica(view: F) -> F:
    """`reading()` around a whole view or panel."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reading():
            return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def shown() -> Route | None:
    """The replica route this request's page was read through, for its "data as of …" line."""
    return g.get("bo_read_from") if has_request_context() else None


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, sending SELECTs of reading work to the replica engine of its route."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any):
        route = _route.get()
        if route is not None:
            if isinstance(clause, (Update, Delete)):
                raise WriteWhileReading(f"{type(clause).__name__.upper()} inside reading(): {clause}")
            if route.engine is not None and not self._flushing and getattr(clause, "is_select", False):
                return route.engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


@event.listens_for(RoutingSession, "before_flush")
def _no_changes_while_reading(session: Session, flush_context: Any, instances: Any) -> None:
    if _route.get() is None:
        return
    changed = [obj for obj in session.dirty if session.is_modified(obj)] + list(session.deleted)
    if changed:
        raise WriteWhileReading(f"changes inside reading(): {', '.join(sorted({type(o).__name__ for o in changed}))}")


# --- read-your-writes ----------------------------------------------------------------------------------

def _note_write(conn: Any, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any) -> None:
    if isinstance(clauseelement, UpdateBase) and has_request_context():
        if getattr(getattr(clauseelement, "table", None), "name", None) not in NOT_DOMAIN:
            g.bo_wrote = True


def _after_request(response: Response) -> Response:
    if g.get("bo_wrote"):
        from backoffice.extensions import db
        try:
            with db.engine.connect() as connection:
                lsn = connection.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        except DBAPIError:
            return response  # the primary is gone: the request has failed anyway
        response.set_cookie(COOKIE, lsn, max_age=COOKIE_SECONDS, httponly=True, samesite="Lax",
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    elif g.get("bo_caught_up"):
        response.delete_cookie(COOKIE, httponly=True, samesite="Lax",
                               secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


def init_app(app: Flask) -> None:
    """With REPORTS_DATABASE_URL: the replica's engine, write tracking on the primary, the cookie hook."""
    url = app.config.get("REPORTS_DATABASE_URL") or ""
    app.context_processor(lambda: {"data_as_of": shown})
    if not url:
        return
    from backoffice import database
    from backoffice.extensions import db
    for name, uri in (("REPORTS_DATABASE_URL", url), ("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])):
        if make_url(uri).get_backend_name() != "postgresql":
            raise RuntimeError(f"{name} must be PostgreSQL for a streaming replica (got {make_url(uri).drivername})")
    replica = Replica(url, float(app.config.get("REPORTS_REPLICA_RETRY_SECONDS", DEFAULT_RETRY_SECONDS)),
                      (app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}).get("connect_args"))
    app.extensions[EXTENSION] = replica
    database.ping_idle_connections(replica.engine, float(app.config.get("DATABASE_PING_IDLE_SECONDS",
                                                                        database.PING_IDLE_SECONDS)))
    with app.app_context():
        event.listen(db.engine, "before_execute", _note_write)
    app.after_request(_after_request)
