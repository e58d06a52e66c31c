"""Searching names as people type them: without diacritics and in any case ("nguyen van an" finds "Nguyễn Văn An").

`folded(column)` is the column's text folded in SQL — lower case, no diacritics, đ → d — and `fold(text)` folds
the typed text the same way, so `folded(column).contains(fold(text))` matches. On PostgreSQL the fold is a
`translate()` over the Latin letters with diacritics (built here from Unicode's decompositions, so both sides agree)
that also drops combining marks (a name stored decomposed, NFD); `lower()` then only meets ASCII letters, which
every collation lowers alike. SQLite has no `translate()`: the same Python function is registered on each
connection as `bo_fold` (deterministic, so SQLite may use it freely).
"""
from __future__ import annotations

import re
import sqlite3
import unicodedata

from sqlalchemy import String, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

_SPACES = re.compile(r"\s+")


def fold(text: object) -> str:
    """Lower case, no diacritics, đ → d, runs of white space as one space."""
    value = unicodedata.normalize("NFKD", str(text or "").replace("đ", "d").replace("Đ", "D"))
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).lower()
    return _SPACES.sub(" ", value).strip()


def _fold_sql(value: str | None) -> str | None:
    # The column side keeps its spaces as stored: only letters change, as translate() does on PostgreSQL.
    if value is None:
        return None
    decomposed = unicodedata.normalize("NFKD", value.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _translate_tables() -> tuple[str, str]:
    source, target = [], []
    for code in list(range(0x00C0, 0x0250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(code)
        folded = _fold_sql(ch)
        if folded and len(folded) == 1 and folded.isascii() and folded != ch:
            source.append(ch)
            target.append(folded)
    # Combining marks last, with no counterpart: translate() deletes them.
    marks = [chr(code) for code in range(0x0300, 0x0370)]
    return "".join(source) + "".join(marks), "".join(target)


_FROM, _TO = _translate_tables()


class folded(FunctionElement):  # noqa: N801 - reads as a function in queries
    """The folded text of a column, for `folded(Person.full_name).contains(fold(q))`."""

    type = String()
    inherit_cache = True

    def __init__(self, column: ColumnElement) -> None:
        super().__init__(column)


@compiles(folded)
def _folded_default(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"lower(translate({column}, '{_FROM}', '{_TO}'))"


@compiles(folded, "sqlite")
def _folded_sqlite(element, compiler, **kw) -> str:
    return f"bo_fold({compiler.process(element.clauses, **kw)})"


@event.listens_for(Engine, "connect")
def _register_sqlite_fold(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("bo_fold", 1, _fold_sql, deterministic=True)


def like_escape(text: str) -> str:
    """Text for a LIKE pattern with `escape="\\\\"`: its own %, _ and \\ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prepare(session) -> None:
    """Make sure the session's SQLite connection knows `bo_fold` (one opened before this module was imported
    was not seen by the listener above). Nothing to do on other databases."""
    connection = session.connection()
    raw = getattr(connection.connection, "dbapi_connection", None)
    if isinstance(raw, sqlite3.Connection):
        raw.create_function("bo_fold", 1, _fold_sql, deterministic=True)
