"""The kinds of import. Each is a `Kind`: its columns, the role that may run it, how a row is checked against
the others (places, scope), how existing records are matched (one `IN` query per chunk, through the scope),
how a row compares with what exists, and how a chunk of rows is written (one upsert statement per chunk)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Table

from backoffice.auth.policy import may
from backoffice.database import insert_on_conflict, matching_keys as matching
from backoffice.domain import Role
from backoffice.errors import OutOfRole
from backoffice.extensions import db
from backoffice.imports.columns import Column

NEW, UPDATE, UNCHANGED, ERROR = "new", "update", "unchanged", "error"
OUTSIDE = "outside"  # rows with errors that lie outside the user's districts (counted apart in the summary)


class OutsideScope(str):
    """An issue's message saying the row lies outside the user's scope: the preview counts such rows apart."""

# A cross-field error: (column key it belongs to, message).
CellIssue = tuple[str, str]


@dataclass
class Outcome:
    status: str
    changes: dict[str, list[str]]  # field label → [old, new], for the preview
    issues: list[CellIssue]


class Kind:
    name: ClassVar[str]  # its policy action is "imports.<name>" (backoffice.auth.policy)
    key: ClassVar[str]  # the column that identifies a record (duplicates within a file are errors)
    columns: ClassVar[list[Column]]
    # The user's own unit every record is written to ("ward_code", "organization_id"), kept as that attribute
    # and named in the ImportRecord's scope; None where the records' units come from the file.
    owner: ClassVar[str | None] = None

    def __init__(self, user: Any):
        self.user = user
        if self.owner:
            setattr(self, self.owner, getattr(user, self.owner))

    @classmethod
    def action(cls) -> str:
        """The policy action of running this kind of import."""
        return f"imports.{cls.name}"

    # scope of the ImportRecord (for the history list and the audit entry)
    def record_scope(self) -> dict[str, int | None]:
        scope = {"organization_id": None, "ward_code": None, "district_code": None}
        if self.owner:
            scope[self.owner] = getattr(self, self.owner)
        return scope

    def check(self, values: dict[str, Any]) -> list[CellIssue]:
        """Cross-field checks and derived values (e.g. resolving the ward within the district)."""
        return []

    def existing(self, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        """Current records for `keys`, each with `_visible` (within the user's scope)."""
        raise NotImplementedError

    def compare(self, values: dict[str, Any], current: dict[str, Any] | None) -> Outcome:
        raise NotImplementedError

    def write(self, rows: list[tuple[dict[str, Any], dict[str, Any] | None]], now) -> list[Any]:
        """Upsert rows (values, current or None); returns the keys of the records created."""
        raise NotImplementedError


def upsert(table: Table, rows: list[dict[str, Any]], conflict: list[str], update: list[str]) -> None:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET update = excluded.update, for many rows at once,
    on PostgreSQL and SQLite alike (each dialect's own `insert()`)."""
    if not rows:
        return
    db.session.execute(insert_on_conflict(table, conflict=conflict, update=update,
                                          bind=db.session.get_bind()), rows)


def merged(values: dict[str, Any], current: dict[str, Any] | None, fields: dict[str, Any],
           blank: str) -> dict[str, Any]:
    """The record to write: the current fields overlaid by the file's; a new record's `blank` field empty."""
    record = {f: (current or {}).get(f) for f in fields}
    if current is None:
        record[blank] = ""
    record.update({k: v for k, v in values.items() if k in fields})
    return record


def diff(values: dict[str, Any], current: dict[str, Any], fields: dict[str, Any], show=None) -> dict[str, list]:
    """Changed fields (present in the file and different from the record) as label → [old, new]."""
    show = show or (lambda name, value: "" if value is None else str(value))
    changes = {}
    for name, label in fields.items():
        if name in values and values[name] != current.get(name):
            changes[str(label)] = [show(name, current.get(name)), show(name, values[name])]
    return changes


def kinds() -> dict[str, type[Kind]]:
    from backoffice.imports.kinds.organizations import OrganizationsKind
    from backoffice.imports.kinds.residents import ResidentsKind
    from backoffice.imports.kinds.staff import StaffKind
    return {k.name: k for k in (OrganizationsKind, StaffKind, ResidentsKind)}


def kind_for(name: str, user: Any) -> Kind:
    """The kind `name` for `user`; OutOfRole (a PermissionError) when the user's role may not run it."""
    cls = kinds()[name]
    if not may(user, cls.action()):
        raise OutOfRole(name, cls.action())
    return cls(user)


__all__ = ["Kind", "Outcome", "NEW", "UPDATE", "UNCHANGED", "ERROR", "OUTSIDE", "OutsideScope", "upsert", "diff", "matching", "kinds", "kind_for", "Role"]
