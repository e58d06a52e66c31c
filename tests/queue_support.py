"""The task queue's worker as production runs it (`flask jobs worker`), for tests that need the real queue: on
the suite's database, consuming the queue this test process enqueues to (the embedded SQLite storage in the
suite's instance folder)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]


def queue():
    """This process's queue, emptied; skipped when it is not the embedded one a worker here can share."""
    from backoffice.jobs.queue import huey
    if not hasattr(huey.storage, "filename"):
        pytest.skip("the suite's queue is not the embedded SQLite one (BACKOFFICE_QUEUE_URL is set)")
    huey.flush()
    return huey


def start_worker(app, log: Path, **extra_env: str) -> subprocess.Popen:
    from backoffice.imports import staging
    from backoffice.jobs.queue import huey
    with app.app_context():
        staging_dir = str(staging.directory())
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
           "BACKOFFICE_INSTANCE": str(Path(huey.storage.filename).parent), "IMPORT_STAGING_DIR": staging_dir}
    for name in ("BACKOFFICE_QUEUE_URL", "BACKOFFICE_QUEUE_NAME", "TEST_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    env.update(extra_env)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "backoffice", "jobs", "worker", "--workers", "1",
                             "--no-periodic"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGINT)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def until(predicate: Callable[[], bool], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
