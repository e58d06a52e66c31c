"""Periodic jobs run once per period however many schedulers reach it: processes racing for the same period at a
barrier, and two real queue workers (Huey consumers with their schedulers) on one Redis queue and one database."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, select, text

from production.harness import REDIS_SERVER, own_database, redis_uri

SERVER = os.environ.get("TEST_DATABASE_URL", "")
ROOT = Path(__file__).resolve().parents[1]
PROCESSES = 6
QUEUE_DB = 12  # Redis database of the workers' queue (harness uses 14, rate-limit tests 15 and 13)


@contextmanager
def _database(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, migrated to the head: a file on SQLite, a database on the PostgreSQL server."""
    if SERVER.startswith("postgresql"):
        with own_database(SERVER, prefix="bo_jobs") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'jobs.sqlite3'}"


def _app(url: str, **config):
    from backoffice import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "periodic-jobs", "TESTING": True, **config})


def _race(url: str, now: datetime, barrier, results) -> None:
    try:
        os.environ["BACKOFFICE_INSTANCE"] = tempfile.mkdtemp(prefix="bo_jobs_")
        from backoffice.jobs.periodic import run_due
        with _app(url).app_context():
            barrier.wait(timeout=60)
            results.put(run_due(now))
    except BaseException:  # noqa: BLE001  (the parent reports what failed in the child)
        results.put(traceback.format_exc())


def _migrated(url: str):
    from flask_migrate import upgrade

    from backoffice.extensions import db
    app = _app(url)
    with app.app_context():
        upgrade()
        db.engine.dispose()  # no connection of the parent's crosses a fork
    return app


def test_processes_reaching_the_same_period_run_each_job_once(tmp_path):
    from backoffice.extensions import db
    from backoffice.models import AuditLog, JobRun
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bo_jobs_"))
    with _database(tmp_path) as url:
        app = _migrated(url)
        now = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)  # within retention's period (after 02:00 local)
        context = multiprocessing.get_context("fork")
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        children = [context.Process(target=_race, args=(url, now, barrier, results)) for _ in range(PROCESSES)]
        for child in children:
            child.start()
        outcomes = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=30)
        failures = [o for o in outcomes if isinstance(o, str)]
        assert not failures, "\n".join(failures)
        ran = sorted(line.split(":")[0] for lines in outcomes for line in lines)
        with app.app_context():
            from backoffice.jobs.periodic import schedule, slot_of
            expected = sorted(f"{job.name}#{slot_of(job, now)}" for job in schedule())
            assert ran == expected  # each job once, by whichever process claimed it
            runs = db.session.execute(select(JobRun.job, JobRun.slot, JobRun.status)).all()
            assert sorted(f"{r.job}#{r.slot}" for r in runs) == expected and {r.status for r in runs} == {"done"}
            audited = db.session.scalars(select(AuditLog.entity_id).where(AuditLog.action == "jobs.run")).all()
            assert sorted(audited) == expected
            # The next period of the same job runs again; the same period does not.
            from backoffice.jobs.periodic import run_due
            assert run_due(now) == []
            later = run_due(now + timedelta(minutes=5))
            assert [line.split("#")[0] for line in later] == ["auto_checkout"]
            db.engine.dispose()


def test_a_failed_run_is_recorded_and_its_job_runs_next_period(tmp_path):
    from backoffice.extensions import db
    from backoffice.jobs import periodic
    from backoffice.models import JobRun
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bo_jobs_"))
    with _database(tmp_path) as url:
        # A retention setting the purge refuses: the run fails with its reason, the other job still runs.
        app = _migrated(url)
        app.config["BACKOFFICE_CHECKIN_RETENTION_DAYS"] = 0
        now = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)
        with app.app_context():
            ran = periodic.run_due(now)
            status = dict(db.session.execute(select(JobRun.job, JobRun.status)).all())
            assert status == {"auto_checkout": "done", "retention": "failed", "report_files": "done"}
            detail = db.session.scalar(select(JobRun.detail).where(JobRun.job == "retention"))
            assert "retention period must be at least one day" in detail
            assert len(ran) == 3
            # A run left `running` by a killed worker blocks its job until its timeout, then counts as failed.
            job = next(j for j in periodic.schedule() if j.name == "auto_checkout")
            db.session.add(JobRun(job="auto_checkout", slot=periodic.slot_of(job, now) + 1, status="running",
                                  host="killed:1", started_at=now + timedelta(minutes=5), detail=""))
            db.session.commit()
            assert periodic.run_due(now + timedelta(minutes=10)) == []
            after_timeout = periodic.run_due(now + timedelta(minutes=5, seconds=job.timeout + 1))
            assert [line.split("#")[0] for line in after_timeout] == ["auto_checkout"]
            lost = db.session.get(JobRun, ("auto_checkout", periodic.slot_of(job, now) + 1))
            assert (lost.status, lost.detail) == ("failed", "lost: its worker stopped")
            db.engine.dispose()


def _worker(url: str, queue: str, instance: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "periodic-jobs", "BACKOFFICE_INSTANCE": str(instance),
           "BACKOFFICE_QUEUE_URL": queue, "BACKOFFICE_QUEUE_NAME": f"jobs-test-{os.getpid()}",
           "BACKOFFICE_PERIODIC_SECONDS": "auto_checkout=2", "BACKOFFICE_SCHEDULER_SECONDS": "1"}
    env.pop("TEST_DATABASE_URL", None)
    instance.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "backoffice", "jobs", "worker", "--workers", "2"],
                            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_two_workers_scheduling_together_run_each_period_once(tmp_path):
    uri = redis_uri(QUEUE_DB)
    if uri is None:
        pytest.skip(f"Redis is not answering on {REDIS_SERVER}")
    import redis
    redis.Redis.from_url(uri).flushdb()
    with _database(tmp_path) as url:
        _migrated(url)
        engine = create_engine(url)
        workers = [_worker(url, uri, tmp_path / f"host{i}", tmp_path / f"worker{i}.log") for i in (1, 2)]
        try:
            # Until a few periods have run. Which worker claims a period is a race, and one may win them all.
            deadline, done = time.monotonic() + 150, 0
            while time.monotonic() < deadline and done < 4:
                assert all(w.poll() is None for w in workers), (tmp_path / "worker1.log").read_text()[-3000:]
                time.sleep(1)
                with engine.connect() as conn:
                    done = conn.execute(text("SELECT count(*) FROM job_runs "
                                             "WHERE job = 'auto_checkout' AND status = 'done'")).scalar()
        finally:
            for w in workers:
                if w.poll() is None:
                    os.killpg(w.pid, signal.SIGINT)
            for w in workers:
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
        logs = "\n".join((tmp_path / f"worker{i}.log").read_text()[-2000:] for i in (1, 2))
        assert done >= 4, logs
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT slot, host FROM job_runs WHERE job = 'auto_checkout'")).all()
            audited = conn.execute(text("SELECT entity_id, count(*) FROM audit_log WHERE action = 'jobs.run' "
                                        "AND entity_id LIKE 'auto_checkout#%' GROUP BY entity_id")).all()
        engine.dispose()
        assert {count for _, count in audited} == {1}, audited  # each period's run audited once
        assert sorted(e for e, _ in audited) == sorted(f"auto_checkout#{slot}" for slot, _ in runs)
