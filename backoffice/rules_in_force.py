"""Rule files identical on every host, or refused.

Each rule suite (health-status rules, criteria sets) tells this module the digests of the files it loaded from
the configured folder (`loaded`). `flask rules publish` records the files of one host as the ones in force, in the
database every host shares; the first host to start with nothing published publishes its own. A host whose loaded
files differ from those in force — an edit on one host only, a file that failed to load there, a release not
copied everywhere — refuses to score with that suite (`require` raises `Unavailable`, 503, naming the files) and
logs why; every host records at start what it loaded and whether it agreed (`rule_hosts`, `flask rules hosts`).

The check costs a scan nothing: the digests in force are read at most every IN_FORCE_TTL_SECONDS per process, on a
short read connection of their own, never inside the caller's transaction. Nothing here writes while a request
holds a transaction: publishing happens at start and from the CLI.
"""
from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Iterable

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, inspect as sa_inspect, select
from sqlalchemy.exc import SQLAlchemyError

from backoffice import audit
from backoffice.database import insert_on_conflict
from backoffice.errors import Unavailable
from backoffice.extensions import db
from backoffice.models import RuleFileInForce, RuleHost
from backoffice.models.base import utcnow

log = logging.getLogger(__name__)

IN_FORCE_TTL_SECONDS = 5.0
SUITES = ("health_status", "criteria")  # the rule suites that report what they loaded (their folders' names)
_lock = threading.Lock()
# Keyed by the folder, not the app: several apps in one process (tests, the CLI) may each read their own files.
_loaded: dict[tuple[str, str], dict[str, str]] = {}  # (kind, rules folder) -> file name -> sha256
_in_force: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}  # (database, kind) -> (read at, digests)


def host_name() -> str:
    return current_app.config.get("BACKOFFICE_HOST_NAME") or socket.gethostname()


def file_digests(paths: Iterable[Path]) -> dict[str, str]:
    """File name → sha256 of its bytes (a file that cannot be read digests as "unreadable")."""
    digests = {}
    for path in paths:
        try:
            digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digests[path.name] = "unreadable"
    return digests


def _rules_dir(app: Flask | None = None) -> str:
    return str(Path((app or current_app).config["BACKOFFICE_RULES_DIR"]).resolve())


def loaded(kind: str, rules_dir: str | Path, digests: dict[str, str], *, valid: Iterable[str] | None = None) -> None:
    """What the suite `kind` loaded from `rules_dir`: every file's digest; a file that failed to load (`valid`
    names those that did) counts as missing, since this host cannot score with it."""
    names = None if valid is None else set(valid)
    kept = {name: sha for name, sha in digests.items() if names is None or name in names}
    with _lock:
        _loaded[(kind, str(Path(rules_dir).resolve()))] = kept


def _mine(kind: str, app: Flask | None = None) -> dict[str, str] | None:
    with _lock:
        found = _loaded.get((kind, _rules_dir(app)))
    return dict(found) if found is not None else None


def _read_in_force(kind: str) -> dict[str, str]:
    now = time.monotonic()
    key = (str(db.engine.url), kind)
    with _lock:
        hit = _in_force.get(key)
    if hit and now - hit[0] < IN_FORCE_TTL_SECONDS:
        return hit[1]
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(select(RuleFileInForce.name, RuleFileInForce.sha256)
                                      .where(RuleFileInForce.kind == kind)).all()
    except SQLAlchemyError:
        # Before the schema exists, or while the database is away: the last answer stands (none at first).
        return hit[1] if hit else {}
    found = {row.name: row.sha256 for row in rows}
    with _lock:
        _in_force[key] = (now, found)
    return found


def forget_cache() -> None:
    with _lock:
        _in_force.clear()


def differences(kind: str, mine: dict[str, str] | None = None) -> list[str]:
    """How this host's files of `kind` differ from those in force ([] when they agree or nothing is published)."""
    in_force = _read_in_force(kind)
    if not in_force:
        return []
    if mine is None:
        mine = _mine(kind) or {}
    found = []
    for name in sorted(set(in_force) | set(mine)):
        if name not in mine:
            found.append(f"{name}: missing or not loaded here")
        elif name not in in_force:
            found.append(f"{name}: not in force")
        elif mine[name] != in_force[name]:
            found.append(f"{name}: content differs (here {mine[name][:12]}…, in force {in_force[name][:12]}…)")
    return found


def require(kind: str) -> None:
    """Raise `Unavailable` when this host's files of `kind` differ from those in force."""
    found = differences(kind)
    if found:
        log.error("rule files of %s differ from those in force on this host: %s", kind, "; ".join(found))
        raise Unavailable(_l("This server's rule files differ from those in force (%(files)s): it does not "
                             "score until they are the same; try again or another server.",
                             files="; ".join(found[:3])), code="rules_differ")


def publish(kinds: Iterable[str] | None = None, *, actor_name: str | None = None) -> dict[str, int]:
    """Make this host's loaded files the ones in force (each kind replaced in one transaction, audited)."""
    published = {}
    host = host_name()
    chosen = {kind: _mine(kind) for kind in (kinds or SUITES)}
    for kind, digests in chosen.items():
        if digests is None:
            continue
        db.session.execute(delete(RuleFileInForce).where(RuleFileInForce.kind == kind))
        db.session.add_all(RuleFileInForce(kind=kind, name=name, sha256=sha, published_at=utcnow(),
                                           published_by=host) for name, sha in digests.items())
        audit.record("rules.publish", entity_name="rule_files_in_force", entity_id=kind,
                     actor_name=actor_name or host, after={"host": host, "files": digests})
        published[kind] = len(digests)
    db.session.commit()
    forget_cache()
    return published


def _publish_if_none(kind: str, digests: dict[str, str], host: str) -> None:
    """The first host to start with nothing published for `kind` makes its files the ones in force; hosts that
    start at the same moment insert the same rows at most once (on conflict do nothing) and then compare."""
    table = RuleFileInForce.__table__
    with db.engine.begin() as connection:
        if connection.execute(select(table.c.name).where(table.c.kind == kind).limit(1)).first() is not None:
            return
        rows = [{"kind": kind, "name": name, "sha256": sha, "published_at": utcnow(), "published_by": host}
                for name, sha in digests.items()]
        if rows:
            connection.execute(insert_on_conflict(table, conflict=[table.c.kind, table.c.name]), rows)


def report_host(app: Flask) -> None:
    """At start: publish what nothing published yet, then record what this host loaded and whether it agrees."""
    with app.app_context():
        try:
            if not sa_inspect(db.engine).has_table(RuleHost.__tablename__):
                return  # before `flask db upgrade`: nothing to compare with yet
            host = host_name()
            kinds = {kind: _mine(kind, app) for kind in SUITES}
            for kind, digests in kinds.items():
                if digests is None:
                    continue
                _publish_if_none(kind, digests, host)
                forget_cache()
                found = differences(kind, digests)
                if found:
                    log.error("rule files of %s differ from those in force on %s: %s", kind, host, "; ".join(found))
                with db.engine.begin() as connection:
                    connection.execute(insert_on_conflict(
                        RuleHost.__table__, conflict=["host", "kind"],
                        update=["digests", "agrees", "checked_at"]),
                        {"host": host, "kind": kind, "digests": digests, "agrees": not found,
                         "checked_at": utcnow()})
        except SQLAlchemyError as exc:
            log.warning("rule files: cannot compare with those in force at start: %s", exc)
        finally:
            db.session.remove()
