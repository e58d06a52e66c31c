"""Admin views over user accounts and the (read-only) audit log."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired, Email, Length, Optional

from backoffice.admin.base import ScopedModelView, role_label
from backoffice.admin.labels import action_label, table_label
from backoffice.auth import service as accounts
from backoffice.auth.policy import model_access
from backoffice.domain import ROLE_LABELS, SECTOR_LABELS, Role, choices

USER_LABELS = {
    "username": _l("Username"), "full_name": _l("Full name"), "email": _l("E-mail"), "role": _l("Role"),
    "organization": _l("Organization"), "ward": _l("Ward"), "districts": _l("Districts"),
    "checkpoints": _l("Checkpoints"), "sector": _l("Sector (optional)"), "active": _l("Active"),
    "last_login_at": _l("Last login"), "new_password": _l("Password"),
}


class UserView(ScopedModelView):
    access = model_access("user")
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

    def create_record(self, values):
        password = values.pop("new_password", None) or ""
        return accounts.create_account(self.actor, values, password)

    def update_record(self, model, values):
        password = values.pop("new_password", None) or None
        return accounts.update_account(self.actor, model, values, password)

    def delete_record(self, model):
        accounts.delete_account(self.actor, model)


def _json(view, context, model, name):
    value = getattr(model, name)
    if not value:
        return ""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in value.items())
    return Markup(f'<table class="table table-sm mb-0">{rows}</table>')


class AuditLogView(ScopedModelView):
    access = model_access("auditlog")
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
