"""The audit log: who did what to which record, from where, with the values before and after; and which
residents' records each entry disclosed (`PersonRead`), so a resident can be shown who read their data."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.base import Base, BigIntPK, JSONType, UTCDateTime


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_entity", "entity", "entity_id"),
        Index("ix_audit_log_org_at", "organization_id", "at"),
        Index("ix_audit_log_district_at", "district_code", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(64), default="")  # kept if the account is deleted
    action: Mapped[str] = mapped_column(String(64))  # e.g. login.failed, organization.update, scan.rejected
    entity: Mapped[str] = mapped_column(String(64), default="")
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    ip: Mapped[str] = mapped_column(String(64), default="")
    # Scope columns, so inspectors and organization admins can be shown their own entries.
    organization_id: Mapped[int | None] = mapped_column()
    district_code: Mapped[int | None] = mapped_column()


class PersonRead(Base):
    """One resident whose record an audit entry (a page, a search, a lookup, an export, a card) showed.

    A page lists many residents and an export thousands, while the residents' portal asks "who read mine?":
    one audit entry per request keeps the log readable and the cost one insert of the entry plus one multi-row
    insert here; the primary key (person, entry) answers the portal's question from the index alone."""

    __tablename__ = "person_reads"
    __table_args__ = (Index("ix_person_reads_audit_id", "audit_id"),)  # deleting old entries cascades here

    # No foreign key to persons: the history of who read a record outlives the record.
    person_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    audit_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_log.id", ondelete="CASCADE"),
                                          primary_key=True, autoincrement=False)
