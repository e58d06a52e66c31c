"""QR end to end (issue 3): key ring, signed personal payloads, health-status rules, scanning, check-ins.

Printing, self check-in and tracing live beside it (render.py, checkin_page.py, backoffice.tracing).
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # health registers its rule suite ("rules check|test") when imported.
    from backoffice.qr import admin, checkin_page, cli, health, keys_views, vaccines, views  # noqa: F401

    app.config.setdefault("BACKOFFICE_KEY_CACHE_SECONDS", 30)
    app.config.setdefault("BACKOFFICE_QR_STATUS_HOURS", 24)
    cli.init_app(app)
    vaccines.init_app(app)  # flask people unknown-vaccines
    for part in (views, admin, checkin_page, keys_views):
        part.init_app(app)
