"""Running a long preview or apply outside the request, so a 100,000-row file never times a request out.

A daemon thread of the web process does the work with its own app context and database session; progress
goes to the staging folder, which every process of the host (and every host, when the folder is shared)
can read. If the process dies, the import's transaction dies with it (nothing is half-written) and the
record is shown as failed once its progress goes stale (service.effective_state)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from flask import Flask
from flask_babel import force_locale

from backoffice.extensions import db
from backoffice.models import ImportRecord, User

log = logging.getLogger(__name__)


def start(app: Flask, work: Callable[[ImportRecord, User], object], record_id: int, user_id: int,
          locale: str) -> threading.Thread:
    def run() -> None:
        with app.app_context(), force_locale(locale):
            try:
                user = db.session.get(User, user_id)
                record = db.session.get(ImportRecord, record_id)
                if user is not None and record is not None:
                    work(record, user)
            except Exception:  # the operations record failures themselves; this is the last resort
                log.exception("import job %s failed", record_id)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=f"import-{record_id}", daemon=True)
    thread.start()
    return thread
