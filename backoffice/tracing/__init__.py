"""Contact tracing: confirmed cases, the people whose stays overlapped theirs, and alerts
to the organizations visited. Operations in `service`, pages in `views`, the positive-test trigger in `hooks`.
"""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

_panel_registered = False


def init_app(app: Flask) -> None:
    global _panel_registered
    from backoffice.admin import admin_for
    from backoffice.admin.home import register_panel
    from backoffice.tracing import hooks, views

    app.config.setdefault("BACKOFFICE_TRACE_MAX_STAY_HOURS", 24)
    hooks.install()
    app.register_blueprint(views.bp)
    admin_for(app).add_view(views.TracingView(name=_l("Contact tracing"), endpoint="tracing_admin",
                                              url="/admin/tracing", category=_l("Residents")))
    if not _panel_registered:  # panels are process-wide; tests build more than one app
        register_panel("tracing.alerts", views.alerts_panel)
        _panel_registered = True
