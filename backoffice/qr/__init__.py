"""QR end to end (issue 3): key ring, signed personal payloads, health-status rules, scanning, check-ins.

Printing, self check-in and tracing live beside it (render.py, checkin_page.py, backoffice.tracing).
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backoffice.qr import cli, health  # noqa: F401  (health registers its rule suite on import)

    app.config.setdefault("BACKOFFICE_KEY_CACHE_SECONDS", 30)
    app.config.setdefault("BACKOFFICE_QR_STATUS_HOURS", 24)
    cli.init_app(app)
    for name in ("backoffice.qr.views", "backoffice.qr.admin", "backoffice.qr.checkin_page"):
        _init_optional(app, name)


def _init_optional(app: Flask, name: str) -> None:
    """Parts of the package written in parallel (scanning views, B's self check-in page) plug in when present."""
    import importlib
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return
        raise
    init = getattr(module, "init_app", None)
    if init:
        init(app)
