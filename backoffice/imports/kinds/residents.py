"""A ward's residents with their vaccination records, imported by the ward officer; matched by ID number."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, or_, select, update

from backoffice import date_bounds, identifiers
from backoffice.auth.scope import scope_clause
from backoffice.extensions import db
from backoffice.imports import columns as c
from backoffice.imports.kinds import NEW, UNCHANGED, UPDATE, Kind, Outcome, diff, matching, merged, upsert
from backoffice.models import Person, Vaccination, new_qr_ref
from backoffice.health import vaccines

DOSES = 3
GENDERS = {"Nam": "1", "Male": "1", "M": "1", "1": "1", "Nữ": "2", "Nu": "2", "Female": "2", "F": "2", "2": "2",
           "Khác": "0", "Other": "0", "0": "0"}
GENDER_LABELS = {"0": _l("Other"), "1": _l("Male"), "2": _l("Female")}


def _vaccine(value: Any) -> str:
    """The product's code from its name or a synonym, in the rules' vocabulary; an unknown product is the cell's
    error (it would be stored and then silently ignored by the rules)."""
    return vaccines.resolve(value)


def _birth_date(value: Any) -> date:
    return date_bounds.birth_date(c.a_date(value))


def _vaccination_date(value: Any) -> date:
    return date_bounds.vaccination_date(c.a_date(value))


def _dose_columns(n: int) -> list[c.Column]:
    return [
        c.Column(f"vaccine_{n}", f"Mũi {n} - Loại vắc xin", f"Dose {n}: vaccine (AstraZeneca, Pfizer, Moderna, "
                 "Sinopharm/Vero Cell, Sputnik V, Abdala, Janssen)",
                 (f"Mũi {n} vắc xin", f"Vắc xin mũi {n}", f"Loại vắc xin mũi {n}", f"Mũi {n} loại vaccine",
                  f"Dose {n} vaccine"),
                 parse=_vaccine,
                 example="AstraZeneca" if n < 3 else None, width=18),
        c.Column(f"date_{n}", f"Mũi {n} - Ngày tiêm", f"Dose {n}: date, day/month/year",
                 (f"Ngày tiêm mũi {n}", f"Mũi {n} ngày", f"Dose {n} date"), parse=_vaccination_date,
                 example=date(2021, 8, 2) if n == 1 else (date(2021, 9, 30) if n == 2 else None), width=14,
                 is_date=True),
    ]


COLUMNS = [
    c.Column("full_name", "Họ và tên", "Full name (required)", ("Họ tên", "Tên", "Full name", "Name"),
             required=True, parse=c.text_of(128), example="Lê Văn Cường", width=26),
    c.Column("id_number", "Số CCCD/CMND/Hộ chiếu", "Citizen ID (12 digits), ID card (9 digits) or passport "
             "(required)", ("Số CCCD/CMND", "CCCD", "CMND", "Số CCCD", "Số giấy tờ", "Số định danh", "ID number"),
             required=True, parse=lambda v: c.id_number(v)[0], example="079085000003", width=20),
    c.Column("birth_date", "Ngày sinh", "Birth date, day/month/year", ("Ngày tháng năm sinh", "Birth date",
                                                                        "Date of birth"),
             parse=_birth_date, example=date(1985, 7, 21), width=14, is_date=True),
    c.Column("gender", "Giới tính", "Gender: Nam / Nữ / Khác", ("Gender", "Sex"),
             parse=c.choice(GENDERS, lambda v: _("\"%(value)s\": write Nam, Nữ or Khác.", value=v)),
             example="Nam", width=10),
    c.Column("phone", "Số điện thoại", "Phone: mobile or landline, 0… or +84…", ("SĐT", "Điện thoại", "Phone"),
             parse=c.phone, example="0912345678", width=16),
    c.Column("address", "Địa chỉ", "Street address in the ward", ("Địa chỉ thường trú", "Nơi ở", "Address"),
             parse=c.text_of(255), example="45 Lê Lợi", width=28),
    *[col for n in range(1, DOSES + 1) for col in _dose_columns(n)],
]

FIELDS = {"full_name": _l("Full name"), "birth_date": _l("Birth date"), "gender": _l("Gender"),
          "phone": _l("Phone"), "address": _l("Address")}


def _show(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if name == "gender":
        return str(GENDER_LABELS.get(value, value))
    return str(value)


class ResidentsKind(Kind):
    name = "residents"
    title = _l("Residents")
    key = "id_number"
    columns = COLUMNS
    owner = "ward_code"
    ward_code: int

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        issues = []
        if "id_number" in values:
            values["id_type"] = identifiers.clean_id_number(values["id_number"])[1]
        previous = values.get("birth_date")
        for n in range(1, DOSES + 1):
            vaccine, when = values.get(f"vaccine_{n}"), values.get(f"date_{n}")
            if (vaccine is None) != (when is None):
                missing = f"date_{n}" if when is None else f"vaccine_{n}"
                issues.append((missing, _("Dose %(n)d needs both the vaccine and the date.", n=n)))
            if when is not None and previous is not None and when <= previous:
                issues.append((f"date_{n}", _("This date must come after %(date)s.",
                                              date=previous.strftime("%d/%m/%Y"))))
            previous = when or previous
        return issues

    def existing(self, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        # A visitor a checkpoint declared (no ward yet) is the ward's to register: the import takes the row over.
        declared = and_(Person.declared_at_checkpoint.is_(True), Person.ward_code.is_(None))
        visible = case((or_(scope_clause(Person, self.user), declared), 1), else_=0).label("_visible")
        stmt = select(Person.id, Person.id_number, Person.ward_code, *(getattr(Person, f) for f in FIELDS),
                      visible, case((declared, 1), else_=0).label("_declared")).where(matching(Person.id_number, keys))
        found = {row.id_number: row._asdict() for row in db.session.execute(stmt)}
        ids = {row["id"]: row for row in found.values() if row["_visible"]}
        for person_id, dose, vaccine, when in db.session.execute(
                select(Vaccination.person_id, Vaccination.dose_number, Vaccination.vaccine,
                       Vaccination.vaccinated_on).where(matching(Vaccination.person_id, list(ids)))):
            ids[person_id][f"vaccine_{dose}"], ids[person_id][f"date_{dose}"] = vaccine, when
        return found

    def compare(self, values: dict[str, Any], current: dict[str, Any] | None) -> Outcome:
        if current is None:
            return Outcome(NEW, {}, [])
        if not current["_visible"]:
            return Outcome(NEW, {}, [("id_number", _("This person is registered in another ward; that ward "
                                                      "must update the record."))])
        changes = diff(values, current, FIELDS, _show)
        for n in range(1, DOSES + 1):
            new = (values.get(f"vaccine_{n}"), values.get(f"date_{n}"))
            old = (current.get(f"vaccine_{n}"), current.get(f"date_{n}"))
            if new[0] is not None and new != old:
                label = _("Dose %(n)d", n=n)
                changes[label] = [" ".join(_show("", v) for v in old).strip(), " ".join(_show("", v) for v in new)]
        return Outcome(UPDATE if changes else UNCHANGED, changes, [])

    def write(self, rows, now) -> list[Any]:
        records, created = [], []
        for values, current in rows:
            record = merged(values, current, FIELDS, "address")
            if current is None:
                created.append(values["id_number"])
            record.update(id_number=values["id_number"], id_type=values.get("id_type", "cccd"),
                          ward_code=self.ward_code, qr_ref=new_qr_ref(), created_at=now, updated_at=now)
            records.append(record)
        upsert(Person.__table__, records, ["id_number"], [*FIELDS, "updated_at"])
        taken_over = [values["id_number"] for values, current in rows if current and current.get("_declared")]
        if taken_over:
            db.session.execute(update(Person).where(matching(Person.id_number, taken_over), Person.ward_code.is_(None))
                               .values(ward_code=self.ward_code, declared_at_checkpoint=False))
        ids = dict(db.session.execute(select(Person.id_number, Person.id).where(
            matching(Person.id_number, [r["id_number"] for r in records]))).all())
        doses = [{"person_id": ids[values["id_number"]], "dose_number": n, "vaccine": values[f"vaccine_{n}"],
                  "vaccinated_on": values[f"date_{n}"]}
                 for values, _current in rows for n in range(1, DOSES + 1) if values.get(f"vaccine_{n}")]
        upsert(Vaccination.__table__, doses, ["person_id", "dose_number"], ["vaccine", "vaccinated_on"])
        return created
