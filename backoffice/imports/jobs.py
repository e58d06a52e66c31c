"""Running an import's preview or apply in a child process with a memory limit, never in the web process.

Why a child: a hostile (or merely huge) workbook costs memory while it is read — openpyxl holds the shared
strings whole, at 4-6 times their size — and memory freed by CPython and libc mostly stays with the process.
In a child with an address-space limit (RLIMIT_AS, IMPORT_WORKER_MEMORY_MB above what the application itself
takes), the worst a file can do is fail its own import: the child raises MemoryError or dies, the import is
marked failed with a message saying why, and its transaction (never committed) leaves nothing in the database.

The child is forked from a `forkserver` (started once per web process, with the application's modules loaded),
not from the web process itself: forking a process with threads and open database connections copies locks
and sockets in whatever state they are. It builds its own app from the parent's configuration and reports as
the threads did: state in the ImportRecord, progress in the staging folder. A watcher thread in the parent
waits for it and marks the import failed if the child ended without doing so (killed, out of memory).

Where the child is forked from: with BACKOFFICE_JOBS_IN_QUEUE (production, `make run`), `launch` queues the
job and the queue's worker (`backoffice.jobs`) starts the child, so a web worker recycled or killed mid-import
takes nothing with it; without it (the tests' default), the web process starts the child itself. `run_job` is the
unit of work either way, callable in any app context.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import resource
import signal
import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask_babel import force_locale
from flask_babel import gettext as _

from backoffice.extensions import db
from backoffice.models import ImportRecord, User

log = logging.getLogger(__name__)

ACTIONS = ("preview", "apply")
MEMORY_MB = 768  # the job's own allowance, above the app's footprint: a 64 MB shared-strings part needs ~400
OUT_OF_MEMORY = 3  # the child's exit code when it ran out of its allowance
# python_calamine is imported lazily by the reader: loaded in the server, its library is mapped before the child's
# address-space limit is set, so the allowance is the job's data alone.
_PRELOAD = ["backoffice.imports.jobs", "backoffice.imports.forkserver_warmup", "python_calamine"]
_context_lock = threading.Lock()
_contexts: dict[int, Any] = {}


def run_job(action: str, record_id: int, user_id: int | None) -> None:
    """Run an import's preview or apply in the current app context (child process or queue worker)."""
    from backoffice.imports import service
    work = {"preview": service.run_preview, "apply": service.run_apply}[action]
    user = db.session.get(User, user_id) if user_id is not None else None
    record = db.session.get(ImportRecord, record_id)
    if user is not None and record is not None:
        work(record, user)


@dataclass
class Job:
    process: Any
    watcher: threading.Thread

    def wait(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds for the job (and its bookkeeping) to end; True if it did."""
        self.watcher.join(timeout)
        return not self.watcher.is_alive()


@dataclass
class Queued:
    """A job handed to the task queue; `wait` blocks on its result, as `Job.wait` on the child."""
    result: Any

    def wait(self, timeout: float | None) -> bool:
        from huey.exceptions import HueyException
        try:
            self.result.get(blocking=True, timeout=timeout)
        except HueyException:  # still running (ResultTimeout) or failed in the worker (TaskException)
            return False
        return True


def launch(app: Flask, action: str, record_id: int, user_id: int, locale: str) -> Job | Queued:
    """Start `action` of an import: in the queue's worker when BACKOFFICE_JOBS_IN_QUEUE, else in a child of this
    process."""
    if action not in ACTIONS:
        raise ValueError(action)
    if app.config.get("BACKOFFICE_JOBS_IN_QUEUE"):
        from backoffice.jobs.tasks import import_job
        return Queued(import_job(action, record_id, user_id, locale))
    return start(app, action, record_id, user_id, locale)


def start(app: Flask, action: str, record_id: int, user_id: int, locale: str) -> Job:
    """Start `action` ("preview" or "apply") of an import in a memory-limited child process."""
    if action not in ACTIONS:
        raise ValueError(action)
    config = _portable_config(app)
    allowance = int(app.config.get("IMPORT_WORKER_MEMORY_MB", MEMORY_MB)) * 2**20
    process = _context().Process(target=_child, name=f"import-{record_id}", daemon=True,
                                 args=(config, app.instance_path, action, record_id, user_id, locale, allowance))
    process.start()
    watcher = threading.Thread(target=_watch, args=(app, process, record_id, locale), name=f"import-{record_id}",
                               daemon=True)
    watcher.start()
    return Job(process, watcher)


def _context():
    """A forkserver context per process (a forked web worker starts its own), with the app's modules loaded."""
    with _context_lock:
        context = _contexts.get(os.getpid())
        if context is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            context = multiprocessing.get_context(method)
            if method == "forkserver":
                context.set_forkserver_preload(_PRELOAD)
                _start_forkserver()
            _contexts[os.getpid()] = context
        return context


def _start_forkserver() -> None:
    """Start the forkserver with one malloc arena. glibc gives threads arenas of their own (OpenBLAS, loaded by
    the charts' numpy, starts some), each a 64 MB reservation already inside the address space, and when the main
    arena cannot grow under RLIMIT_AS malloc takes memory from those: measured, a child limited to 1 MB above
    its size read 150,000 rows. With one arena every allocation grows the address space the limit counts.
    glibc reads MALLOC_ARENA_MAX when a process starts, so it is in the server's environment, not set later."""
    from multiprocessing import forkserver
    saved = os.environ.get("MALLOC_ARENA_MAX")
    os.environ["MALLOC_ARENA_MAX"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if saved is None:
            os.environ.pop("MALLOC_ARENA_MAX", None)
        else:
            os.environ["MALLOC_ARENA_MAX"] = saved


def _portable_config(app: Flask) -> dict:
    """The parent's settings that survive pickling (the child's create_app rebuilds the rest), with the staging
    folder made explicit: the child must read and write the same files."""
    from backoffice.imports import staging
    with app.app_context():
        folder = str(staging.directory())
    config = {}
    for key, value in app.config.items():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        config[key] = value
    config["IMPORT_STAGING_DIR"] = folder
    return config


def _address_space() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(config: dict, instance_path: str, action: str, record_id: int, user_id: int, locale: str,
           allowance: int) -> None:
    os.environ["BACKOFFICE_INSTANCE"] = instance_path
    from backoffice import create_app
    app = create_app(config)
    if allowance > 0:
        # Above what the application itself maps (libraries, the interpreter, thread stacks): the job's own.
        limit = _address_space() + allowance
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        with app.app_context(), force_locale(locale):
            try:
                run_job(action, record_id, user_id)
            finally:
                db.session.remove()
                db.engine.dispose()
    except MemoryError:
        os._exit(OUT_OF_MEMORY)  # nothing else is safe now; the parent's watcher records the failure


def _watch(app: Flask, process: Any, record_id: int, locale: str) -> None:
    process.join()
    if process.exitcode == 0:
        return
    log.error("import %s: child process ended with code %s", record_id, process.exitcode)
    with app.app_context(), force_locale(locale):
        try:
            from backoffice.imports import service
            if process.exitcode in (OUT_OF_MEMORY, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT):
                message = service.out_of_memory_message()
            else:
                message = _("Nothing was imported: an unexpected error occurred and has been logged.")
            service.fail_unfinished(record_id, message)
        except Exception:
            log.exception("import %s: could not record the failure", record_id)
        finally:
            db.session.remove()
