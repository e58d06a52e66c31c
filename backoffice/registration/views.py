"""Public registration page, and the admin's list of pending registrations with approve/reject."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from backoffice.admin.orgs import OrganizationView
from backoffice.domain import SECTOR_LABELS, OrgStatus, Role, choices
from backoffice.extensions import db, limiter
from backoffice.forms import Phone, TaxCode, UniqueTaxCode
from backoffice.models import District, Organization, Ward
from backoffice.registration import service

bp = Blueprint("registration", __name__)


def _ward_choices():
    rows = db.session.execute(select(Ward.code, Ward.name, District.name).join(District)
                              .order_by(District.code, Ward.code))
    return [("", _("— choose —"))] + [(str(code), f"{district} — {name}") for code, name, district in rows]


class RegistrationForm(FlaskForm):
    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=255)])
    tax_code = StringField(_l("Tax code"), validators=[DataRequired(), TaxCode(), UniqueTaxCode()],
                           description=_l("10 digits, with -001…-999 for a branch, e.g. 0100047516-001"))
    sector = SelectField(_l("Sector"), choices=choices(SECTOR_LABELS))
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=255)])
    ward = SelectField(_l("Ward / district"), validators=[DataRequired()])
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
    form.ward.choices = _ward_choices()
    if form.validate_on_submit():
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


class RegistrationView(OrganizationView):
    """Pending registrations: approve or reject (city admin, or an inspector of the district)."""

    access = {Role.CITY_ADMIN: {"list", "details"}, Role.INSPECTOR: {"list", "details"}}
    column_list = ["name", "tax_code", "sector", "district", "ward", "contact_name", "phone", "email", "created_at"]

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

