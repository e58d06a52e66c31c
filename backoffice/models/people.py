"""Residents and their health records: vaccinations, test results, recoveries."""
from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.domain import IdType, TestKind, TestOutcome
from backoffice.models.base import Base, TimestampMixin, UTCDateTime
from backoffice.models.geo import Ward
from backoffice.models.orgs import _enum_check


def new_qr_ref() -> str:
    """A resident's QR reference: opaque and unguessable (96 bits), carried in personal QR payloads instead of the
    ID number. The one place one is made: forms, imports, cards and declared visitors all call it."""
    return secrets.token_urlsafe(12)


class Person(TimestampMixin, Base):
    __tablename__ = "persons"
    __table_args__ = (
        CheckConstraint(_enum_check("id_type", IdType), name="id_type"),
        Index("ix_persons_ward_code", "ward_code"),
        Index("ix_persons_full_name", "full_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(20), unique=True)
    id_type: Mapped[str] = mapped_column(String(10), default=IdType.CCCD.value)
    qid: Mapped[str | None] = mapped_column(String(32), unique=True)  # national QR platform id (1405)
    full_name: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))  # 0 unknown, 1 male, 2 female as in 1405 EXT
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(255), default="")
    ward_code: Mapped[int | None] = mapped_column(ForeignKey("wards.code"))
    # Opaque reference carried in personal QR payloads instead of the ID number.
    qr_ref: Mapped[str] = mapped_column(String(32), unique=True, default=new_qr_ref)
    # Not in the city's registry: a visitor (other province, foreigner) whose valid national 1405 text was scanned
    # at a checkpoint, kept so tracing finds the visit. Only what the text carried (ID, name, birth date), no
    # ward (so only the city reads it in clear) and no health record: black, "no vaccination data" (letter 1913).
    declared_at_checkpoint: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    ward: Mapped[Ward | None] = relationship(lazy="joined")
    vaccinations: Mapped[list["Vaccination"]] = relationship(
        back_populates="person", order_by="Vaccination.dose_number", cascade="all, delete-orphan")
    test_results: Mapped[list["TestResult"]] = relationship(
        back_populates="person", order_by="TestResult.tested_at", cascade="all, delete-orphan")
    recoveries: Mapped[list["Recovery"]] = relationship(
        back_populates="person", order_by="Recovery.recovered_on", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return f"{self.full_name} ({mask_id(self.id_number)})"


def mask_id(id_number: str | None) -> str:
    """Only the last four characters of an ID number ("********0001"). The national QR's default display hides
    the first six, but a CCCD's first six are province, century/gender and birth year: guessable, so that display
    gave the ID back in a guess or two (and must never stand beside a birth year)."""
    id_number = id_number or ""
    shown = id_number[-4:] if len(id_number) > 4 else ""
    return "*" * (len(id_number) - len(shown)) + shown


class Vaccination(Base):
    __tablename__ = "vaccinations"
    __table_args__ = (
        UniqueConstraint("person_id", "dose_number"),
        CheckConstraint("dose_number BETWEEN 1 AND 10", name="dose_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    vaccine: Mapped[str] = mapped_column(String(32))  # code from the health-status rules' vaccine list
    dose_number: Mapped[int] = mapped_column(Integer)
    vaccinated_on: Mapped[date] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="vaccinations")

    def __str__(self) -> str:
        return f"{self.vaccine} #{self.dose_number} {self.vaccinated_on:%d/%m/%Y}"


class TestResult(Base):
    __tablename__ = "test_results"
    __test__ = False  # a laboratory result, not a test case for pytest to collect
    __table_args__ = (
        CheckConstraint(_enum_check("kind", TestKind), name="kind"),
        CheckConstraint(_enum_check("result", TestOutcome), name="result"),
        Index("ix_test_results_person_tested", "person_id", "tested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    result: Mapped[str] = mapped_column(String(8))
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(back_populates="test_results")


class Recovery(Base):
    __tablename__ = "recoveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    recovered_on: Mapped[date] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="recoveries")


class PersonalQRIssue(Base):
    """A personal QR card printed (or payload issued) for a resident: who, when, with which key and colour."""

    __tablename__ = "personal_qr_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ward_code: Mapped[int | None] = mapped_column(ForeignKey("wards.code"), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    colour: Mapped[str] = mapped_column(String(8))
