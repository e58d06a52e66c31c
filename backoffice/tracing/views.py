"""Tracing pages: inspectors' and city admins' cases (admin view), organizations' alert panel and its
acknowledge button (blueprint). Thin: every decision is in `tracing.service`, whose errors (`TraceError`, of the
domain's kinds) are answered by `errors.answer` like any other."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_admin import expose
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import DateTimeLocalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from backoffice import exports
from backoffice.auth.permissions import PolicyView
from backoffice.auth.scope import scope
from backoffice.domain import COLOUR_LABELS, Colour
from backoffice.errors import OutOfScope
from backoffice.extensions import db
from backoffice.forms import IdNumber
from backoffice.models import Location, Person, mask_id
from backoffice.replica import reads_replica
from backoffice.timeutil import local_to_utc, now_utc, to_local
from backoffice.tracing import alerts, referrals, service
from backoffice.tracing.people import ContactPerson

bp = Blueprint("tracing", __name__, url_prefix="/tracing", template_folder="templates")


class NewCaseForm(FlaskForm):
    id_number = StringField(_l("ID number of the confirmed case"), validators=[DataRequired(), IdNumber()])
    confirmed_at = DateTimeLocalField(_l("Confirmed at"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    window_days = IntegerField(_l("Window (days before the confirmation)"), default=service.DEFAULT_WINDOW_DAYS,
                               validators=[DataRequired(), NumberRange(*service.WINDOW_RANGE)])
    margin_minutes = IntegerField(_l("Margin (minutes before and after each visit)"),
                                  default=service.DEFAULT_MARGIN_MINUTES,
                                  validators=[NumberRange(*service.MARGIN_RANGE)])
    reason = TextAreaField(_l("Reason, when the person has no positive test (a second officer must approve)"),
                           validators=[Optional(), Length(max=service.REASON_MAX)])


class TracingView(PolicyView):
    """Cases in the user's scope, a form to open one, each case's visits and contacts, exports."""

    action = "tracing.trace"
    denied_as = "tracing.access"

    def _index(self, form: NewCaseForm, status: int = 200):
        # The browser's date and time picker follows the page's language, not only the browser's.
        form.confirmed_at.render_kw = {**(form.confirmed_at.render_kw or {}), "lang": str(get_locale())}
        cases = service.list_cases(current_user)
        referred = referrals.list_referrals(current_user)
        return self.render("tracing/index.html", form=form, cases=cases, referrals=referred, to_local=to_local,
                           districts=referrals.district_names({r.district_code for r in referred})), status

    @expose("/")
    @reads_replica
    def index(self):
        # Most cases are marked as they are confirmed: the form starts at now, in the city's time, to the minute.
        now = to_local(now_utc()).replace(tzinfo=None, second=0, microsecond=0)
        return self._index(NewCaseForm(confirmed_at=now))

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
                                       window_days=form.window_days.data, margin_minutes=form.margin_minutes.data,
                                       reason=form.reason.data)
        except service.TraceInvalid as exc:  # the form's values: shown at their field; other errors are answers
            (form.reason if exc.code in ("basis", "reason") else form.confirmed_at).errors.append(str(exc.message))
            return self._index(form, exc.status)
        if result.case.pending:
            flash(_("The case waits for a second officer's approval: nothing is traced before that."), "warning")
            return redirect(url_for(".case", case_id=result.case.id))
        flash(_("Case opened: %(visits)d visits, %(people)d people to contact.", visits=len(result.visits),
                people=result.people), "success")
        return redirect(url_for(".case", case_id=result.case.id))

    @expose("/<case_id>")
    @reads_replica
    def case(self, case_id: str):
        result = service.read_case(current_user, case_id)
        names = referrals.district_names({c.district_code for c in result.contacts if c.hidden})
        return self.render("tracing/case.html", result=result, to_local=to_local, people=result.contact_people(),
                           colour_label=colour_label, masked_id=mask_id(result.case.person.id_number),
                           referred_to=lambda contact: _referred_to(contact, names),
                           may_approve=result.case.pending and result.case.created_by_id != current_user.id)

    @expose("/<case_id>/approve", methods=["POST"])
    def approve(self, case_id: str):
        result = service.approve_case(current_user._get_current_object(), case_id)
        flash(_("Case approved: %(visits)d visits, %(people)d people to contact.", visits=len(result.visits),
                people=result.people), "success")
        return redirect(url_for(".case", case_id=result.case.id))

    @expose("/referrals/<referral_id>/acknowledge", methods=["POST"])
    def acknowledge_referral(self, referral_id: str):
        referrals.acknowledge(current_user._get_current_object(), referral_id)
        flash(_("Referral acknowledged."), "success")
        return redirect(url_for(".index"))

    @expose("/<case_id>/rerun", methods=["POST"])
    def rerun(self, case_id: str):
        result = service.rerun(current_user, case_id)
        flash(_("Traced again: %(people)d people to contact.", people=result.people), "success")
        return redirect(url_for(".case", case_id=result.case.id))

    @expose("/<case_id>/export.<fmt>")
    @reads_replica
    def export(self, case_id: str, fmt: str):
        if fmt not in ("xlsx", "csv"):
            raise OutOfScope(code="tracing.export_format")
        result = service.read_case(current_user, case_id, action="trace.export")
        names = referrals.district_names({c.district_code for c in result.contacts if c.hidden})
        headers = [_("Full name"), _("ID number"), _("Phone"), _("Places"), _("First contact"), _("Last contact"),
                   _("Stays"), _("Staff"), _("Colour at the latest scan"), _("Referred to")]
        # One row per person (their overlapping stays aggregated). A masked contact's ID is already the masked
        # ID, its name initials, its phone absent.
        rows = [[p.full_name, p.id_number, p.phone or "", "; ".join(p.places),
                 to_local(p.first).replace(tzinfo=None),
                 _("still there") if p.ongoing else to_local(p.last).replace(tzinfo=None), p.stays,
                 _("yes") if p.is_staff else _("no"), colour_label(p.colour), _referred_to(p, names)]
                for p in result.contact_people()]
        name = f"truy-vet-{result.case.id}"
        if fmt == "xlsx":
            payload = exports.xlsx_bytes(_("Contacts"), headers, rows,
                                         widths=[28, 16, 14, 44, 18, 18, 8, 8, 14, 24])
            return exports.download(payload, f"{name}.xlsx", exports.XLSX_MIMETYPE)
        return exports.download(exports.csv_bytes(headers, rows), f"{name}.csv", "text/csv; charset=utf-8")


def colour_label(colour: str | None) -> str:
    """A colour in words in the reader's language ("Màu xanh" / "Màu đen"), never its code."""
    try:
        return str(COLOUR_LABELS[Colour(colour)])
    except ValueError:
        return ""


def _referred_to(contact: service.Contact | ContactPerson, names: dict) -> str:
    if not contact.hidden:
        return ""
    if contact.district_code is None:
        return _("the city (no ward on record)")
    return names.get(contact.district_code, str(contact.district_code))


# --- organizations: the alert panel on the dashboard ----------------------------------------------
def alerts_panel() -> str:
    open_alerts = alerts.open_alerts(current_user)
    if not open_alerts:
        return ""
    names = dict(db.session.execute(select(Location.id, Location.name)
                                    .where(Location.id.in_({a.location_id for a in open_alerts}))).all())
    return Markup(render_template("tracing/_alerts_panel.html", alerts=open_alerts, names=names, to_local=to_local))


@bp.route("/alerts/<alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_id: str):
    alerts.acknowledge_alert(current_user._get_current_object(), alert_id)
    flash(_("Alert acknowledged."), "success")
    return redirect(url_for("admin.index"))


__all__ = ["bp", "TracingView", "alerts_panel"]
