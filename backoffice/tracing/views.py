"""Tracing pages: inspectors' and city admins' cases (admin view), organizations' alert panel and its
acknowledge button (blueprint). Thin: every decision is in `tracing.service`."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import DateTimeLocalField, IntegerField, StringField
from wtforms.validators import DataRequired, NumberRange

from backoffice import exports
from backoffice.auth.permissions import deny, has_role
from backoffice.auth.scope import scope
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.forms import IdNumber
from backoffice.models import Location, Person
from backoffice.timeutil import local_to_utc, to_local
from backoffice.tracing import service

bp = Blueprint("tracing", __name__, url_prefix="/tracing", template_folder="templates")


class NewCaseForm(FlaskForm):
    id_number = StringField(_l("ID number of the confirmed case"), validators=[DataRequired(), IdNumber()])
    confirmed_at = DateTimeLocalField(_l("Confirmed at"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    window_days = IntegerField(_l("Window (days before the confirmation)"), default=service.DEFAULT_WINDOW_DAYS,
                               validators=[DataRequired(), NumberRange(*service.WINDOW_RANGE)])
    margin_minutes = IntegerField(_l("Margin (minutes before and after each visit)"),
                                  default=service.DEFAULT_MARGIN_MINUTES,
                                  validators=[NumberRange(*service.MARGIN_RANGE)])


def _fail(exc: service.TraceError):
    if exc.status == 403:
        deny(f"tracing.{exc.code}")
    abort(exc.status, description=str(exc.message))


class TracingView(BaseView):
    """Cases in the user's scope, a form to open one, each case's visits and contacts, exports."""

    def is_accessible(self) -> bool:
        return has_role(Role.CITY_ADMIN, Role.INSPECTOR)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        deny("tracing.access")

    def _index(self, form: NewCaseForm, status: int = 200):
        cases = service.list_cases(current_user)
        return self.render("tracing/index.html", form=form, cases=cases, to_local=to_local), status

    @expose("/")
    def index(self):
        return self._index(NewCaseForm())

    @expose("/new", methods=["POST"])
    def new(self):
        form = NewCaseForm()
        if not form.validate_on_submit():
            return self._index(form, 400)
        person = db.session.scalar(scope(select(Person).where(Person.id_number == form.id_number.data),
                                         current_user))
        if person is None:
            form.id_number.errors.append(_("No resident with this ID number in your area."))
            return self._index(form, 404)
        try:
            result = service.open_case(current_user._get_current_object(), person.id,
                                       confirmed_at=local_to_utc(form.confirmed_at.data),
                                       window_days=form.window_days.data, margin_minutes=form.margin_minutes.data)
        except service.TraceError as exc:
            if exc.status == 403:
                _fail(exc)
            form.confirmed_at.errors.append(str(exc.message))
            return self._index(form, exc.status)
        flash(_("Case opened: %(visits)d visits, %(people)d people to contact.", visits=len(result.visits),
                people=result.people), "success")
        return redirect(url_for(".case", case_id=result.case.id))

    @expose("/<case_id>")
    def case(self, case_id: str):
        try:
            result = service.read_case(current_user, case_id)
        except service.TraceError as exc:
            return _fail(exc)
        return self.render("tracing/case.html", result=result, to_local=to_local)

    @expose("/<case_id>/rerun", methods=["POST"])
    def rerun(self, case_id: str):
        try:
            result = service.rerun(current_user, case_id)
        except service.TraceError as exc:
            return _fail(exc)
        flash(_("Traced again: %(people)d people to contact.", people=result.people), "success")
        return redirect(url_for(".case", case_id=result.case.id))

    @expose("/<case_id>/export.<fmt>")
    def export(self, case_id: str, fmt: str):
        if fmt not in ("xlsx", "csv"):
            abort(404)
        try:
            result = service.read_case(current_user, case_id, action="trace.export")
        except service.TraceError as exc:
            return _fail(exc)
        headers = [_("Full name"), _("ID number"), _("Phone"), _("Organization"), _("Location"), _("From"),
                   _("To"), _("Staff"), _("Colour at scan")]
        rows = [[c.full_name, c.id_number, c.phone or "", c.organization_name, c.location_name,
                 to_local(c.start).replace(tzinfo=None), to_local(c.end).replace(tzinfo=None),
                 _("yes") if c.is_staff else _("no"), c.colour] for c in result.contacts]
        name = f"truy-vet-{result.case.id}"
        if fmt == "xlsx":
            payload = exports.xlsx_bytes(_("Contacts"), headers, rows, widths=[28, 16, 14, 30, 24, 18, 18, 8, 10])
            return exports.download(payload, f"{name}.xlsx", exports.XLSX_MIMETYPE)
        return exports.download(exports.csv_bytes(headers, rows), f"{name}.csv", "text/csv; charset=utf-8")


# --- organizations: the alert panel on the dashboard ----------------------------------------------
def alerts_panel() -> str:
    alerts = service.open_alerts(current_user)
    if not alerts:
        return ""
    names = dict(db.session.execute(select(Location.id, Location.name)
                                    .where(Location.id.in_({a.location_id for a in alerts}))).all())
    return Markup(render_template("tracing/_alerts_panel.html", alerts=alerts, names=names, to_local=to_local))


@bp.route("/alerts/<alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_id: str):
    try:
        service.acknowledge_alert(current_user._get_current_object(), alert_id)
    except service.TraceError as exc:
        return _fail(exc)
    flash(_("Alert acknowledged."), "success")
    return redirect(url_for("admin.index"))


__all__ = ["bp", "TracingView", "alerts_panel"]
