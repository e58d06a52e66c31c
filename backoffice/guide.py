"""The user guide ("Hướng dẫn sử dụng"), one chapter per role, reachable from the account menu.

Each chapter is `templates/guide/<role>.html`, which includes its text in the user's language
(`guide/vi/<role>.html` or `guide/en/<role>.html`); `guide/_base.html` links every chapter to the others."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from backoffice.domain import Role
from backoffice.errors import OutOfScope

bp = Blueprint("guide", __name__, url_prefix="/guide")


def _render(role: Role) -> str:
    return render_template(f"guide/{role.value}.html", guide_role=role.value, guide_roles=[r.value for r in Role])


@bp.get("/")
@login_required
def show():
    return _render(Role(current_user.role))


@bp.get("/<role>")
@login_required
def for_role(role: str):
    # Every role's guide is readable by every user: they describe the system, not data.
    try:
        chapter = Role(role)
    except ValueError:
        raise OutOfScope(code="guide.role") from None
    return _render(chapter)
