"""Periodic jobs that run once per period across every host.

Every worker's scheduler calls `run_due` each minute. A job's periods are numbered (`slot_of`); the scheduler that
inserts the row (job, period) of `job_runs` runs it, the others find the row there and go on. The claim is in the
application's database, not the queue's storage, so it holds whichever queue storage the hosts use and across
hosts that each keep their own. A run whose worker was killed stays `running` until its timeout, after which it is
marked failed and the job runs again in its next period (every job is idempotent: a second run finds nothing to do).
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import select, update

from backoffice import audit
from backoffice.database import insert_on_conflict
from backoffice.extensions import db
from backoffice.models import JobRun
from backoffice.timeutil import now_utc

log = logging.getLogger(__name__)


def _auto_checkout() -> str:
    from backoffice.scanning.checkins import auto_checkout
    return f"closed {auto_checkout()}"


def _retention() -> str:
    from backoffice.scanning.checkins import purge_checkins
    purged = purge_checkins()
    return f"days {purged.days}, deleted {purged.deleted}, daily rows {purged.daily_rows}"


def _report_files() -> str:
    from backoffice.reports.files import retire
    return retire()


@dataclass(frozen=True)
class Job:
    name: str
    seconds: int  # the period
    offset: int = 0  # seconds after the UTC epoch's period boundary at which a period starts
    run: Callable[[], str] = lambda: ""

    @property
    def timeout(self) -> int:
        """How long a run may stay `running` before it counts as lost."""
        return max(self.seconds, 600)


# Retention at 02:00 in the city (19:00 UTC), when scans are fewest.
JOBS = (Job("auto_checkout", 300, 0, _auto_checkout),
        Job("retention", 86400, 19 * 3600, _retention),
        Job("report_files", 3600, 0, _report_files))


def schedule() -> tuple[Job, ...]:
    """The jobs with their periods, BACKOFFICE_PERIODIC_SECONDS ("name=seconds,…") overriding the defaults."""
    setting = str(current_app.config.get("BACKOFFICE_PERIODIC_SECONDS", "") or "")
    periods = dict(part.split("=", 1) for part in setting.replace(" ", "").split(",") if "=" in part)
    return tuple(Job(job.name, int(periods.get(job.name, job.seconds)), job.offset, job.run) for job in JOBS)


def slot_of(job: Job, now: datetime) -> int:
    """The number of the period of `job` that `now` falls in."""
    return int((now.timestamp() - job.offset) // job.seconds)


def this_host() -> str:
    return f"{current_app.config.get('BACKOFFICE_HOST_NAME') or socket.gethostname()}:{os.getpid()}"[:120]


def _release_lost(job: Job, now: datetime) -> bool:
    """Mark runs of `job` left `running` past its timeout as failed; True when a run is still going."""
    table = JobRun.__table__
    running = (table.c.job == job.name) & (table.c.status == "running")
    db.session.execute(update(table).where(running, table.c.started_at < now - timedelta(seconds=job.timeout))
                       .values(status="failed", finished_at=now, detail="lost: its worker stopped"))
    still = db.session.execute(select(table.c.slot).where(running).limit(1)).first() is not None
    db.session.commit()
    return still


def claim(job: Job, slot: int, now: datetime, host: str) -> bool:
    """Insert the run of `job` for `slot`; True only for the one caller whose row landed."""
    table = JobRun.__table__
    stmt = insert_on_conflict(table, conflict=[table.c.job, table.c.slot]).values(
        job=job.name, slot=slot, status="running", host=host, started_at=now, detail="").returning(table.c.slot)
    claimed = db.session.execute(stmt).first() is not None
    db.session.commit()
    return claimed


def run_due(now: datetime | None = None) -> list[str]:
    """Run every job whose current period nobody has claimed yet; returns what ran, as "job#slot: summary"."""
    now, host, ran = now or now_utc(), this_host(), []
    for job in schedule():
        slot = slot_of(job, now)
        if _release_lost(job, now) or not claim(job, slot, now, host):
            continue
        try:
            summary, status = job.run(), "done"
        except Exception as exc:  # noqa: BLE001  (recorded on the run, and the job runs again next period)
            db.session.rollback()
            log.exception("periodic job %s failed", job.name)
            summary, status = f"{type(exc).__name__}: {exc}"[:2000], "failed"
        db.session.execute(update(JobRun.__table__).where(JobRun.job == job.name, JobRun.slot == slot)
                           .values(status=status, finished_at=now_utc(), detail=summary))
        audit.record("jobs.run", entity_name="job_runs", entity_id=f"{job.name}#{slot}",
                     after={"job": job.name, "slot": slot, "status": status, "host": host, "detail": summary})
        db.session.commit()
        ran.append(f"{job.name}#{slot}: {summary}")
    return ran
