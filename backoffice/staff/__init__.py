"""Staff of organizations and their proved links to the resident registry.

An organization types its workers' ID numbers; that links nothing. A staff row is linked to a resident only with
proof the person gives: their own signed personal QR scanned at one of the organization's checkpoints, or their
ward officer's confirmation. Once linked the organization sees the worker's health summary, never the registry
record. The verbs are in `service`; the ward officers' queue and the organizations' health page in `views`."""
from __future__ import annotations

from flask import Blueprint, Flask


def init_app(app: Flask) -> None:
    """Templates of this package (the views are added to the Admin by `backoffice.admin.init_admin`)."""
    app.register_blueprint(Blueprint("staff_pkg", __name__, template_folder="templates"))
