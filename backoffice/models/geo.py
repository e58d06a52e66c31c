"""Administrative units: HCMC's 22 districts and 312 wards (GSO codes, 01/11/2021)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.base import Base


class District(Base):
    __tablename__ = "districts"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # Quận, Huyện, Thành phố

    wards: Mapped[list["Ward"]] = relationship(back_populates="district", order_by="Ward.code")

    def __str__(self) -> str:
        return self.name


class Ward(Base):
    __tablename__ = "wards"
    # (code, district_code) is unique so organizations and people can reference both at once:
    # the database itself then refuses a ward outside its district.
    __table_args__ = (UniqueConstraint("code", "district_code"),)

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # Phường, Xã, Thị trấn
    district_code: Mapped[int] = mapped_column(ForeignKey("districts.code"), index=True)

    district: Mapped[District] = relationship(back_populates="wards")

    def __str__(self) -> str:
        return f"{self.name}, {self.district.name}" if self.district else self.name
