"""Organizations, their locations (areas), checkpoints, staff and checkpoint device tokens."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    Boolean,
    false,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.domain import Direction, OrgStatus, Sector
from backoffice.models.base import Base, TimestampMixin, UTCDateTime
from backoffice.models.geo import District, Ward


BLACK_INSTRUCTION_MAX = 160  # a line or two on a phone's black screen


def new_token() -> str:
    """An unguessable, URL-safe token (128 bits) for QR URLs."""
    return secrets.token_urlsafe(16)


def _enum_check(column: str, enum) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"


class Organization(TimestampMixin, Base):
    __tablename__ = "organizations"
    __table_args__ = (
        ForeignKeyConstraint(["ward_code", "district_code"], ["wards.code", "wards.district_code"]),
        CheckConstraint(_enum_check("status", OrgStatus), name="status"),
        CheckConstraint(_enum_check("sector", Sector), name="sector"),
        CheckConstraint("workers_on_site IS NULL OR workers_on_site >= 0", name="workers"),
        Index("ix_organizations_district_status", "district_code", "status"),
        Index("ix_organizations_district_sector", "district_code", "sector"),
        Index("ix_organizations_ward_code", "ward_code"),
        Index("ix_organizations_name", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # 10 digits, or 10 digits + "-" + 3-digit branch suffix; validated by backoffice.identifiers.
    tax_code: Mapped[str] = mapped_column(String(14), unique=True)
    sector: Mapped[str] = mapped_column(String(32), default=Sector.OTHER.value)
    address: Mapped[str] = mapped_column(String(255), default="")
    ward_code: Mapped[int] = mapped_column(Integer)
    district_code: Mapped[int] = mapped_column(ForeignKey("districts.code"))
    contact_name: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164, e.g. +84903123456
    email: Mapped[str | None] = mapped_column(String(254))
    workers_on_site: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=OrgStatus.PENDING.value)
    # "Mã QR đơn vị": the organization's own check-in QR token; rotated to revoke printed posters.
    qr_token: Mapped[str] = mapped_column(String(43), unique=True, default=new_token)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No foreign key: users reference organizations, and the audit log names the decider anyway.
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decision_note: Mapped[str | None] = mapped_column(String(500))
    # Reception policy: whether a black visitor (or staff member) is let in, recorded
    # as a stay; else the scan is kept for tracing only. The instruction the black screen shows (escaped) instead
    # of the default "Không đủ điều kiện vào".
    admit_black: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    black_instruction: Mapped[str | None] = mapped_column(String(BLACK_INSTRUCTION_MAX))

    ward: Mapped[Ward] = relationship(foreign_keys=[ward_code], primaryjoin="Organization.ward_code == Ward.code",
                                      lazy="joined", overlaps="district")
    district: Mapped[District] = relationship(foreign_keys=[district_code], lazy="joined")
    locations: Mapped[list["Location"]] = relationship(back_populates="organization", order_by="Location.id")
    staff: Mapped[list["Staff"]] = relationship(back_populates="organization", order_by="Staff.id")

    def __str__(self) -> str:
        return f"{self.name} ({self.tax_code})"


class Location(TimestampMixin, Base):
    """An area an organization controls; each has its own QR so tracing can ring-fence it."""

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    qr_token: Mapped[str] = mapped_column(String(43), unique=True, default=new_token)

    organization: Mapped[Organization] = relationship(back_populates="locations")
    checkpoints: Mapped[list["Checkpoint"]] = relationship(back_populates="location", order_by="Checkpoint.id")

    def __str__(self) -> str:
        return self.name


class Checkpoint(TimestampMixin, Base):
    """A reception point at a location where staff scan personal QR codes (điểm kiểm soát)."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        CheckConstraint(_enum_check("direction", Direction), name="direction"),
        UniqueConstraint("location_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # organization_id repeats the location's so scope filters need no join; operations keep them equal.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(8), default=Direction.ENTRY.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    organization: Mapped[Organization] = relationship()
    location: Mapped[Location] = relationship(back_populates="checkpoints")

    def __str__(self) -> str:
        return f"{self.location.name} — {self.name}" if self.location else self.name


class DeviceToken(Base):
    """A per-checkpoint API token for scanning devices; only its hash is stored."""

    __tablename__ = "device_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    token_prefix: Mapped[str] = mapped_column(String(12))  # shown in lists so admins can tell tokens apart
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    checkpoint: Mapped[Checkpoint] = relationship()

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"


class Staff(TimestampMixin, Base):
    """A worker of an organization. `id_number` is what the organization typed (its own data); `person_id` links
    the row to a registry resident only once the person proved it (backoffice.staff.service): their own signed
    personal QR scanned at one of the organization's checkpoints, or their ward officer's confirmation."""

    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("organization_id", "person_id"),
        UniqueConstraint("organization_id", "id_number"),
        CheckConstraint("link_method IS NULL OR link_method IN ('signed_scan', 'ward')", name="link_method"),
        # The ward officers' queue finds pending rows by the typed ID number across organizations.
        Index("ix_staff_id_number", "id_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    full_name: Mapped[str] = mapped_column(String(128))
    id_number: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(20))
    position: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # How, when and by whom the link to the registry was proved ('signed_scan' | 'ward'); all NULL while pending.
    link_method: Mapped[str | None] = mapped_column(String(16))
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No foreign key (as Organization.decided_by_id): the audit log names the user anyway.
    linked_by_id: Mapped[int | None] = mapped_column(Integer)
    # A ward officer declined to confirm: the row leaves the ward's queue (a signed scan may still link it).
    link_rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(back_populates="staff")
    person: Mapped["Person | None"] = relationship()  # noqa: F821 (people.py imports this module)

    def __str__(self) -> str:
        return self.full_name
