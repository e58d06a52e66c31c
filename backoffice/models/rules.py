"""The rule files in force across hosts: their digests as published, and what each host loaded."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.base import Base, JSONType, UTCDateTime


class RuleFileInForce(Base):
    """One rule file as published (`flask rules publish`): every host must have loaded exactly this content."""

    __tablename__ = "rule_files_in_force"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)  # a rule suite: health_status, criteria
    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # the file's name in the suite's folder
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(255))  # the host that published it


class RuleHost(Base):
    """What a host loaded when it started: the digests of its files per suite, and whether they agreed."""

    __tablename__ = "rule_hosts"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    digests: Mapped[dict] = mapped_column(JSONType)
    agrees: Mapped[bool] = mapped_column(Boolean)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
