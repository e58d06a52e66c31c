"""Bulk import from Excel and CSV: organizations (city, district inspectors), staff (organization admins),
residents with vaccinations (ward officers). Upload → safe open → header matching → row checks → preview →
confirm → one transaction → import record with counts and an error report.

Layers: `columns`/`kinds` (declarative specs), `reader` (safe opening), `engine` (preview and apply),
`service` (the operations), `views`/`cli` (interfaces)."""
from __future__ import annotations

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

bp = Blueprint("imports", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    from backoffice.admin import CAT_ORGS, CAT_PEOPLE, admin_for
    from backoffice.imports import cli
    from backoffice.imports.views import OrganizationImportView, ResidentImportView, StaffImportView

    app.register_blueprint(bp)
    admin = admin_for(app)
    admin.add_view(OrganizationImportView(name=_l("Import organizations"), category=CAT_ORGS,
                                          endpoint="import_organizations", url="/admin/imports/organizations"))
    admin.add_view(StaffImportView(name=_l("Import staff"), category=CAT_ORGS, endpoint="import_staff",
                                   url="/admin/imports/staff"))
    admin.add_view(ResidentImportView(name=_l("Import residents"), category=CAT_PEOPLE,
                                      endpoint="import_residents", url="/admin/imports/residents"))
    cli.init_app(app)


STATE_LABELS = {"reading": _l("Reading"), "previewed": _l("Waiting for confirmation"), "applying": _l("Importing"),
                "applied": _l("Imported"), "rejected": _l("Refused"), "failed": _l("Failed"),
                "cancelled": _l("Cancelled")}
STATUS_LABELS = {"new": _l("New"), "update": _l("Update"), "unchanged": _l("Unchanged"), "error": _l("Error")}


@bp.app_template_filter("import_time")
def _import_time(value) -> str:
    from backoffice.timeutil import to_local
    return to_local(value).strftime("%d/%m/%Y %H:%M") if value else ""


@bp.app_context_processor
def _labels() -> dict:
    return {"state_label": lambda s: str(STATE_LABELS.get(s, s)),
            "status_label": lambda s: str(STATUS_LABELS.get(s, s))}
