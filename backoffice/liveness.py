"""`GET /healthz`: 200 with JSON when the database answers, 503 otherwise (for load balancers)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backoffice.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="unavailable", database="down", error=type(exc).__name__), 503
    return jsonify(status="ok", database="up")
