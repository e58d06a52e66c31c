"""Reads of residents' records, audited once per request (issue 14, point 6).

The scoped views note the residents each answer shows (`note_shown`, from `get_list`, `get_one` and the ajax
loaders); once the page is answered with 200, `ScopedModelView._run_view` writes one "person.read" entry naming
them (`audit.read`). A list page records the ids it showed, with the search term and filters that found them:
the residents' portal must answer "who saw my record", which a search term alone cannot tell, and a page holds
at most 100 rows, so the cost stays one entry and one multi-row insert per request."""
from __future__ import annotations

from typing import Any, Iterable

from flask import g, request
from sqlalchemy import inspect as sa_inspect

from backoffice import audit


def person_attribute(model: type) -> str | None:
    """The attribute naming the resident a row of `model` shows: the person's own id, or the `person_id` of the
    records hanging off one (health records, staff, check-ins); None when the model holds no resident's data."""
    from backoffice.models import Person
    if model is Person:
        return "id"
    return "person_id" if "person_id" in sa_inspect(model).columns else None


def note_shown(model: type, rows: Iterable[Any]) -> None:
    """Remember the residents these rows show; the view audits them once the page is answered."""
    attr = person_attribute(model)
    shown = g.get("bo_persons_shown")
    if attr is not None and shown is not None:
        shown.extend(getattr(row, attr) for row in rows)


def status_of(response: Any) -> int:
    """The status of whatever a view returned (a rendered page, a Response, a (body, status) tuple)."""
    if isinstance(response, tuple):
        return next((part for part in response[1:] if isinstance(part, int)), 200)
    return getattr(response, "status_code", 200)


def list_query() -> dict[str, Any]:
    """The search term and filters of a list request (what found the residents it shows)."""
    search = (request.args.get("search") or "")[:128]
    filters = {k: v[:128] for k, v in request.args.items() if k.startswith("flt")}
    return {"search": search, "filters": filters} if search or filters else {}


def audit_page(endpoint: str, why: str, person_ids: list) -> None:
    """One read entry for this request: who, their unit, why, and what found the residents shown."""
    details: dict[str, Any] = {"view": endpoint}
    if why == "list":
        query = list_query()
        if query:
            why = "search"
            details.update(query)
        details["page"] = request.args.get("page", 0, type=int)
    elif why == "lookup":
        details["search"] = (request.args.get("query") or "")[:128]
    else:
        details["record_id"] = (request.args.get("id") or "")[:64]
    audit.read(person_ids, why=why, **details)
