"""The kinds of import. Each is a `Kind`: its columns, the role that may run it, how a row is checked against
the others (places, scope), how existing records are matched (one `IN` query per chunk, through the scope),
how a row compares with what exists, and how a chunk of rows is written (one upsert statement per chunk)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from backoffice.domain import Role
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
    name: ClassVar[str]
    roles: ClassVar[frozenset[str]]
    key: ClassVar[str]  # the column that identifies a record (duplicates within a file are errors)
    columns: ClassVar[list[Column]]

    def __init__(self, user: Any):
        self.user = user

    # scope of the ImportRecord (for the history list and the audit entry)
    def record_scope(self) -> dict[str, int | None]:
        return {"organization_id": None, "ward_code": None, "district_code": None}

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
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"bulk upsert is not implemented for {dialect}")
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=conflict, set_={c: stmt.excluded[c] for c in update})
    db.session.execute(stmt, rows)


def matching(column: Any, keys: list[Any]) -> Any:
    """`column IN keys`, for the chunked lookups. On PostgreSQL `IN (SELECT unnest($1))` with one array
    parameter: psycopg prepares a statement after five runs, and the generic plan of `IN ($1 … $2000)` or
    `= ANY($1)`, made while an import's transaction was still filling an empty table, scans the whole table
    comparing each row with every key (an import of 100,000 rows then took minutes); the planner reckons
    with a few rows from `unnest` and probes the unique index, whatever the plan."""
    if db.session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(keys), type_=postgresql.ARRAY(column.type))
        return column.in_(select(func.unnest(array)))
    return column.in_(keys)


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
    """The kind `name` for `user`; PermissionError when the user's role may not run it."""
    cls = kinds()[name]
    if getattr(user, "role", None) not in cls.roles:
        raise PermissionError(name)
    return cls(user)


__all__ = ["Kind", "Outcome", "NEW", "UPDATE", "UNCHANGED", "ERROR", "OUTSIDE", "OutsideScope", "upsert", "diff", "matching", "kinds", "kind_for", "Role"]
