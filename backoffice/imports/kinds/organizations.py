"""Organizations, imported by the city and by district inspectors (only within their districts)."""
from __future__ import annotations

import secrets
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, select

from backoffice.auth.scope import scope, scope_clause
from backoffice.domain import SECTOR_LABELS, OrgStatus, Role, Sector
from backoffice.extensions import db
from backoffice.geo.resolve import UnitError, UnitResolver
from backoffice.imports import columns as c
from backoffice.imports import sectors
from backoffice.imports.kinds import NEW, UNCHANGED, UPDATE, Kind, Outcome, OutsideScope, diff, matching, upsert
from backoffice.models import District, Organization

# The dropdown of the template offers these Vietnamese labels; codes, English labels and offices' own words work too.
SECTOR_VI = sectors.LABELS_VI


def _accepted_sectors() -> str:
    return "; ".join(SECTOR_VI.values())


def sector_of(value: Any) -> str:
    """The sector code of a cell as written: the one place sector labels are matched (the vocabulary and its
    synonyms are in imports/sectors.py). Refused, quoting the cell, when it names no sector or several."""
    try:
        return sectors.match(value).value
    except sectors.SectorError as exc:
        names = "; ".join(f"\"{SECTOR_VI[s]}\"" for s in exc.candidates)
        if exc.kind == "ambiguous":
            raise ValueError(_("\"%(value)s\" names several sectors (%(sectors)s); write the one this "
                               "organization is in.", value=exc.value, sectors=names)) from None
        if names:
            raise ValueError(_("\"%(value)s\" is not a sector of the list; the closest: %(closest)s. Accepted "
                               "values: %(accepted)s.", value=exc.value, closest=names,
                               accepted=_accepted_sectors())) from None
        raise ValueError(_("\"%(value)s\" is not a sector of the list; accepted values: %(accepted)s.",
                           value=exc.value, accepted=_accepted_sectors())) from None


COLUMNS = [
    c.Column("name", "Tên doanh nghiệp", "Organization name (required)",
             ("Tên đơn vị", "Tên tổ chức", "Tên cơ sở", "Tên công ty", "Tên", "Name", "Organization name",
              "Organization", "Company"), required=True, example="Công ty TNHH Thương mại Sài Gòn Xanh", width=36),
    c.Column("tax_code", "Mã số thuế", "Tax code: 10 digits, -001…-999 for a branch (required)",
             ("MST", "Mã số doanh nghiệp", "Tax code", "Tax ID"), required=True, parse=c.tax_code,
             example="0100047516", width=16),
    c.Column("address", "Địa chỉ", "Street address", ("Địa chỉ trụ sở", "Address"), parse=c.text_of(255),
             example="12 Nguyễn Huệ", width=30),
    c.Column("district", "Quận/Huyện", "District, e.g. Quận 1, Q.1, TP. Thủ Đức (required)",
             ("Quận", "Huyện", "Quận huyện TP", "District"), required=True, example="Quận 1", width=20),
    c.Column("ward", "Phường/Xã", "Ward, e.g. Phường Bến Nghé, P.2, TT Củ Chi (required)",
             ("Phường", "Xã", "Phường xã thị trấn", "Ward"), required=True, example="Phường Bến Nghé", width=22),
    c.Column("sector", "Ngành", "Sector, from the list", ("Lĩnh vực", "Ngành nghề", "Loại hình", "Sector"),
             parse=sector_of,
             example=SECTOR_VI[Sector.FOOD_SERVICE], width=28),
    c.Column("contact_name", "Người liên hệ", "Contact person",
             ("Họ tên người liên hệ", "Người đại diện", "Contact", "Contact person"), parse=c.text_of(128),
             example="Nguyễn Văn An", width=22),
    c.Column("phone", "Số điện thoại", "Phone: mobile or landline, 0… or +84…",
             ("SĐT", "Điện thoại", "Số ĐT", "ĐT", "Phone", "Tel", "Telephone"), parse=c.phone,
             example="0903123456", width=16),
    c.Column("email", "Email", "E-mail address", ("E-mail", "Thư điện tử", "Địa chỉ email", "Địa chỉ e-mail"),
             parse=c.email, example="lienhe@example.vn", width=26),
    c.Column("workers_on_site", "Số lao động", "Workers on site: a whole number above 0",
             ("Số người lao động", "Số công nhân", "Lao động", "Số lượng lao động", "Workers", "Workers on site"),
             parse=c.positive_int, example=25, width=12),
]

FIELDS = {"name": _l("Name"), "address": _l("Address"), "district_code": _l("District"), "ward_code": _l("Ward"),
          "sector": _l("Sector"), "contact_name": _l("Contact person"), "phone": _l("Phone"),
          "email": _l("E-mail"), "workers_on_site": _l("Workers on site")}


class OrganizationsKind(Kind):
    name = "organizations"
    title = _l("Organizations")
    key = "tax_code"
    columns = COLUMNS

    def __init__(self, user: Any):
        super().__init__(user)
        self.units = UnitResolver.from_database()
        # Districts the user may put organizations in: the same scope rule as every read of districts.
        self.allowed = set(db.session.scalars(scope(select(District.code), user, District)))
        self.sector = user.sector if user.role == Role.INSPECTOR else None

    def record_scope(self) -> dict[str, int | None]:
        single = next(iter(self.allowed)) if self.user.role == Role.INSPECTOR and len(self.allowed) == 1 else None
        return {"organization_id": None, "ward_code": None, "district_code": single}

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """District, ward and sector against the units and the user's scope; every issue at once, each
        quoting the cell as typed."""
        issues = []
        district_text, ward_text = values.pop("district", None), values.pop("ward", None)
        district = None
        if district_text is not None:
            try:
                district = self.units.district(district_text)
            except UnitError as exc:
                issues.append(("district", str(exc)))
        if district is not None and district.code not in self.allowed:
            issues.append(("district", OutsideScope(_(
                "\"%(value)s\" (%(district)s) is outside your districts; this import may only add or change "
                "organizations of %(yours)s.", value=district_text, district=district.name,
                yours=", ".join(sorted(self.units.districts[d].name for d in self.allowed))))))
        if ward_text is not None:
            try:
                ward = self.units.ward(ward_text, district.code if district else None)
                if district is not None and district.code in self.allowed:
                    values["district_code"], values["ward_code"] = district.code, ward.code
            except UnitError as exc:
                # Without a district, only a ward that exists nowhere in the city is the ward cell's fault.
                if district is not None or not self.units.known_ward(ward_text):
                    issues.append(("ward", str(exc)))
        elif district is not None and district.code in self.allowed:
            values["district_code"] = district.code
        if self.sector:
            values.setdefault("sector", self.sector)
            if values["sector"] != self.sector:
                issues.append(("sector", _("Your account covers the sector %(sector)s only.",
                                           sector=SECTOR_LABELS[Sector(self.sector)])))
        return issues

    def existing(self, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        visible = case((scope_clause(Organization, self.user), 1), else_=0).label("_visible")
        stmt = select(Organization.id, Organization.tax_code, *(getattr(Organization, f) for f in FIELDS),
                      visible).where(matching(Organization.tax_code, keys))
        return {row.tax_code: row._asdict() for row in db.session.execute(stmt)}

    def show(self, name: str, value: Any) -> str:
        if value is None:
            return ""
        if name == "district_code":
            return self.units.districts[value].name
        if name == "ward_code":
            return self.units.wards[value].name
        if name == "sector":
            return str(SECTOR_LABELS[Sector(value)])
        return str(value)

    def compare(self, values: dict[str, Any], current: dict[str, Any] | None) -> Outcome:
        if current is None:
            if "sector" not in values:
                # A new organization's sector decides its criteria set and its place in every report: never a
                # silent "Khác".
                return Outcome(NEW, {}, [("sector", _("The sector is missing; accepted values: %(accepted)s.",
                                                      accepted=_accepted_sectors()))])
            return Outcome(NEW, {}, [])
        if not current["_visible"]:
            return Outcome(NEW, {}, [("tax_code", OutsideScope(_("This tax code belongs to an organization outside "
                                                                  "your scope; this import cannot change it.")))])
        changes = diff(values, current, FIELDS, self.show)
        return Outcome(UPDATE if changes else UNCHANGED, changes, [])

    def write(self, rows, now) -> list[Any]:
        table, records, created = Organization.__table__, [], []
        for values, current in rows:
            record = {f: (current or {}).get(f) for f in FIELDS}
            if current is None:
                record.update(address="", contact_name="")  # the sector: required of new rows (compare)
                created.append(values["tax_code"])
            record.update({k: v for k, v in values.items() if k in FIELDS})
            record.update(tax_code=values["tax_code"], status=OrgStatus.ACTIVE.value,
                          qr_token=secrets.token_urlsafe(16), created_at=now, updated_at=now)
            records.append(record)
        upsert(table, records, ["tax_code"], [*FIELDS, "updated_at"])
        return created
