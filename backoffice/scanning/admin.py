"""Admin views: check-ins (organization admins: their own; inspectors: their districts'; city admins: all) and
checkpoint device tokens (organization admins create — secret shown once — and revoke)."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Flask, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BooleanEqualFilter, DateTimeBetweenFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from backoffice.admin import CAT_ORGS
from backoffice.admin.base import ScopedModelView, SecureForm
from backoffice.admin.filters import IntEqual, choice_filter, district_options
from backoffice.admin.orgs import _label
from backoffice.auth.permissions import allows
from backoffice.auth.policy import model_access
from backoffice.auth.scope import scope
from backoffice.domain import COLOUR_LABELS, ScanMethod
from backoffice.errors import OutOfRole
from backoffice.extensions import db
from backoffice.models import CheckIn, Checkpoint, DeviceToken, Location, Organization
from backoffice.models.people import mask_id
from backoffice.health import reasons as stored_reasons
from backoffice.timeutil import to_local

METHOD_LABELS = {ScanMethod.SCANNER: _l("Scanner"), ScanMethod.IMAGE: _l("Photo"), ScanMethod.CAMERA: _l("Camera"),
                 ScanMethod.DEVICE: _l("Device"), ScanMethod.SELF: _l("Self check-in"),
                 ScanMethod.MANUAL: _l("Typed")}
CHECKOUT_LABELS = {"exit": _l("Exit checkpoint"), "manual": _l("By hand"), "auto": _l("Automatic")}


def _local(view, context, model, name):
    value = getattr(model, name)
    return to_local(value).strftime("%d/%m/%Y %H:%M") if value else ""


def _health_reason(view, context, model, name):
    """The stored reason in the reader's language, to the officers whose scope holds the person's record; an
    organization reads its visitors' colours only (their reasons are health data that is not theirs)."""
    if not allows("checkins.health_reason"):
        return "—"
    return stored_reasons.checkin_reason(model)


def _checkout_reason(view, context, model, name):
    return CHECKOUT_LABELS.get(model.checkout_reason or "", "")


def _location_options():
    from flask import has_request_context
    if not has_request_context():
        return []
    stmt = scope(select(Location.id, Location.name, Organization.name).join(Organization), current_user, Location)
    return [(str(i), f"{loc} — {org}") for i, loc, org in db.session.execute(stmt.order_by(Organization.name,
                                                                                            Location.name).limit(500))]


class CheckInView(ScopedModelView):
    access = model_access("checkin")  # an organization admin also closes stays: the action below
    column_list = ["checked_in_at", "person", "location", "checkpoint", "status_colour", "status_reason", "is_staff",
                   "method", "scan_count", "last_seen_at", "checked_out_at", "checkout_reason"]
    column_details_list = column_list + ["organization", "signed", "rule_id", "rule_version", "recorded_by_id"]
    column_export_list = ["checked_in_at", "person", "organization", "location", "checkpoint", "status_colour",
                          "status_reason", "is_staff", "method", "signed", "scan_count", "last_seen_at",
                          "checked_out_at", "checkout_reason"]
    column_labels = {
        "checked_in_at": _l("Check-in time"), "person": _l("Person"), "location": _l("Location"),
        "checkpoint": _l("Checkpoint"), "status_colour": _l("Colour"), "status_reason": _l("Reason"),
        "is_staff": _l("Staff"), "method": _l("Method"), "scan_count": _l("Scans"), "last_seen_at": _l("Last seen"),
        "checked_out_at": _l("Checked out"), "checkout_reason": _l("Check-out"), "organization": _l("Organization"),
        "signed": _l("Signed QR"), "rule_id": _l("Rule"), "rule_version": _l("Rule version"),
        "recorded_by_id": _l("Recorded by"),
    }
    column_sortable_list = ["checked_in_at", "last_seen_at", "checked_out_at", "status_colour", "scan_count"]
    column_default_sort = ("checked_in_at", True)
    column_searchable_list = []
    column_formatters = {
        "person": lambda v, c, m, n: f"{m.person.full_name} ({mask_id(m.person.id_number)})",
        "status_colour": _label(COLOUR_LABELS), "method": _label(METHOD_LABELS),
        "checked_in_at": _local, "last_seen_at": _local, "checked_out_at": _local, "checkout_reason": _checkout_reason,
        "status_reason": _health_reason,
    }
    column_formatters_export = {
        "person": lambda v, c, m, n: f"{m.person.full_name} ({mask_id(m.person.id_number)})",
        "status_colour": _label(COLOUR_LABELS), "method": _label(METHOD_LABELS), "checkout_reason": _checkout_reason,
        "status_reason": _health_reason,
        "checked_in_at": lambda v, c, m, n: to_local(m.checked_in_at).replace(tzinfo=None),
        "last_seen_at": lambda v, c, m, n: to_local(m.last_seen_at).replace(tzinfo=None),
        "checked_out_at": lambda v, c, m, n: to_local(m.checked_out_at).replace(tzinfo=None)
        if m.checked_out_at else None,
    }

    @property
    def column_filters(self):  # type: ignore[override]
        return [
            DateTimeBetweenFilter(CheckIn.checked_in_at, _l("Check-in time")),
            IntEqual(CheckIn.location_id, _l("Location"), options=_location_options),
            _DistrictFilter(CheckIn.organization_id, _l("District"), options=district_options),
            choice_filter(CheckIn.status_colour, _l("Colour"), COLOUR_LABELS),
            choice_filter(CheckIn.method, _l("Method"), METHOD_LABELS),
            BooleanEqualFilter(CheckIn.is_staff, _l("Staff")),
            _OpenFilter(CheckIn.checked_out_at, _l("Still inside")),
        ]

    @action("check_out", _l("Check out"), _l("Check out the selected people now?"))
    def action_check_out(self, ids):
        from backoffice.scanning.checkins import check_out
        if not allows("checkins.check_out"):
            raise OutOfRole(code="checkins.check_out")
        for checkin_id in ids:
            check_out(int(checkin_id), user=current_user._get_current_object())
        flash(_("%(count)s check-ins closed.", count=len(ids)), "success")

    def is_action_allowed(self, name: str) -> bool:
        if name == "check_out":
            return allows("checkins.check_out")
        return super().is_action_allowed(name)


class _DistrictFilter(IntEqual):
    """Check-ins of organizations in a district (a subquery: no join to keep track of)."""

    def apply(self, query, value, alias=None):
        return query.filter(CheckIn.organization_id.in_(
            select(Organization.id).where(Organization.district_code == value)))


class _OpenFilter(BooleanEqualFilter):
    def apply(self, query, value, alias=None):
        return query.filter(CheckIn.checked_out_at.is_(None) if value == "1" else CheckIn.checked_out_at.is_not(None))


class DeviceTokenForm(SecureForm):
    name = StringField(_l("Device name"), validators=[DataRequired(), Length(max=128)])
    checkpoint = SelectField(_l("Checkpoint"), coerce=int, validators=[DataRequired()])


class DeviceTokenView(ScopedModelView):
    # One way to create a token: the list's own "Create" tab (create_view below), for organization admins only.
    access = model_access("devicetoken")
    list_template = "scanning/device_token_list.html"
    column_list = ["name", "checkpoint", "token_prefix", "created_at", "last_used_at", "revoked_at"]
    column_details_list = column_list
    column_labels = {"name": _l("Device name"), "checkpoint": _l("Checkpoint"), "token_prefix": _l("Token starts with"),
                     "created_at": _l("Created"), "last_used_at": _l("Last used"), "revoked_at": _l("Revoked")}
    column_formatters = {"created_at": _local, "last_used_at": _local, "revoked_at": _local,
                         "token_prefix": lambda v, c, m, n: Markup("<code>{}…</code>").format(m.token_prefix)}
    column_default_sort = ("created_at", True)
    can_export = False  # type: ignore[assignment]

    @expose("/new/", methods=["GET", "POST"])
    def create_view(self):
        """The token form in place of Flask-Admin's model form: the secret is made here and shown once."""
        from backoffice.scanning.devices import create_device_token
        form = DeviceTokenForm(request.form if request.method == "POST" else None)
        form.checkpoint.choices = [
            (c.id, str(c)) for c in db.session.scalars(scope(select(Checkpoint), current_user)
                                                      .where(Checkpoint.active.is_(True)).order_by(Checkpoint.id))]
        if request.method == "POST" and form.validate():
            token, secret = create_device_token(form.checkpoint.data, form.name.data,
                                                user=current_user._get_current_object())
            # What the page shows, read at once: the row is expired by the commit, and the page (its menu and
            # panels) may outlive the session that holds it.
            shown = SimpleNamespace(name=token.name, checkpoint=str(token.checkpoint),
                                    checkpoint_id=token.checkpoint_id)
            # The secret is shown on this response only; it is never stored or shown again.
            return self.render("scanning/device_token_secret.html", token=shown, secret=secret,
                               api_url=_api_base() + url_for("api_v1.scans"))
        return self.render("scanning/device_token_issue.html", form=form)

    @expose("/revoke/<int:token_id>", methods=["POST"])
    def revoke_view(self, token_id: int):
        from backoffice.scanning.devices import revoke_device_token
        revoke_device_token(token_id, user=current_user._get_current_object())
        flash(_("The token has been revoked: devices using it can no longer scan."), "success")
        return redirect(url_for(".index_view"))


def _api_base() -> str:
    """Where devices send scans: the portal's public URL; without one (not configured outside development), the
    address the admin reached this page at, which is what a device on the same network would use."""
    from backoffice.printing.locations import PublicUrlMissing, public_url
    try:
        return public_url()
    except PublicUrlMissing:
        return request.host_url.rstrip("/")


def init_app(app: Flask) -> None:
    from backoffice.admin import admin_for
    admin = admin_for(app)
    admin.add_view(CheckInView(CheckIn, db, name=_l("Check-ins"), category=CAT_ORGS, endpoint="checkin"))
    admin.add_view(DeviceTokenView(DeviceToken, db, name=_l("Scanning devices"), category=CAT_ORGS,
                                   endpoint="devicetoken"))
