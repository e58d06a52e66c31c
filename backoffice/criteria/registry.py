"""The criteria sets the running app knows: the files loaded at start, and frozen versions from the database.

A set is frozen (CriteriaSetVersion) the first time an assessment uses it; from then on that assessment
displays and re-scores with the frozen copy, whatever happens to the file.
"""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from backoffice.criteria.engine import CompiledSet, compile_set
from backoffice import rules_in_force
from backoffice.criteria.loader import LoadedSet, content_of, criteria_files, frozen_conflicts, load_dir
from backoffice.criteria.schema import CriteriaSet
from backoffice.extensions import db
from backoffice.models import CriteriaSetVersion
from backoffice.rulebook import Problem

log = logging.getLogger(__name__)


class CriteriaSetError(RuntimeError):
    """Invalid criteria set files: the message lists every problem (file: where: what)."""

    def __init__(self, problems: list[Problem]):
        super().__init__("invalid criteria sets:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Registry:
    def __init__(self, sets: list[LoadedSet]):
        self.sets = {s.key: s for s in sets}
        self._frozen: dict[tuple[str, str, str], CompiledSet] = {}

    @classmethod
    def load(cls, rules_dir: str | Path) -> "Registry":
        sets, problems = load_dir(rules_dir)
        if problems:
            raise CriteriaSetError(problems)
        return cls(sets)

    def current(self, set_id: str, day: date) -> LoadedSet | None:
        """The version of `set_id` in force on `day` (latest valid_from, then highest version)."""
        candidates = [s for s in self.sets.values() if s.spec.id == set_id and s.spec.valid_on(day)]
        if not candidates:
            return None
        return max(candidates, key=lambda s: (s.spec.valid_from, _version_key(s.spec.version)))

    def in_force(self, day: date) -> list[LoadedSet]:
        ids = sorted({s.spec.id for s in self.sets.values()})
        return [s for s in (self.current(i, day) for i in ids) if s is not None]

    def offered(self, sector: str, day: date) -> tuple[list[LoadedSet], bool]:
        """The sets an organization of `sector` is assessed with: those made for its sector (and those made for
        every sector: no `sectors`). When none is (sector "other"), every set in force, and True: the person
        chooses the closest one."""
        sets = self.in_force(day)
        own = [s for s in sets if sector in s.spec.sectors or not s.spec.sectors]
        return (own, False) if own else (sets, True)

    def compiled_for(self, version: CriteriaSetVersion) -> CompiledSet:
        """The compiled frozen copy of a stored version (compiled once per process)."""
        key = (version.set_id, version.version, version.content_sha256)
        compiled = self._frozen.get(key)
        if compiled is None:
            loaded = self.sets.get((version.set_id, version.version))
            if loaded is not None and loaded.sha256 == version.content_sha256:
                compiled = loaded.compiled
            else:
                compiled = compile_set(CriteriaSet.model_validate(version.content))
            self._frozen[key] = compiled
        return compiled


SUITE = "criteria"  # the rule suite's name (backoffice/criteria/__init__.py registers it)


def registry() -> Registry:
    return current_app.extensions["criteria"]


def frozen_hashes() -> dict[tuple[str, str], str]:
    """(set id, version) → sha256 of every version already used, or {} before the schema exists."""
    try:
        if not sa_inspect(db.engine).has_table(CriteriaSetVersion.__tablename__):
            return {}
        rows = db.session.execute(select(CriteriaSetVersion.set_id, CriteriaSetVersion.version,
                                         CriteriaSetVersion.content_sha256)).all()
    except SQLAlchemyError as exc:  # database not reachable at start: checked again on first use
        log.warning("criteria: cannot read frozen set versions: %s", exc)
        db.session.rollback()
        return {}
    return {(r.set_id, r.version): r.content_sha256 for r in rows}


def check_dir(rules_dir: str | Path) -> list[Problem]:
    """Every problem of every file, plus files changed without a version bump (when a database is at hand)."""
    sets, problems = load_dir(rules_dir)
    try:
        current_app._get_current_object()
    except RuntimeError:
        return problems
    return problems + frozen_conflicts(sets, frozen_hashes())


def init_registry(app: Flask) -> Registry:
    """Load the shipped sets; refuse to start on any invalid file or any edit of a version already used."""
    reg = Registry.load(app.config["BACKOFFICE_RULES_DIR"])
    with app.app_context():
        conflicts = frozen_conflicts(list(reg.sets.values()), frozen_hashes())
        db.session.remove()
    if conflicts:
        raise CriteriaSetError(conflicts)
    app.extensions["criteria"] = reg
    rules_dir = app.config["BACKOFFICE_RULES_DIR"]
    rules_in_force.loaded(SUITE, rules_dir, rules_in_force.file_digests(criteria_files(rules_dir)))
    return reg


__all__ = ["Registry", "CriteriaSetError", "registry", "check_dir", "init_registry", "content_of"]
