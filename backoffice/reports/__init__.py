"""Reports and dashboards: district and city workbooks with native Excel charts, chart images for
pages, a dashboard panel per role, the admin reports page and the `report` CLI group.

Layers: `scope` (what a report covers, checked against backoffice.auth.scope), `queries`/`local`/`health`
(figures, as database aggregates), `workbook`/`charts` (output), `service` (the audited operations), `files`
(workbooks the queue's worker prepares for the user who asked), `views`/`dashboards`/`cli` (interfaces).
"""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l


def init_app(app: Flask) -> None:
    from backoffice.admin import admin_for
    from backoffice.reports import cli, dashboards, views

    app.config.setdefault("REPORTS_CHART_TTL", 300)
    app.register_blueprint(views.bp)
    admin_for(app).add_view(views.ReportsView(name=_l("Reports"), endpoint="reports_admin", url="/admin/reports"))
    dashboards.register()
    cli.init_app(app)
