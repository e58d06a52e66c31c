"""Runs of the periodic jobs: one row per job and period, the claim that lets only one scheduler run it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.base import Base, UTCDateTime

JOB_STATES = ("running", "done", "failed")


class JobRun(Base):
    """`slot` numbers the job's periods (`jobs.periodic.slot_of`): the primary key is the claim, so of several
    schedulers that reach the same period only the one whose INSERT lands runs the job."""

    __tablename__ = "job_runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'done', 'failed')", name="job_run_status"),)

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(12), default="running")
    host: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")  # the job's summary, or its error
