"""How the application uses its database connections beyond Flask-SQLAlchemy's defaults: the one seam where
the two databases (PostgreSQL in production, SQLite for development and tests) differ.

- `dialect()` / `is_postgres()` / `is_sqlite()` answer "which database is this"; `insert_on_conflict()` builds
  INSERT … ON CONFLICT DO NOTHING / DO UPDATE for both; `local_date()` is the city's calendar day of a stored
  time in SQL, the same on both; `matching_keys()` is `column IN keys` for chunked lookups.
- Query plans that still differ by database, each with the figure that keeps it: `matching_keys()` here; the
  latest assessment per organization and the week's check-ins per organization (`reports.queries.join_latest`,
  `reports.queries._join_recent_checkins`); the status tallies' persons (`health.tally._counts_query`); a
  scan's check-in with its audited read in one statement (`scanning.service`, `scanning.scan_reads`) and
  `HotStatement` below.
- SQLite is set up to behave like a server database (WAL, foreign keys, a busy timeout).
- A connection opened before a fork is never used after it, whatever server forked (gunicorn's preload).
- Pooled connections are checked before use only when they have been idle a while (as PgBouncer does with
  `server_check_delay`): a ping on every checkout cost the scan path a round trip per request, while a
  connection used a moment ago is as good as its last answer. A connection that breaks anyway fails its
  request with 503 (`database_unavailable`) and makes the pool discard every connection as old as it.
- `serialized_writes()` queues SQLite's writers, across the threads and the processes of the server, on a lock
  that wakes the next one the moment the previous one is done.
- `one_at_a_time(key)` serializes one kind of maintenance transaction (the check-in purge's days) across every
  process and host: a transaction-scoped advisory lock on PostgreSQL, the single writer on SQLite.
- `scan_connection()` gives a device's scan a connection outside the ORM session, without BEGIN and COMMIT round
  trips on PostgreSQL.
- `configure_engine()` builds the engine options from the settings, before Flask-SQLAlchemy creates the engine:
  behind PgBouncer in transaction mode (`BACKOFFICE_DATABASE_POOLER=pgbouncer`) psycopg prepares no statement
  on the server (see `POOLERS`).
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import namedtuple
from contextlib import contextmanager
from datetime import date
from typing import Any, Callable, Iterator, Sequence

from flask import Flask, current_app
from sqlalchemy import Date, Table, bindparam, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement

from backoffice.extensions import db

PING_IDLE_SECONDS = 10.0

# What each pooler in front of PostgreSQL needs of the driver. psycopg prepares a statement on the server after
# `prepare_threshold` (5) runs of it on a connection, and then runs it by name. In PgBouncer's transaction mode
# each transaction may get another server connection: the name is missing there ("prepared statement "_pg3_0"
# does not exist") or another client's ("… already exists"). PgBouncer tracks prepared statements itself only
# from 1.21 (`max_prepared_statements`); Debian 12 ships 1.18. `prepare_threshold=None` makes psycopg send
# every statement unnamed (parse, bind and execute in one round trip, as before its fifth run); its
# client-side adaptation and SQLAlchemy's compiled cache are unaffected.
POOLERS: dict[str, dict[str, Any]] = {"": {}, "pgbouncer": {"prepare_threshold": None}}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    """WAL, foreign keys and a busy timeout: what SQLite needs to behave like a server database."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@event.listens_for(Engine, "connect")
def _remember_process(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    connection_record.info["pid"] = os.getpid()


@event.listens_for(Engine, "checkout")
def _not_from_another_process(dbapi_connection, connection_record, connection_proxy) -> None:  # noqa: ARG001
    """A connection opened before a fork (gunicorn preloads the app in its master) must not be used by the
    children: two processes on one socket mix their replies. SQLAlchemy's recipe for pools across os.fork():
    drop such a connection without closing it (it is the other process's) and let the pool connect anew."""
    pid = os.getpid()
    if connection_record.info.get("pid", pid) != pid:
        connection_record.dbapi_connection = connection_proxy.dbapi_connection = None
        raise DisconnectionError(f"connection opened in process {connection_record.info['pid']}, now in {pid}")


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it was returned more than `idle_seconds` ago.

    SQLAlchemy's documented pessimistic check: a DisconnectionError raised at checkout makes the pool throw the
    connection away and connect anew (up to three times) before the request sees anything."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, connection_record) -> None:  # noqa: ARG001
        connection_record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, connection_record, connection_proxy) -> None:  # noqa: ARG001
        returned_at = connection_record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # just connected, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"idle connection is gone: {exc}") from exc


# --- which database is this ------------------------------------------------------------------------------

def dialect(bind: Connection | Engine | None = None) -> str:
    """The one answer to "which database is this": "postgresql" or "sqlite" (the two the application runs on),
    for a connection or engine in hand, else the application's engine."""
    return (bind if bind is not None else db.engine).dialect.name


def is_postgres(bind: Connection | Engine | None = None) -> bool:
    return dialect(bind) == "postgresql"


def is_sqlite(bind: Connection | Engine | None = None) -> bool:
    return dialect(bind) == "sqlite"


def _is_sqlite_uri(uri: str) -> bool:
    """Before the engine exists (init_app): the same answer from the configured URI."""
    return make_url(uri).get_backend_name() == "sqlite"


# --- insert-on-conflict ------------------------------------------------------------------------------------

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_on_conflict(table: Table, *, conflict: Sequence[Any] | None = None,
                       update: Sequence[str] | Callable[[Any], dict] | None = None, index_where: Any = None,
                       where: Any = None, bind: Connection | Engine | str | None = None) -> Insert:
    """INSERT … ON CONFLICT for both databases (PostgreSQL, and SQLite ≥ 3.35 with the same syntax).

    `update` None: DO NOTHING (on `conflict`, or any unique constraint when that is None too). Else DO UPDATE on
    the `conflict` columns (and the partial index's `index_where`): `update` is the column names set to the
    proposed row's values, or a function from `excluded` (the proposed row) to the SET clause; `where` keeps
    the existing row when false. `bind`: a connection, an engine or a dialect name; else the application's."""
    name = bind if isinstance(bind, str) else dialect(bind)
    try:
        stmt = _INSERTS[name](table)
    except KeyError:
        raise RuntimeError(f"insert-on-conflict is not implemented for {name}") from None
    if update is None:
        return stmt.on_conflict_do_nothing(index_elements=conflict, index_where=index_where)
    set_ = update(stmt.excluded) if callable(update) else {column: stmt.excluded[column] for column in update}
    return stmt.on_conflict_do_update(index_elements=conflict, index_where=index_where, set_=set_, where=where)


# --- matching keys ---------------------------------------------------------------------------------------

def matching_keys(column: Any, keys: Sequence[Any]) -> Any:
    """`column IN keys`, for the chunked lookups. On PostgreSQL `IN (SELECT unnest($1))` with one array
    parameter: psycopg prepares a statement after five runs, and the generic plan of `IN ($1 … $2000)` or
    `= ANY($1)`, made while an import's transaction was still filling an empty table, scans the whole table
    comparing each row with every key (an import of 100,000 rows then took minutes); the planner reckons
    with a few rows from `unnest` and probes the unique index, whatever the plan."""
    if is_postgres(db.session.get_bind()):
        array = bindparam(None, list(keys), type_=postgresql.ARRAY(column.type))
        return column.in_(select(func.unnest(array)))
    return column.in_(keys)


# --- the local day ----------------------------------------------------------------------------------------

class local_date(FunctionElement):  # noqa: N801 - reads as a function in queries
    """The Ho Chi Minh City calendar day of a stored (UTC) timestamp, computed by the database; the same day
    as `timeutil.to_local(value).date()`. A fixed offset of seven hours on both databases: the city has kept
    UTC+7 without daylight saving since 1975, so it is the named zone's answer for every stored time."""

    type = Date()
    inherit_cache = True


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw) -> str:
    # SQLite stores naive UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'). Its date functions round to the millisecond,
    # which put the last half-millisecond of a day into the next one; the whole second gives PostgreSQL's day.
    return "date(substr(%s, 1, 19), '+7 hours')" % compiler.process(element.clauses, **kw)


@compiles(local_date, "postgresql")
def _local_date_postgresql(element, compiler, **kw) -> str:
    # An interval, not the zone's name: the same days (every 17th minute from 1975-06-14 to 2038 compared), and
    # the named zone costs a rules lookup per row: the days of 1,050,000 timestamps (a year, every 30 s, from
    # generate_series) took 0.9-1.1 s with the interval against 1.6-2.1 s with 'Asia/Ho_Chi_Minh' (two runs).
    return "CAST((%s AT TIME ZONE INTERVAL '+07:00') AS DATE)" % compiler.process(element.clauses, **kw)


@compiles(local_date)
def _local_date_default(element, compiler, **kw) -> str:
    return "CAST(%s AS DATE)" % compiler.process(element.clauses, **kw)


def as_date(value: Any) -> date | None:
    """A day read back from the database: SQLite may return the text of date(), PostgreSQL a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


_thread_writer = threading.Lock()
_lock_files: dict[str, int | None] = {}


def _after_fork_in_child() -> None:
    """A forked process queues on locks of its own: an inherited descriptor shares the parent's flock (the lock
    belongs to the open file, not the process), and a thread lock held at the fork would stay held."""
    global _thread_writer
    _thread_writer = threading.Lock()
    for fd in _lock_files.values():
        if fd is not None:
            os.close(fd)
    _lock_files.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _writer_lock_file(uri: str) -> int | None:
    """A lock file beside the SQLite database, opened once per process; None for an in-memory database."""
    if uri not in _lock_files:
        path = make_url(uri).database
        _lock_files[uri] = (os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
                            if path and path != ":memory:" else None)
    return _lock_files[uri]


@contextmanager
def serialized_writes() -> Iterator[None]:
    """Hold while writing and committing a short hot-path transaction (a scan's check-in).

    SQLite admits one writer at a time, and a connection that finds the database locked sleeps in growing steps
    (up to 100 ms each) before trying again: under load a scan could wait most of a second. Writers queue here
    instead, the threads of a process on a lock and the processes on a file lock beside the database, and each
    goes on the moment the writer before it is done. Never take this while the session already holds a write
    (deadlock until busy_timeout). PostgreSQL locks rows, not the database: nothing to do.
    """
    if not is_sqlite():
        yield
        return
    with _thread_writer:
        fd = _writer_lock_file(current_app.config["SQLALCHEMY_DATABASE_URI"])
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def one_at_a_time(key: int) -> Iterator[None]:
    """Run the session's next transaction alone among those taking the same `key`, on every host: begin it
    inside (the session holds no transaction on entry) and commit or roll it back before leaving.

    PostgreSQL: `pg_advisory_xact_lock(key)` as its first statement, released by the commit or rollback itself,
    so a process killed half-way holds nothing. Never the session-level `pg_advisory_lock`: behind PgBouncer in
    transaction mode the server connection goes to another client after the commit, still holding the lock.
    Under READ COMMITTED each later statement sees what the previous holder committed. SQLite admits one writer
    at a time anyway: the transaction queues on `serialized_writes()` with the scans rather than sleeping in
    busy-timeout steps; its first statement should be a write, so its reads see the last writer's commit."""
    if is_postgres():
        db.session.execute(select(func.pg_advisory_xact_lock(key)))
        yield
        return
    with serialized_writes():
        yield


@contextmanager
def scan_connection() -> Iterator[Connection]:
    """A connection of its own for a device's scan, outside the ORM session (whose bookkeeping costs more than
    the scan's two statements): its reads need no common snapshot and its writes are one statement each.

    On PostgreSQL it autocommits, sparing the BEGIN and COMMIT round trips. Not on SQLite: there are no round
    trips to spare, and SQLAlchemy would reset the isolation level with a PRAGMA on every return to the pool;
    `commit(connection)` commits there."""
    with db.engine.connect() as connection:
        if not is_sqlite(connection):
            connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


class HotStatement:
    """A prebuilt Core statement of the scan's hot path that runs straight on psycopg's cursor on PostgreSQL.

    There SQLAlchemy's execution and result machinery cost more CPU than the driver itself (the device read:
    146 µs against 62 µs per scan). The SQL is compiled once, from the same Core statement, and the rows come
    back as named tuples. Only for statements whose values need no SQLAlchemy type processing on PostgreSQL:
    psycopg itself returns dates, aware timestamps, booleans and numbers, and adapts aware datetimes. Other
    databases go through `Connection.execute` as usual.

    `column_keys`: for an INSERT, the columns its parameters give (SQLAlchemy picks them per execution)."""

    def __init__(self, statement, column_keys: Sequence[str] | None = None):
        self.statement, self.column_keys = statement, column_keys
        self._compiled: tuple[str, type, dict] | None = None  # for PostgreSQL, the only dialect it compiles for

    def rows(self, connection: Connection, params: dict) -> list:
        if not is_postgres(connection):
            return connection.execute(self.statement, params).all()
        sql, row, constants = self._compiled or self._compile(connection)
        dbapi = connection.dialect.loaded_dbapi
        raw = connection.connection.dbapi_connection
        if constants:
            params = {**constants, **params}
        try:
            return [row._make(values) for values in raw.execute(sql, params).fetchall()]
        except dbapi.Error as exc:
            # As SQLAlchemy would: its exception types (IntegrityError for the retry of a racing scan,
            # OperationalError for 503), and a connection that was lost is not handed out again.
            if connection.dialect.is_disconnect(exc, raw, None):
                connection.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, dbapi.Error) from exc

    def _compile(self, connection: Connection) -> tuple[str, type, dict]:
        compiled = self.statement.compile(dialect=connection.dialect, column_keys=self.column_keys)
        if compiled.insert_prefetch or compiled.update_prefetch:  # SQLAlchemy would compute these in Python
            raise ValueError("HotStatement runs no Python-side column defaults; give "
                             + ", ".join(c.key for c in compiled.insert_prefetch + compiled.update_prefetch))
        # The values the statement itself binds (the 1 of `scan_count + 1`…); the caller gives the others.
        constants = {key: value for key, value in compiled.params.items() if value is not None}
        row = namedtuple("Row", [column.key for column in self.statement.exported_columns])
        self._compiled = (str(compiled), row, constants)
        return self._compiled


def autocommitting(connection: Connection) -> bool:
    return connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


def commit(connection: Connection | None = None) -> None:
    """Commit the work of a connection from `scan_connection()` (nothing to do when it autocommits), or, given
    none, the ORM session's transaction."""
    if connection is None:
        db.session.commit()
    elif not autocommitting(connection):
        connection.commit()


def rollback(connection: Connection | None = None) -> None:
    (connection or db.session).rollback()


def configure_engine(app: Flask) -> None:
    """The engine options the settings imply, merged into SQLALCHEMY_ENGINE_OPTIONS before the engine is made:
    the driver's connect arguments for the pooler named by BACKOFFICE_DATABASE_POOLER ("" for none, or
    "pgbouncer"); any other name is refused at startup, not discovered at the first prepared statement."""
    pooler = str(app.config.get("BACKOFFICE_DATABASE_POOLER") or "").strip().lower()
    if pooler not in POOLERS:
        raise ValueError(f"BACKOFFICE_DATABASE_POOLER={pooler!r}: expected one of "
                         + ", ".join(repr(name) for name in POOLERS))
    if not POOLERS[pooler] or _is_sqlite_uri(app.config["SQLALCHEMY_DATABASE_URI"]):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options["connect_args"] = {**options.get("connect_args", {}), **POOLERS[pooler]}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def init_app(app: Flask) -> None:
    if _is_sqlite_uri(app.config["SQLALCHEMY_DATABASE_URI"]):
        return  # a local file: nothing to lose between uses
    with app.app_context():
        ping_idle_connections(db.engine, float(app.config.get("DATABASE_PING_IDLE_SECONDS", PING_IDLE_SECONDS)))
