"""Printing: location posters and residents' personal QR cards, as PDF, PNG and SVG.

`layout` describes a page once and draws it twice (vector PDF, PNG), `render` makes QR images, cards and posters,
`locations` issues and revokes the self check-in token a poster carries, `cards` and `card_search` find or register
the resident a ward officer prints for, `views` are the back office's pages.
"""
from __future__ import annotations

from flask import Blueprint, Flask


def init_app(app: Flask) -> None:
    from backoffice.printing import views

    app.register_blueprint(Blueprint("printing", __name__, template_folder="templates"))
    views.init_app(app)
