"""Finding residents for personal QR cards, as a ward officer types: a name without diacritics ("nguyen van an"),
an ID number in any accepted spelling, or the last digits of the ID (what the masked ID on a card or a list shows).

Every query goes through `scope` (a ward officer: their ward); a page is counted and numbered so the officer sees
how many match, and `matching_ids` gives every match of a search (capped) for "print all of this search". The
interface audits what it shows (`audit.read`), page by page, and what it prints.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from backoffice import identifiers
from backoffice.auth.scope import scope
from backoffice.extensions import db
from backoffice.models import Person
from backoffice.printing.cards import require_printer
from backoffice.search import fold, folded, like_escape, prepare

PER_PAGE = 50
MIN_TAIL_DIGITS = 3  # fewer digits than this would match a tenth of the ward: ask for more
_DIGITS = re.compile(r"^\d+$")


@dataclass
class ResidentPage:
    residents: list[Person]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(math.ceil(self.total / self.per_page), 1)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.residents else 0

    @property
    def last(self) -> int:
        return self.first + len(self.residents) - 1 if self.residents else 0


def _condition(text: str) -> ColumnElement[bool] | None:
    text = text.strip()[:128]
    if not text:
        return None
    conditions: list[ColumnElement[bool]] = []
    name = fold(text)
    if name:
        conditions.append(folded(Person.full_name).like(f"%{like_escape(name)}%", escape="\\"))
    try:
        conditions.append(Person.id_number == identifiers.clean_id_number(text)[0])
    except ValueError:
        pass
    digits = re.sub(r"[\s.\-]", "", text)
    if _DIGITS.match(digits) and MIN_TAIL_DIGITS <= len(digits) <= 12:
        conditions.append(Person.id_number.like(f"%{digits}"))
    return or_(*conditions)


def _query(user: Any, text: str):
    require_printer(user)
    prepare(db.session)
    condition = _condition(text or "")
    stmt = scope(select(Person), user)
    return stmt if condition is None else stmt.where(condition), condition is not None


def search(user: Any, text: str, page: int = 1, per_page: int = PER_PAGE) -> ResidentPage:
    """One page of the residents in scope matching `text` (all of them, newest first, when it is empty)."""
    stmt, searching = _query(user, text)
    total = db.session.scalar(select(func.count()).select_from(stmt.with_only_columns(Person.id).subquery())) or 0
    pages = max(math.ceil(total / per_page), 1)
    page = min(max(page, 1), pages)
    order = (Person.full_name, Person.id) if searching else (Person.id.desc(),)
    rows = list(db.session.scalars(stmt.order_by(*order).limit(per_page).offset((page - 1) * per_page)))
    return ResidentPage(rows, total, page, per_page)


def matching_ids(user: Any, text: str, limit: int) -> list[int]:
    """The ids of every resident in scope matching `text`, at most `limit` (ask for one more than a batch
    allows to tell a search too big to print at once)."""
    stmt, searching = _query(user, text)
    order = (Person.full_name, Person.id) if searching else (Person.id.desc(),)
    return list(db.session.scalars(stmt.with_only_columns(Person.id).order_by(*order).limit(limit)))
