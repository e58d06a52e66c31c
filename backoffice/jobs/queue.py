"""The task queue: one Huey instance per process, made from the environment (workers and web processes read the
same variables, so they meet on the same storage).

BACKOFFICE_QUEUE_URL: `redis://host:port/db` in production (every host's workers share it); unset, SQLite storage
in the instance folder (the embedded default: one host, `make run` starts its worker). BACKOFFICE_QUEUE_NAME
separates the queues of deployments that share a Redis.
"""
from __future__ import annotations

import os
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

from backoffice.config import PROJECT_ROOT


def queue_url(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> str:
    """The Redis the queue is kept in, or "" for the embedded SQLite storage."""
    url = environ.get("BACKOFFICE_QUEUE_URL", "")
    return url if url.startswith(("redis://", "rediss://", "unix://")) else ""


def make_huey(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> Huey:
    name = environ.get("BACKOFFICE_QUEUE_NAME", "backoffice")
    url = queue_url(environ)
    if url:
        return RedisHuey(name, url=url, utc=True)
    instance = Path(environ.get("BACKOFFICE_INSTANCE", str(PROJECT_ROOT / "instance")))
    instance.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(instance / "queue.sqlite3"), utc=True)


huey = make_huey()
