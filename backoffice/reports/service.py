"""Report operations: `build_district_report` and `build_city_report`, called alike by the admin page and the
CLI. They resolve the user's scope (404 outside it, 403 for roles without reports), write the workbook, and
record in the audit log who took which figures."""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import IO, Any, Callable

from backoffice import audit
from backoffice.replica import reading
from backoffice.extensions import db
from backoffice.reports import workbook
from backoffice.reports.scope import ReportForbidden, ReportNotFound, ReportScope, resolve

__all__ = ["Report", "ReportForbidden", "ReportNotFound", "build_district_report", "build_city_report",
           "district_steps", "city_steps"]


@dataclass
class Report:
    scope: ReportScope
    filename: str
    counts: dict
    data: bytes | None = None  # when no output was given


def _output(out: IO[bytes] | str | None) -> tuple[IO[bytes] | str, io.BytesIO | None]:
    if out is None:
        buffer = io.BytesIO()
        return buffer, buffer
    return out, None


def _filename(kind: str, rs: ReportScope) -> str:
    sector = f"-{rs.sector}" if rs.sector else ""
    return f"bao-cao-{kind}{sector}-{rs.as_of:%Y%m%d}.xlsx"


def _audit(action: str, rs: ReportScope, counts: dict, district: int | None) -> None:
    audit.record(action, entity_name="report", entity_id=district if district is not None else "city",
                 after={"districts": list(rs.districts), "sector": rs.sector, "as_of": rs.as_of.isoformat(),
                        "organizations": counts.get("organizations")},
                 actor=rs.user if getattr(rs.user, "id", None) else None,
                 actor_name=None if getattr(rs.user, "id", None) else getattr(rs.user, "username", "cli"),
                 district_code=district)
    db.session.commit()


def district_steps() -> int:
    return workbook.DISTRICT_STEPS


def city_steps(user: Any, sector: str | None = None) -> int:
    return workbook.city_steps(resolve(user, sector=sector))


def build_district_report(user: Any, district_code: int, *, sector: str | None = None, as_of: date | None = None,
                          out: IO[bytes] | str | None = None,
                          progress: Callable[[int], None] | None = None) -> Report:
    """The workbook of one district (optionally one sector) as `user` may see it."""
    with reading():
        rs = resolve(user, district_code, sector=sector, as_of=as_of)
        target, buffer = _output(out)
        counts = workbook.write_district_workbook(target, rs, progress or workbook._noop)
        _audit("report.district", rs, counts, district_code)
    return Report(rs, _filename(str(district_code), rs), counts, buffer.getvalue() if buffer else None)


def build_city_report(user: Any, *, sector: str | None = None, as_of: date | None = None,
                      out: IO[bytes] | str | None = None, progress: Callable[[int], None] | None = None) -> Report:
    """The workbook across every district `user` may see: the city for a city admin, its districts (and sector)
    for a department or district inspector."""
    with reading():
        rs = resolve(user, sector=sector, as_of=as_of)
        if not rs.districts:
            raise ReportNotFound("no district in scope")
        target, buffer = _output(out)
        counts = workbook.write_city_workbook(target, rs, progress or workbook._noop)
        _audit("report.city", rs, counts, None)
    return Report(rs, _filename("tphcm" if len(rs.districts) > 1 else str(rs.districts[0]), rs), counts,
                  buffer.getvalue() if buffer else None)
