"""Accounts, their scope (districts, ward, organization, checkpoints) and server-side sessions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.domain import Role, Sector
from backoffice.models.base import Base, TimestampMixin, UTCDateTime
from backoffice.models.geo import District, Ward
from backoffice.models.orgs import Checkpoint, Organization, _enum_check

user_districts = Table(
    "user_districts",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("district_code", ForeignKey("districts.code"), primary_key=True),
)

user_checkpoints = Table(
    "user_checkpoints",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("checkpoint_id", ForeignKey("checkpoints.id", ondelete="CASCADE"), primary_key=True),
)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_enum_check("role", Role), name="role"),
        CheckConstraint("sector IS NULL OR " + _enum_check("sector", Sector), name="sector"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    # Scope, by role: inspector → districts (+ optional sector); ward officer → ward;
    # organization admin → organization; checkpoint staff → organization + checkpoints.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                        index=True)
    ward_code: Mapped[int | None] = mapped_column(ForeignKey("wards.code"))
    sector: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str | None] = mapped_column(String(8))

    organization: Mapped[Organization | None] = relationship(foreign_keys=[organization_id])
    ward: Mapped[Ward | None] = relationship()
    districts: Mapped[list[District]] = relationship(secondary=user_districts, order_by=District.code)
    checkpoints: Mapped[list[Checkpoint]] = relationship(secondary=user_checkpoints)

    # Flask-Login protocol. is_active is what Flask-Login checks at login and on every request.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    # Set by the session loader: Flask-Login stores it in the cookie instead of the user id, so a
    # session can be revoked server-side (auth.sessions).
    session_secret = None  # type: str | None

    def get_id(self) -> str:
        if not self.session_secret:
            raise RuntimeError("get_id() called before auth.sessions.open_session()")
        return self.session_secret

    @property
    def district_codes(self) -> list[int]:
        return [d.code for d in self.districts]

    def __str__(self) -> str:
        return self.username


class UserSession(Base):
    """A login. The cookie holds only this row's random id, so logout, a password change or
    deactivation ends it for good, whatever copy of the cookie someone kept."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie secret
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")

    user: Mapped[User] = relationship()
