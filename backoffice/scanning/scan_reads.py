"""Every successful scan is a read of a person's health status: it leaves an audit entry.

Why an AuditLog entry and not the check-in row alone: the row says who/where/whom for the scan that opened a
stay, but a re-scan that extends it keeps the first scanner (the second reader is lost), an exit scan with no
open stay writes no row at all although it showed the colour, and check-ins are purged after 60 days while
the residents' portal must list every read of their record in one place. So each scan adds one
"person.read" entry — who (user, or the device token, or the anonymous self check-in), which unit
(organization_id), whose record (entity "persons", entity_id = person id, found by ix_audit_log_entity), why
("scan") — in the same transaction as the check-in: on PostgreSQL inside the check-in's own statement, as a
data-modifying CTE (a device's connection autocommits, so a second statement would be a second transaction and
a second round trip); on SQLite as a second INSERT before the one commit.
"""
from __future__ import annotations

import json
from datetime import datetime

from flask import has_request_context, request
from sqlalchemy import bindparam, insert, select

from backoffice.models import AuditLog

_A = AuditLog.__table__
_COLUMNS = ("at", "actor_id", "actor_name", "action", "entity", "entity_id", "before", "after", "ip",
            "organization_id", "district_code")
# Every column given (none left to a Python-side default, which HotStatement cannot run), as read_* parameters.
INSERT = insert(_A).values({name: bindparam("read_" + name, type_=_A.c[name].type) for name in _COLUMNS})


def with_read(statement, *columns: str):
    """`statement` (an INSERT/UPDATE … RETURNING) and the audit INSERT in one PostgreSQL statement: the audit
    CTE runs whether or not the first returns a row (an exit scan with no open stay is a read too)."""
    changed = statement.cte("changed")
    return select(*(changed.c[name] for name in columns)).add_cte(INSERT.cte("person_read"))


def values(*, now: datetime, person_id: int, method: str, organization_id: int, location_id: int,
           checkpoint_id: int | None, user, device_token, dialect: str) -> dict:
    """The audit entry's parameters (prefixed read_). On PostgreSQL the raw driver gets `after` as JSON text
    (HotStatement runs no SQLAlchemy type processing); elsewhere the JSON type serialises the dict."""
    after = {"why": "scan", "method": method, "location": location_id, "checkpoint": checkpoint_id}
    if device_token is not None:
        after["device_token"] = device_token.id
    if user is not None:
        actor_name = user.username
    elif device_token is not None:
        actor_name = f"device_token:{device_token.id}"
    else:
        actor_name = ""  # the anonymous self check-in: the person themself, by their own QR or details
    row = {"at": now, "actor_id": user.id if user is not None else None, "actor_name": actor_name[:64],
           "action": "person.read", "entity": "persons", "entity_id": str(person_id), "before": None,
           "after": json.dumps(after) if dialect == "postgresql" else after,
           "ip": ((request.remote_addr or "") if has_request_context() else "cli")[:64],
           "organization_id": organization_id, "district_code": None}
    return {"read_" + name: value for name, value in row.items()}
