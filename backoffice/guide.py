"""The user guide ("Hướng dẫn sử dụng"), one chapter per role, reachable from the account menu."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from jinja2 import TemplateNotFound

from backoffice.domain import Role

bp = Blueprint("guide", __name__, url_prefix="/guide")


@bp.get("/")
@login_required
def show():
    return render_template(f"guide/{Role(current_user.role).value}.html")


@bp.get("/<role>")
@login_required
def for_role(role: str):
    # Every role's guide is readable by every user: they describe the system, not data.
    try:
        Role(role)
        return render_template(f"guide/{role}.html")
    except (ValueError, TemplateNotFound):
        abort(404)
