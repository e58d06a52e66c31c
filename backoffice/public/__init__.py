"""The public home page at `/`: what the portal is and where each visitor goes next, in
Vietnamese first, without logging in. It links only to pages that exist and are public (registration, login, the
public keys and the API's description for verifiers); the residents' own pages do not exist yet, so none is
promised. No script, no inline style: the page keeps to the app's Content-Security-Policy as it is."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask_login import current_user

bp = Blueprint("public", __name__, template_folder="templates")


@bp.get("/")
def home() -> str:
    return render_template("public/home.html", signed_in=bool(getattr(current_user, "is_authenticated", False)))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


__all__ = ["bp", "init_app"]
