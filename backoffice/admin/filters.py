"""List filters whose options are computed per request under the user's scope."""
from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual, FilterInList
from flask import has_request_context
from flask_login import current_user
from sqlalchemy import select

from backoffice.auth.scope import scope
from backoffice.extensions import db
from backoffice.models import District, Ward


def district_options():
    if not has_request_context():
        return []  # Flask-Admin builds its filter cache at start-up; options are computed per request
    stmt = scope(select(District.code, District.name), current_user, District).order_by(District.code)
    return [(str(code), name) for code, name in db.session.execute(stmt)]


def ward_options():
    if not has_request_context():
        return []
    stmt = scope(select(Ward.code, Ward.name, District.name).join(District), current_user, Ward).order_by(Ward.code)
    return [(str(code), f"{name} — {district}") for code, name, district in db.session.execute(stmt)]


def labelled_options(labels: dict):
    return lambda: [(str(key), str(label)) for key, label in labels.items()]


class IntEqual(FilterEqual):
    def clean(self, value):
        return int(value)


def district_filter(column, name):
    return IntEqual(column, name, options=district_options)


def ward_filter(column, name):
    return IntEqual(column, name, options=ward_options)


def choice_filter(column, name, labels: dict):
    return FilterEqual(column, name, options=labelled_options(labels))


__all__ = ["district_filter", "ward_filter", "choice_filter", "FilterInList"]
