"""Schema changes that a database can take while it serves: what Alembic migrations call instead of a plain
`create_index` on a table the city writes to all day (check-ins above all).

On PostgreSQL a plain CREATE INDEX holds a SHARE lock for the whole build, and every scan's INSERT waits behind
it (minutes at a city's volume). CREATE INDEX CONCURRENTLY holds only SHARE UPDATE EXCLUSIVE, which writers do
not conflict with; it cannot run inside a transaction, so it runs in Alembic's autocommit block (the migration's
transaction is committed before it and a new one begun after). A concurrent build that fails half-way (a
cancelled migration, a duplicate in a unique index) leaves an INVALID index of that name: it is dropped first, so
running the migration again builds it rather than skipping it as existing.

SQLite has no concurrent build and its writers are serialized anyway: there the plain statements run.
"""
from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from backoffice.database import is_postgres


def create_index(name: str, table: str, columns: Sequence[str], *, unique: bool = False,
                 where: str | None = None) -> None:
    """Create index `name` on `table` without blocking its writers on PostgreSQL."""
    condition = sa.text(where) if where else None
    if not is_postgres(op.get_bind()):
        op.create_index(name, table, list(columns), unique=unique, sqlite_where=condition)
        return
    with op.get_context().autocommit_block():
        if _invalid_index(name):
            op.execute(sa.text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        op.create_index(name, table, list(columns), unique=unique, postgresql_where=condition,
                        postgresql_concurrently=True, if_not_exists=True)


def drop_index(name: str, table: str) -> None:
    """Drop index `name` of `table` without blocking its writers on PostgreSQL."""
    if not is_postgres(op.get_bind()):
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def _invalid_index(name: str) -> bool:
    found = op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"),
        {"name": name})
    return found.first() is not None


def on_this_database(dialect: str):
    """Alembic's `include_object` for autogenerate and schema comparisons: a model's index made for other
    databases only (`Index(…).ddl_if(dialect=…)`) is not expected here."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        condition = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
        if condition is None or condition.dialect is None:
            return True
        wanted = (condition.dialect,) if isinstance(condition.dialect, str) else tuple(condition.dialect)
        return dialect in wanted
    return include
