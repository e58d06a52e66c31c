"""Admin views over user accounts and the (read-only) audit log."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from backoffice.admin.base import ALL_ACTIONS, READ, ScopedModelView, role_label
from backoffice.admin.labels import action_label, table_label
from backoffice.auth import service as accounts
from backoffice.auth.passwords import hash_password
from backoffice.auth.sessions import close_all_sessions
from backoffice.domain import ROLE_LABELS, SECTOR_LABELS, Role, choices

USER_LABELS = {
    "username": _l("Username"), "full_name": _l("Full name"), "email": _l("E-mail"), "role": _l("Role"),
    "organization": _l("Organization"), "ward": _l("Ward"), "districts": _l("Districts"),
    "checkpoints": _l("Checkpoints"), "sector": _l("Sector (optional)"), "active": _l("Active"),
    "last_login_at": _l("Last login"), "new_password": _l("Password"),
}


class UserView(ScopedModelView):
    access = {
        Role.CITY_ADMIN: ALL_ACTIONS,
        Role.ORG_ADMIN: {"list", "details", "create", "edit"},
    }
    column_list = ["username", "full_name", "role", "organization", "ward", "districts", "active", "last_login_at"]
    column_labels = USER_LABELS
    column_searchable_list = ["username", "full_name", "email"]
    column_filters = ["role", "active"]
    column_default_sort = ("id", True)
    column_formatters = {"role": lambda v, c, m, n: role_label(m.role)}
    column_export_list = ["username", "full_name", "email", "role", "organization", "ward", "active",
                          "last_login_at"]
    form_columns = ["username", "full_name", "email", "new_password", "role", "districts", "sector", "ward",
                    "organization", "checkpoints", "active"]
    form_overrides = {"role": SelectField, "sector": SelectField}
    form_extra_fields = {"new_password": PasswordField(_l("Password"), validators=[Optional(), Length(min=8, max=256)],
                                                       description=_l("Leave empty to keep the current password."))}
    form_args = {
        "username": {"validators": [DataRequired(), Length(max=64)]},
        "email": {"validators": [Optional(), Email(), Length(max=254)]},
        # No role chosen in advance: a new account must be given its role on purpose (the first choice used to
        # be "city admin", the widest of all). The blank choice fails DataRequired, so nothing is saved without one.
        "role": {"choices": [("", _l("— Choose a role —"))] + choices(ROLE_LABELS), "validators": [DataRequired()]},
        "sector": {"choices": [("", "—")] + choices(SECTOR_LABELS), "validators": [Optional()]},
        # Flask-Admin's empty choice of a relation is "__None" on screen unless it has a text.
        "ward": {"blank_text": "—"},
        "organization": {"blank_text": "—"},
    }

    def _prepare(self, form):
        if current_user.role == Role.ORG_ADMIN:
            # An organization admin creates checkpoint staff of its own organization, nothing else.
            for name in ("role", "districts", "sector", "ward", "organization"):
                if name in form:
                    del form[name]
        return form

    def create_form(self, obj=None):
        form = self._prepare(super().create_form(obj))
        # A new account needs a first password: required here, and its help says so (the edit form's help,
        # "leave empty to keep", would be wrong on a form that refuses it empty).
        form.new_password.validators = [DataRequired(), Length(min=8, max=256)]
        form.new_password.flags.required = True
        form.new_password.description = _l("At least 8 characters. The user must change it at their first login.")
        return form

    def edit_form(self, obj=None):
        return self._prepare(super().edit_form(obj))

    def on_model_change(self, form, model, is_created):
        if current_user.role == Role.ORG_ADMIN:
            if is_created:
                model.role = Role.CHECKPOINT_STAFF.value
                model.organization_id = current_user.organization_id
            elif model.id != current_user.id and model.role != Role.CHECKPOINT_STAFF:
                raise ValidationError(str(_l("You can only manage checkpoint staff accounts.")))
        model.username = (model.username or "").strip().lower()
        model.sector = model.sector or None
        try:
            accounts.validate_scope_fields(model.role, districts=model.districts, ward=model.ward,
                                           organization_id=model.organization_id or
                                           (model.organization.id if model.organization else None),
                                           checkpoints=model.checkpoints)
            if form.new_password.data:
                accounts.check_password_strength(form.new_password.data, model.username)
        except accounts.AccountError as exc:
            raise ValidationError(str(exc)) from None
        if form.new_password.data:
            model.password_hash = hash_password(form.new_password.data)
            model.must_change_password = True
        super().on_model_change(form, model, is_created)
        if not is_created and (form.new_password.data or not model.active):
            close_all_sessions(model.id)


def _json(view, context, model, name):
    value = getattr(model, name)
    if not value:
        return ""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in value.items())
    return Markup(f'<table class="table table-sm mb-0">{rows}</table>')


class AuditLogView(ScopedModelView):
    access = {
        Role.CITY_ADMIN: READ,
        Role.INSPECTOR: READ,
        Role.ORG_ADMIN: {"list", "details"},
    }
    column_list = ["at", "actor_name", "action", "entity", "entity_id", "ip"]
    column_details_list = ["at", "actor_name", "action", "entity", "entity_id", "before", "after", "ip",
                           "organization_id", "district_code"]
    column_labels = {"at": _l("Time"), "actor_name": _l("User"), "action": _l("Action"), "entity": _l("Record type"),
                     "entity_id": _l("Record id"), "ip": _l("IP address"), "before": _l("Before"),
                     "after": _l("After"), "organization_id": _l("Organization"), "district_code": _l("District")}
    column_searchable_list = ["actor_name", "action", "entity_id"]
    column_filters = ["action", "entity", "actor_name", "at", "ip"]
    column_default_sort = ("id", True)
    # Actions and record types in words ("Đăng nhập thành công", "Tổ chức"), never `login.success`/`organizations`.
    column_formatters = {"action": lambda v, c, m, n: action_label(m.action),
                         "entity": lambda v, c, m, n: table_label(m.entity)}
    column_formatters_detail = {"before": _json, "after": _json, **column_formatters}
    column_formatters_export = column_formatters
    column_export_list = ["at", "actor_name", "action", "entity", "entity_id", "ip"]
