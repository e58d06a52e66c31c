"""Imported once by the import jobs' forkserver (jobs.py): builds a throwaway app so that every lazy import and
first-use cache of `create_app` is paid once, in the server, not by each import's child (measured: the first
create_app of a process costs ~5 times the next ones). The server is single-threaded and this app opens no
database connection (in-memory SQLite, never queried), so forking from it copies nothing in use."""
from __future__ import annotations

import logging

try:
    from backoffice import create_app

    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "forkserver-warm-up", "TESTING": True})
except Exception:  # a warm-up only: the child builds its own app and reports any real error
    logging.getLogger(__name__).exception("import forkserver warm-up failed")
