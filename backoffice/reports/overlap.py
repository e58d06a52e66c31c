"""Database work of a report overlapped with the writing of its workbook.

Writing a workbook is Python work on one core (openpyxl); the report's aggregate queries are the database's
work, during which the driver releases the GIL (SQLite runs in the calling thread without it, PostgreSQL in its
server process). Run in a thread of their own, they go on while the workbook is written instead of before it.

Each thread has an app context of its own, hence a database session and connection of its own, and is given
only plain values: a `ReportScope` whose user is a `ScopeSubject` (`plain_scope`), never an ORM object of the
request's session. A thread reads where its caller's reading work reads (`backoffice.replica`). Errors reach the caller when it asks for the result; a consumer that stops early stops the
producer.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, TypeVar

from flask import current_app

from backoffice import replica
from backoffice.auth.scope import subject
from backoffice.extensions import db
from backoffice.reports.scope import ReportScope

T = TypeVar("T")
_DONE = object()


def plain_scope(rs: ReportScope) -> ReportScope:
    """The same scope with its user read into plain values, for another thread."""
    return dataclasses.replace(rs, user=subject(rs.user))


def _in_app(app, route: replica.Route | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with app.app_context(), replica.using(route):
        try:
            return fn(*args, **kwargs)
        finally:
            db.session.remove()


def start(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future:
    """`fn(*args, **kwargs)` in a thread with an app context; its result (or error) from `.result()`."""
    app, route = current_app._get_current_object(), replica.current()
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(_in_app(app, route, fn, *args, **kwargs))
        except BaseException as exc:  # noqa: BLE001  (handed to the caller)
            future.set_exception(exc)

    threading.Thread(target=run, name=f"report-{getattr(fn, '__name__', 'work')}", daemon=True).start()
    return future


class Prefetch(Iterator[T]):
    """The items of `rows()`, read by a thread with an app context from the moment this is made, up to `depth`
    batches ahead of the consumer (memory stays bounded: at most depth × batch items wait). Close it (it is a
    context manager) when done, also when stopping early: the thread then stops too."""

    def __init__(self, rows: Callable[[], Iterable[T]], batch: int = 2000, depth: int = 3):
        self._app, self._route = current_app._get_current_object(), replica.current()
        self._rows, self._batch = rows, batch
        self._ready: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._chunk: Iterator[T] = iter(())
        self._done = False
        self._thread = threading.Thread(target=self._produce, name="report-rows", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            with self._app.app_context(), replica.using(self._route):
                try:
                    chunk: list = []
                    for item in self._rows():
                        chunk.append(item)
                        if len(chunk) >= self._batch:
                            if not self._put(chunk):
                                return
                            chunk = []
                    if chunk and not self._put(chunk):
                        return
                finally:
                    db.session.remove()
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001  (raised in the consumer)
            self._put(exc)

    def __next__(self) -> T:
        while True:
            for item in self._chunk:
                return item
            if self._done:
                raise StopIteration
            chunk = self._ready.get()
            if chunk is _DONE:
                self._done = True
                raise StopIteration
            if isinstance(chunk, BaseException):
                self._done = True
                raise chunk
            self._chunk = iter(chunk)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
