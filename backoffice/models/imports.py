"""A record of each bulk import: who, when, which file, what happened, and the error report."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, deferred

from backoffice.models.base import Base, JSONType, UTCDateTime


class ImportRecord(Base):
    __tablename__ = "import_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # organizations, staff, residents
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # previewed, applied, rejected, failed
    options: Mapped[dict] = mapped_column(JSONType, default=dict)
    counts: Mapped[dict] = mapped_column(JSONType, default=dict)  # new, update, unchanged, error
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Scope of the import, for listing: the organization (staff), ward (residents) or districts.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    ward_code: Mapped[int | None] = mapped_column(ForeignKey("wards.code"))
    district_code: Mapped[int | None] = mapped_column(ForeignKey("districts.code"))
    error_report: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))  # .xlsx
    credentials_report: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))  # one-time passwords .xlsx
