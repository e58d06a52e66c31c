"""Workbooks prepared in the background: the report page asks (`request_workbook`), the queue's worker writes it
(`build`) with its progress, and only the user who asked takes the file (`take`), for a few days.

The scope is checked twice: when asked (an area outside the user's reports is refused at once) and when written
(the worker resolves it again for the same user, so an account whose districts changed meanwhile gets what it
may see now, or a failure saying so). A run whose worker was killed stays `running`; past
REPORT_FILE_STALL_SECONDS it reads as failed and the user asks again.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from backoffice import audit
from backoffice.errors import Invalid, OutOfRole, OutOfScope
from backoffice.extensions import db
from backoffice.models import ReportFile, User
from backoffice.reports import service
from backoffice.reports.scope import ReportForbidden, ReportNotFound, resolve
from backoffice.timeutil import now_utc

log = logging.getLogger(__name__)
KINDS = ("district", "city")
KEEP_DAYS = 7
STATE_LABELS = {"queued": _l("Waiting for the worker"), "running": _l("Being written"), "done": _l("Ready"),
                "failed": _l("Failed")}


def _stall() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("REPORT_FILE_STALL_SECONDS", 900)))


def request_workbook(user: Any, kind: str, district_code: int | None = None, *, sector: str | None = None,
                     as_of: date | None = None) -> ReportFile:
    """Queue the workbook of `kind` for `user`; 404 outside their reports, 403 for a role without them."""
    if kind not in KINDS or (kind == "district") != (district_code is not None):
        raise Invalid(_l("Choose a district for a district workbook."), code="report_kind")
    try:
        rs = resolve(user, district_code, sector=sector, as_of=as_of)
    except ReportNotFound:
        raise OutOfScope() from None
    except ReportForbidden:
        raise OutOfRole(code="reports.workbook") from None
    if not rs.districts:
        raise OutOfScope()
    file = ReportFile(kind=kind, district_code=district_code, sector=rs.sector, as_of=rs.as_of,
                      requested_by_id=user.id, requested_at=now_utc(), state="queued", done=0, total=0,
                      filename="", message="")
    db.session.add(file)
    db.session.flush()
    audit.record("report.requested", entity_name="report_files", entity_id=file.id, district_code=district_code,
                 after={"kind": kind, "district": district_code, "sector": rs.sector, "as_of": rs.as_of.isoformat()})
    db.session.commit()
    from backoffice.jobs.tasks import report_job
    report_job(file.id)  # queued after the commit: the worker finds the row
    return file


def _progress(file_id: int, total: int):
    """Progress written on a connection of its own: the workbook's transaction stays the report's."""
    def report(done: int) -> None:
        with db.engine.begin() as conn:
            conn.execute(update(ReportFile.__table__).where(ReportFile.id == file_id)
                         .values(done=min(done, total), total=total))
    return report


def build(file_id: int) -> str:
    """Write the workbook of a queued request (the worker's job). Idempotent: only a queued request is built."""
    claimed = db.session.execute(update(ReportFile).where(ReportFile.id == file_id, ReportFile.state == "queued")
                                 .values(state="running", started_at=now_utc())).rowcount
    db.session.commit()
    if not claimed:
        return "not queued"
    file = db.session.get(ReportFile, file_id)
    user = db.session.get(User, file.requested_by_id)
    try:
        if file.kind == "district":
            total = service.district_steps()
            report = service.build_district_report(user, file.district_code, sector=file.sector, as_of=file.as_of,
                                                   progress=_progress(file_id, total))
        else:
            total = service.city_steps(user, sector=file.sector)
            report = service.build_city_report(user, sector=file.sector, as_of=file.as_of,
                                               progress=_progress(file_id, total))
    except (ReportNotFound, ReportForbidden):
        db.session.rollback()
        return _fail(file_id, _l("This report is no longer within your reports."))
    except Exception:  # noqa: BLE001  (logged; the user is told and may ask again)
        db.session.rollback()
        log.exception("report file %s failed", file_id)
        return _fail(file_id, _l("The workbook could not be written; the error has been logged. Please ask again."))
    db.session.execute(update(ReportFile).where(ReportFile.id == file_id).values(
        state="done", finished_at=now_utc(), done=total, total=total, filename=report.filename,
        content=report.data))
    db.session.commit()
    return "done"


def _fail(file_id: int, message: Any) -> str:
    db.session.execute(update(ReportFile).where(ReportFile.id == file_id).values(
        state="failed", finished_at=now_utc(), message=str(message)[:500]))
    db.session.commit()
    return "failed"


def state_of(file: ReportFile) -> str:
    """The state, with a run that outlived REPORT_FILE_STALL_SECONDS (its worker was killed) shown as failed."""
    if file.state == "running" and file.started_at and now_utc() - file.started_at > _stall():
        return "failed"
    return file.state


def get_own(user: Any, file_id: int) -> ReportFile:
    """The request `file_id` if `user` made it; 404 for anyone else's (others' workbooks are not theirs to see)."""
    file = db.session.get(ReportFile, file_id) if 0 < file_id < 2**31 else None
    if file is None or file.requested_by_id != getattr(user, "id", None):
        raise OutOfScope()
    return file


def own_recent(user: Any, limit: int = 10) -> list[ReportFile]:
    return list(db.session.scalars(select(ReportFile).where(ReportFile.requested_by_id == user.id)
                                   .order_by(ReportFile.requested_at.desc()).limit(limit)))


def take(user: Any, file_id: int) -> tuple[str, bytes]:
    """The finished workbook (filename, bytes) for the user who asked; its download is audited."""
    file = get_own(user, file_id)
    if state_of(file) != "done":
        raise OutOfScope()
    content = db.session.scalar(select(ReportFile.content).where(ReportFile.id == file_id))
    audit.record("report.downloaded", entity_name="report_files", entity_id=file_id,
                 district_code=file.district_code, after={"kind": file.kind, "filename": file.filename})
    db.session.commit()
    return file.filename, content


def retire(now=None) -> str:
    """The periodic job: requests older than KEEP_DAYS go (their files with them); stalled runs are failed."""
    now = now or now_utc()
    stalled = db.session.execute(update(ReportFile).where(ReportFile.state == "running",
                                                          ReportFile.started_at < now - _stall())
                                 .values(state="failed", finished_at=now,
                                         message=str(_l("The worker stopped before the workbook was written. "
                                                        "Please ask again.")))).rowcount
    removed = db.session.execute(delete(ReportFile).where(ReportFile.requested_at < now - timedelta(days=KEEP_DAYS))
                                 ).rowcount
    db.session.commit()
    return f"stalled {stalled}, removed {removed}"
