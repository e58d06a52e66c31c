"""Workbooks prepared by the task queue's worker for the user who asked, kept a few days."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from backoffice.models.base import Base, UTCDateTime

REPORT_FILE_STATES = ("queued", "running", "done", "failed")


class ReportFile(Base):
    __tablename__ = "report_files"
    __table_args__ = (CheckConstraint("kind IN ('district', 'city')", name="report_file_kind"),
                      CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="report_file_state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    district_code: Mapped[int | None] = mapped_column(ForeignKey("districts.code"))
    sector: Mapped[str | None] = mapped_column(String(32))
    as_of: Mapped[date] = mapped_column(Date)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(12), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)  # steps of the workbook written
    total: Mapped[int] = mapped_column(Integer, default=0)
    filename: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(String(500), default="")  # why it failed, for the user
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
