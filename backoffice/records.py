"""The steps every operation on a record shares: apply the values, keep the record in the actor's scope, write
the audit entry (`<table>.create`, `<table>.update` with the fields that changed, `<table>.delete`).

The operations (`backoffice.orgs.service`, `backoffice.people.service`, `backoffice.auth.service`) add their own
rules around these steps; `Operations` is the create/update/delete of one model made of them, which a package
declares once per model (with its rules in `prepare`, `changing` and `adjust`). They flush, never commit: the transaction is the caller's (a request, a command), so an
operation and its audit entry are saved together or not at all. Everything is flushed before an operation returns,
so the caller's commit only ends the transaction.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, TypeVar

from sqlalchemy import inspect as sa_inspect

from backoffice import audit
from backoffice.auth.scope import in_scope
from backoffice.errors import OutOfRole
from backoffice.extensions import db

R = TypeVar("R")


def apply(record: Any, values: Mapping[str, Any], fields: Iterable[str]) -> None:
    """Set `values` on `record`; a name outside `fields` (what the operation lets a caller set) is a programming
    error, so a caller never writes a column the operation does not own (a link, a token, a status decided
    elsewhere)."""
    allowed = set(fields)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no settable field {', '.join(unknown)}")
    for name, value in values.items():
        setattr(record, name, value)


def keep_in_scope(record: Any, actor: Any) -> None:
    """Flush, then refuse (403, rolled back) a record the values placed outside what `actor` may touch: a forged
    form naming another organization, ward or district."""
    db.session.flush()
    if actor is None:  # a command or the seed: no user's scope applies
        return
    if not in_scope(type(record), sa_inspect(record).identity[0], actor):
        raise OutOfRole("the values would place the record outside the user's scope", "scope")


def create(actor: Any, record: R, values: Mapping[str, Any], fields: Iterable[str]) -> R:
    """Add `record` with `values`, in the actor's scope, audited."""
    apply(record, values, fields)
    db.session.add(record)
    keep_in_scope(record, actor)
    audit.record(f"{type(record).__tablename__}.create", record, actor=actor, after=audit.snapshot(record))
    db.session.flush()
    return record


def update(actor: Any, record: R, values: Mapping[str, Any], fields: Iterable[str], *,
           before: dict[str, Any] | None = None) -> R:
    """Change `record` to `values`, still in the actor's scope, audited with what changed. `before`: the snapshot
    taken before the caller changed anything itself."""
    before = audit.snapshot(record) if before is None else before
    apply(record, values, fields)
    keep_in_scope(record, actor)
    old, new = audit.changes(before, audit.snapshot(record))
    audit.record(f"{type(record).__tablename__}.update", record, actor=actor, before=old, after=new)
    db.session.flush()
    return record


def delete(actor: Any, record: Any) -> None:
    """Delete `record` (already read within the actor's scope), audited with what it held."""
    audit.record(f"{type(record).__tablename__}.delete", record, actor=actor, before=audit.snapshot(record))
    db.session.flush()
    db.session.delete(record)
    db.session.flush()



class Operations:
    """Create, update and delete of one model through the shared steps. A subclass adds the model's own rules:
    `prepare` turns the caller's values into the record's (normalising what was typed), `changing` reacts to the
    values before they are applied to an existing record, `adjust` derives fields once they are."""

    def __init__(self, model: type, fields: Iterable[str]):
        self.model, self.fields = model, tuple(fields)

    def prepare(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return dict(values)

    def changing(self, record: Any, values: Mapping[str, Any]) -> None:
        pass

    def adjust(self, record: Any) -> None:
        pass

    def new(self) -> Any:
        return self.model()

    def create(self, actor: Any, values: Mapping[str, Any]) -> Any:
        record = self.new()
        apply(record, self.prepare(values), self.fields)
        self.adjust(record)
        return create(actor, record, {}, self.fields)

    def update(self, actor: Any, record: Any, values: Mapping[str, Any]) -> Any:
        values = self.prepare(values)
        before = audit.snapshot(record)
        self.changing(record, values)
        apply(record, values, self.fields)
        self.adjust(record)
        return update(actor, record, {}, self.fields, before=before)

    def delete(self, actor: Any, record: Any) -> None:
        delete(actor, record)
