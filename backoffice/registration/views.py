"""Public registration page, and the admin's list of pending registrations with approve/reject."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from backoffice.admin.home import register_panel
from backoffice.admin.orgs import OrganizationView
from backoffice.auth.policy import model_access
from backoffice.collation import natural_key
from backoffice.domain import SECTOR_LABELS, OrgStatus, choices
from backoffice.errors import BadRequest
from backoffice.extensions import db, limiter
from backoffice.forms import Phone, TaxCode, UniqueTaxCode
from backoffice.models import District, Organization, Ward
from backoffice.registration import service
from backoffice.timeutil import format_local

bp = Blueprint("registration", __name__)


def _district_choices():
    rows = sorted(db.session.execute(select(District.code, District.name)), key=lambda r: natural_key(r.name))
    return [("", _("— choose —"))] + [(str(code), name) for code, name in rows]


def _ward_choices():
    """Every ward of the city, grouped by district, each in natural order (Phường 1, 2, … 10, then named wards in
    Vietnamese alphabetical order); each option names its district for the form's script, which lists only the
    wards of the chosen district (without the script, the district groups them). Public data: the city's administrative units."""
    rows = db.session.execute(select(Ward.code, Ward.name, District.code.label("district"), District.name.label("dn"))
                              .join(District))
    rows = sorted(rows, key=lambda r: (natural_key(r.dn), natural_key(r.name)))
    return [SelectChoice("", _("— choose —"))] + [
        SelectChoice(str(r.code), r.name, render_kw={"data-district": str(r.district)}, optgroup=r.dn) for r in rows]


class RegistrationForm(FlaskForm):
    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=255)])
    tax_code = StringField(_l("Tax code"), validators=[DataRequired(), TaxCode(), UniqueTaxCode()],
                           description=_l("10 digits, with -001…-999 for a branch, e.g. 0100047516-001"))
    sector = SelectField(_l("Sector"), choices=choices(SECTOR_LABELS))
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=255)])
    # Chooses which wards the list shows; the ward decides the district (a request naming only a ward is whole).
    district = SelectField(_l("District"), validators=[Optional()])
    ward = SelectField(_l("Ward"), validators=[DataRequired()], render_kw={"data-ward-for": "district"})
    contact_name = StringField(_l("Contact person"), validators=[DataRequired(), Length(max=128)])
    phone = StringField(_l("Phone"), validators=[Phone(required=True)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    username = StringField(_l("Username for the administrator account"), validators=[DataRequired(), Length(3, 64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=256)])
    confirm = PasswordField(_l("Repeat the password"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def register():
    form = RegistrationForm()
    form.district.choices = _district_choices()
    form.ward.choices = _ward_choices()
    if form.validate_on_submit() and _ward_in_district(form):
        data = service.Registration(
            name=form.name.data, tax_code=form.tax_code.data, sector=form.sector.data, address=form.address.data,
            ward_code=int(form.ward.data), contact_name=form.contact_name.data, phone=form.phone.data,
            email=form.email.data, username=form.username.data, password=form.password.data)
        try:
            service.register_organization(data)
        except service.RegistrationError as exc:
            getattr(form, exc.field or "name").errors.append(str(exc))
        else:
            flash(_("Your registration has been received. You can log in once the district approves it."), "success")
            return redirect(url_for("auth.login"))
    return render_template("registration/register.html", form=form)


def _ward_in_district(form: RegistrationForm) -> bool:
    ward = db.session.get(Ward, int(form.ward.data))
    if ward is None or (form.district.data and str(ward.district_code) != form.district.data):
        form.ward.errors = list(form.ward.errors) + [_("This ward is not in the chosen district.")]
        return False
    return True


def pending_panel() -> str:
    """Home panel of the city admin and the district inspector: the registrations they may decide (scoped)."""
    total, rows = service.pending_registrations(current_user._get_current_object())
    if not total:
        return ""
    return render_template("registration/_pending_panel.html", total=total, rows=rows, local_time=format_local)


# Panels are process-wide (admin.home keeps one list); this module is imported once per process.
register_panel("registration.decide", pending_panel)


class RegistrationView(OrganizationView):
    """Pending registrations: approve or reject (city admin, or an inspector of the district)."""

    access = model_access("registration_admin")
    column_list = ["name", "tax_code", "sector", "district", "ward", "contact_name", "phone", "email", "created_at"]
    details_template = "registration/details.html"

    def get_query(self):
        return super().get_query().filter(Organization.status == OrgStatus.PENDING.value)

    def get_count_query(self):
        return super().get_count_query().filter(Organization.status == OrgStatus.PENDING.value)

    def _decide(self, ids, approve: bool):
        orgs = self.get_query().filter(Organization.id.in_([int(i) for i in ids if str(i).isdigit()])).all()
        for org in orgs:
            service.decide(org, approve, current_user._get_current_object())
        message = _("%(n)d registrations approved.", n=len(orgs)) if approve else \
            _("%(n)d registrations rejected.", n=len(orgs))
        flash(message, "success")

    @action("approve", _l("Approve"), _l("Approve the selected registrations?"))
    def action_approve(self, ids):
        self._decide(ids, True)

    @action("reject", _l("Reject"), _l("Reject the selected registrations?"))
    def action_reject(self, ids):
        self._decide(ids, False)

    @expose("/decide/", methods=("POST",))
    def decide_view(self):
        """The approve and reject buttons of the detail page (POST, CSRF checked by CSRFProtect)."""
        self.require("details")
        decision = request.form.get("decision")
        if decision not in ("approve", "reject"):
            raise BadRequest(code="registrations.decision")
        org = self.get_one(request.form.get("id", ""))  # 404 outside the scope or once decided
        note = (request.form.get("note") or "").strip()
        try:
            service.decide(org, decision == "approve", current_user._get_current_object(), note)
        except service.RegistrationError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".details_view", id=org.id))
        flash(_("The registration of %(name)s has been approved.", name=org.name) if decision == "approve" else
              _("The registration of %(name)s has been rejected.", name=org.name), "success")
        return redirect(url_for(".index_view"))
