"""An organization's staff list, imported by its organization admin; matched by ID number within the
organization. An imported ID number links nothing and the registry is never asked (no preview, result or error
tells whether it exists there): the person proves the link later (backoffice.staff.service)."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.auth.scope import scope
from backoffice.extensions import db
from backoffice.imports import columns as c
from backoffice.imports.kinds import NEW, UNCHANGED, UPDATE, Kind, Outcome, diff, matching, merged, upsert
from backoffice.models import Staff

COLUMNS = [
    c.Column("full_name", "Họ và tên", "Full name (required)",
             ("Họ tên", "Tên nhân viên", "Họ tên nhân viên", "Tên người lao động", "Full name", "Name"),
             required=True, parse=c.text_of(128), example="Trần Thị Bình", width=28),
    c.Column("id_number", "Số CCCD/CMND", "Citizen ID (12 digits), ID card (9 digits) or passport (required)",
             ("CCCD", "CMND", "Số CCCD", "Số CMND", "CCCD/CMND/Hộ chiếu", "Số giấy tờ", "Số định danh", "ID number",
              "ID"), required=True, parse=lambda v: c.id_number(v)[0], example="079190000002", width=18),
    c.Column("phone", "Số điện thoại", "Phone: mobile or landline, 0… or +84…",
             ("SĐT", "Điện thoại", "Số ĐT", "Phone"), parse=c.phone, example="0903123456", width=16),
    c.Column("position", "Chức vụ", "Position or department", ("Vị trí", "Bộ phận", "Chức danh", "Position",
                                                               "Job title"), parse=c.text_of(128),
             example="Nhân viên", width=18),
]

FIELDS = {"full_name": _l("Full name"), "phone": _l("Phone"), "position": _l("Position")}


class StaffKind(Kind):
    name = "staff"
    title = _l("Staff")
    key = "id_number"
    columns = COLUMNS
    owner = "organization_id"
    organization_id: int

    def existing(self, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        stmt = scope(select(Staff.id, Staff.id_number, *(getattr(Staff, f) for f in FIELDS)),
                     self.user, Staff).where(Staff.organization_id == self.organization_id,
                                             matching(Staff.id_number, keys))
        return {row.id_number: row._asdict() | {"_visible": 1} for row in db.session.execute(stmt)}

    def compare(self, values: dict[str, Any], current: dict[str, Any] | None) -> Outcome:
        if current is None:
            return Outcome(NEW, {}, [])
        changes = diff(values, current, FIELDS)
        return Outcome(UPDATE if changes else UNCHANGED, changes, [])

    def write(self, rows, now) -> list[Any]:
        records, created = [], []
        for values, current in rows:
            record = merged(values, current, FIELDS, "position")
            if current is None:
                created.append(values["id_number"])
            # The key is the ID number, so an existing row keeps its link (proved or not); a new row has none.
            record.update(organization_id=self.organization_id, id_number=values["id_number"], active=True,
                          created_at=now, updated_at=now)
            records.append(record)
        upsert(Staff.__table__, records, ["organization_id", "id_number"], [*FIELDS, "updated_at"])
        return created
