"""Check-ins recorded at checkpoints (or by self check-in at a location), and daily counts kept after purges."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.domain import Colour, ScanMethod
from backoffice.models.base import Base, BigIntPK, JSONType, UTCDateTime
from backoffice.models.orgs import Checkpoint, Location, Organization, _enum_check
from backoffice.models.people import Person


class CheckIn(Base):
    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint(_enum_check("status_colour", Colour), name="colour"),
        CheckConstraint(_enum_check("method", ScanMethod), name="method"),
        Index("ix_checkins_location_time", "location_id", "checked_in_at"),
        Index("ix_checkins_person_time", "person_id", "checked_in_at"),
        # With the colour: the reports' check-in counts per (organization, day) and their green share are read
        # from this index alone, never from the rows (1M check-ins: 1.5 -> 0.95 s on SQLite).
        Index("ix_checkins_org_time_colour", "organization_id", "checked_in_at", "status_colour"),
        # The purge finds its oldest day and deletes one day's rows down this index: its cost per day does not grow
        # with the days kept (without it each day read the whole table). PostgreSQL only: SQLite's planner, with
        # no statistics, took it for the reports' per-organization counts instead of the covering index above
        # (the city workbook 15.5 -> 19.7 s at 1M check-ins), and its purge was no faster with it (bench_checkins_purge).
        Index("ix_checkins_time", "checked_in_at").ddl_if(dialect="postgresql"),
        # At most one open stay per person and location: concurrent scans of the same person
        # cannot both insert; the loser extends the winner's row instead (scanning.checkins).
        Index("uq_checkins_open_stay", "person_id", "location_id", unique=True,
              sqlite_where=text("checked_out_at IS NULL"), postgresql_where=text("checked_out_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoints.id", ondelete="SET NULL"))
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # extended by re-scans within the window
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkout_reason: Mapped[str | None] = mapped_column(String(16))  # exit, manual, auto, refused
    # False: a door scan of someone the organization's policy did not let in (black, Organization.admit_black):
    # kept for tracing (a zero-length stay, checked_out_at = checked_in_at), never an open stay nor "on site".
    admitted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    status_colour: Mapped[str] = mapped_column(String(8))
    # The reason as rendered when scanned (rows from before status_outcome, or when no rule matched again)...
    status_reason: Mapped[str] = mapped_column(String(255), default="")
    # ...and what renders it in the reader's language: the rule's outcome id and the values its msgid quotes
    # (health.reasons). Empty for rows recorded before them: those show status_reason as stored.
    status_outcome: Mapped[str] = mapped_column(String(32), default="", server_default="")
    status_params: Mapped[dict | None] = mapped_column(JSONType)
    rule_id: Mapped[str] = mapped_column(String(64), default="")
    rule_version: Mapped[str] = mapped_column(String(32), default="")
    method: Mapped[str] = mapped_column(String(16))
    signed: Mapped[bool] = mapped_column(Boolean, default=True)  # False for the unsigned national 1405 text
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    scan_count: Mapped[int] = mapped_column(Integer, default=1)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    device_token_id: Mapped[int | None] = mapped_column(ForeignKey("device_tokens.id", ondelete="SET NULL"))

    person: Mapped[Person] = relationship()
    organization: Mapped[Organization] = relationship()
    location: Mapped[Location] = relationship()
    checkpoint: Mapped[Checkpoint | None] = relationship()


class CheckInDaily(Base):
    """Per-location daily counts, kept when old check-ins are purged (reports read them)."""

    __tablename__ = "checkin_daily"

    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    green: Mapped[int] = mapped_column(BigInteger, default=0)
    black: Mapped[int] = mapped_column(BigInteger, default=0)


class RetiredDay(Base):
    """The retention ledger: a local (Ho Chi Minh City) day whose check-ins the purge added to `checkin_daily` and
    deleted, in the same transaction as the rollup and the delete (scanning.checkins.purge_checkins). A check-in
    that arrives later for such a day (an offline scan queued for days) is kept like any other until the next
    purge adds it to the day's rollup and to `late_checkins` here."""

    __tablename__ = "retired_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    checkins: Mapped[int] = mapped_column(BigInteger)  # counted into checkin_daily and deleted, all runs together
    late_checkins: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # ...after the first run
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the first run
    retired_by: Mapped[str] = mapped_column(String(255))  # host:pid:run of the first run
    last_retired_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the latest run that found rows of the day
