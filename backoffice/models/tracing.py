"""Signing keys for personal QR codes; tracing cases, the alerts they raise at organizations and the referrals
of contacts who live in another district."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.base import Base, JSONType, UTCDateTime
from backoffice.models.orgs import Location
from backoffice.models.people import Person


class SigningKey(Base):
    """An Ed25519 key of the key ring. The newest active key signs; retired keys no longer verify."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # raw 32 bytes
    # Encrypted with a key derived from SECRET_KEY; NULL when the private key lives in configuration.
    private_key: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signing: Mapped[bool] = mapped_column(Boolean, default=False)
    # A rotated-in "next" key: published (verifies) at once, signs from this time or the following rotation.
    signs_from: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TraceCase(Base):
    """A confirmed case whose movements are traced; created by an inspector or city admin, or by a positive test.

    A case opened by an officer without a positive test of the person stays `pending` with the officer's stated
    `reason` until a second officer approves it; nothing is traced before that."""

    __tablename__ = "trace_cases"
    __table_args__ = (CheckConstraint("status IN ('pending', 'open')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # manual, test
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_days: Mapped[int] = mapped_column(Integer, default=14)
    margin_minutes: Mapped[int] = mapped_column(Integer, default=30)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    district_code: Mapped[int | None] = mapped_column(ForeignKey("districts.code"))
    summary: Mapped[dict] = mapped_column(JSONType, default=dict)  # counts found at the last run
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    reason: Mapped[str | None] = mapped_column(String(500))  # why an officer opens it without a positive test
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()

    @property
    def pending(self) -> bool:
        return self.status == "pending"


class TraceAlert(Base):
    """An organization a traced case visited: shown on its dashboard until acknowledged."""

    __tablename__ = "trace_alerts"
    __table_args__ = (Index("ix_trace_alerts_org_ack", "organization_id", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trace_case_id: Mapped[int] = mapped_column(ForeignKey("trace_cases.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    visited_from: Mapped[datetime] = mapped_column(UTCDateTime)
    visited_to: Mapped[datetime] = mapped_column(UTCDateTime)
    contacts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class TraceReferral(Base):
    """A contact of a case who lives outside the case's district, handed to the district of their ward (NULL: no
    ward on record, so the city handles them). The tracing inspector sees them masked; the receiving district's
    inspectors see them in clear (the person is in their scope) and acknowledge the referral."""

    __tablename__ = "trace_referrals"
    __table_args__ = (
        UniqueConstraint("trace_case_id", "person_id"),
        CheckConstraint("status IN ('open', 'acknowledged')", name="status"),
        Index("ix_trace_referrals_district_status", "district_code", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trace_case_id: Mapped[int] = mapped_column(ForeignKey("trace_cases.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[int | None] = mapped_column(ForeignKey("districts.code"))
    # Where and when the contact met the case (the first overlapping stay; `stays` counts them all).
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    contact_from: Mapped[datetime] = mapped_column(UTCDateTime)
    contact_to: Mapped[datetime] = mapped_column(UTCDateTime)
    stays: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    person: Mapped[Person] = relationship()
    location: Mapped[Location] = relationship()
