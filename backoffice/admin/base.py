"""The scoped base view every Flask-Admin model view inherits.

Flask-Admin's defaults are unsafe for multi-tenant data: `get_one` ignores `get_query`, relation dropdowns
and ajax lookups list every row, filters offer every option, CSV exports evaluate formulas, and forms carry
no CSRF token. This module fixes all of it once:

- every read (list, count, details, edit, delete, bulk actions, export, dropdowns, ajax) goes through
  `scope(query, current_user)`; a record outside it answers 404 whatever the URL says;
- each view's `access = {role: {actions}}` comes from the policy table (`backoffice.auth.policy.model_access`);
  an action outside the role answers 403 (audited);
- a write that would move a record out of the user's scope (a forged POST naming another organization
  or district) is refused with 403 and rolled back; `locked_fields` keeps some fields out of a role's reach;
- a write is an operation's (create_record / update_record / delete_record name it): the view only turns the form
  into values, and the operation checks, applies, keeps the record in scope and audits it;
- forms inherit Flask-WTF's `FlaskForm` (CSRF token); exports are formula-safe;
- every page, lookup and export that shows residents' data is audited as a read (one entry per request, naming
  the residents shown: `audit.read`), only once it was answered (a 404 leaves none);
- exports are built from plain values inside the request (Flask-Admin streamed the CSV after the session had
  closed, so related records failed to load) and audited with the rows actually written.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from flask import g, redirect, request, url_for
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext as admin_lazy_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.model import filters as admin_filters
from flask_admin.model.form import converts
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import BaseForm
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException
from wtforms.validators import Length

from backoffice import audit, exports
from backoffice.admin import reads
from backoffice.admin.labels import COLUMN_LABELS
from backoffice.admin.reads import note_shown, person_attribute
from backoffice.admin.writes import OperationWrites
from backoffice.auth import policy
from backoffice.auth.permissions import deny
from backoffice.auth.scope import scope
from backoffice.domain import Role
from backoffice.errors import OutOfRole, OutOfScope
from backoffice.replica import reading
from backoffice.extensions import db
from backoffice.timeutil import format_local

ALL_ACTIONS, READ = policy.ALL_ACTIONS, policy.READ


class SecureForm(FlaskForm, BaseForm):
    """Flask-Admin form base carrying Flask-WTF's CSRF token (validated by CSRFProtect on every POST)."""


def _scoped_query(session, model):
    return scope(session.query(model), current_user, model)


class ScopedModelConverter(AdminModelConverter):
    """Relation dropdowns list only the rows the user may read; a forged id fails validation."""

    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args, **extra):
        # Our UTC column type is unknown to Flask-Admin, which silently left the field out of forms (a test
        # result saved without its time failed with a 500); views convert the local time typed to UTC.
        return self.convert_datetime(field_args, **extra)

    def _model_select_field(self, prop, multiple, remote_model, **kwargs):
        # Ajax fields (form_ajax_refs) take no query_factory: their ScopedAjaxLoader applies the scope.
        ajax = getattr(self.view, "_form_ajax_refs", {}).get(prop.key)
        if not ajax and "query_factory" not in kwargs:
            kwargs["query_factory"] = lambda: _scoped_query(db.session, remote_model)
        return super()._model_select_field(prop, multiple, remote_model, **kwargs)


    @classmethod
    def _string_common(cls, column, field_args, **extra):
        # Flask-Admin adds Length(max=column length); when the view declares a Length already, a second one
        # would show the same error twice.
        if any(isinstance(v, Length) for v in field_args.get("validators", [])):
            cls._nullable_common(column, field_args)
            return
        super()._string_common(column, field_args, **extra)


class TypedFilterConverter(FilterConverter):
    """Filters for our UTC datetime columns, as for plain datetimes."""

    @admin_filters.convert("UTCDateTime")
    def conv_utc_datetime(self, column, name, **kwargs):
        return self.conv_datetime(column, name, **kwargs)


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """Ajax lookups (select2 autocomplete) under the same scope."""

    def get_query(self):
        return _scoped_query(db.session, self.model)

    def get_list(self, term: str, offset: int = 0, limit: int = 10):
        rows = super().get_list(term, offset, limit)
        note_shown(self.model, rows)  # an autocomplete answer discloses the residents it lists
        return rows

    def get_one(self, pk):
        primary = sa_inspect(self.model).primary_key[0]
        # The id comes from the form as text; PostgreSQL refuses integer = varchar, so type it first.
        key = _typed_key(primary, pk)
        if key is None:
            return None
        return self.get_query().filter(primary == key).one_or_none()


def _when(view, value, name) -> str:
    return format_local(value)  # the city's time, dd/mm/yyyy HH:MM (a date: dd/mm/yyyy)


def _yes_no(view, value, name) -> str:
    return str(_l("Yes") if value else _l("No"))


# One way to write times and yes/no in every list, detail page and export (datetime before date: it is one).
TYPE_FORMATTERS = {type(None): lambda view, value, name: "", bool: _yes_no, datetime: _when, date: _when}


def _typed_key(primary, value: Any) -> Any | None:
    """`value` converted to the primary key's Python type, or None when it cannot be one."""
    try:
        return primary.type.python_type(value)
    except (TypeError, ValueError):
        return None


class ScopedModelView(OperationWrites, ModelView):
    """Base of every model view: scope, role checks, CSRF, audit, formula-safe exports."""

    access: ClassVar[dict[Role, frozenset[str] | set[str]]] = {}
    # Fields a role may see but not change, e.g. an organization admin and its tax code.
    locked_fields: ClassVar[dict[Role, set[str]]] = {}

    form_base_class = SecureForm
    model_form_converter = ScopedModelConverter
    filter_converter = TypedFilterConverter()
    page_size = 20
    can_set_page_size = True
    page_size_options = (20, 50, 100)
    can_view_details = True
    export_types = ["xlsx", "csv"]
    export_max_rows = 100_000
    column_display_pk = False
    list_template = "admin/model/list.html"
    column_type_formatters = column_type_formatters_detail = column_type_formatters_export = TYPE_FORMATTERS

    def get_column_name(self, field: str) -> str:
        # Never Flask-Admin's prettified field name ("Qr Token"): the view's label, else the shared one.
        if self.column_labels and field in self.column_labels:
            return self.column_labels[field]
        return COLUMN_LABELS.get(field) or super().get_column_name(field)

    # --- roles -----------------------------------------------------------------------------------
    def allowed(self, action: str) -> bool:
        if not current_user.is_authenticated:
            return False
        return action in self.access.get(Role(current_user.role), ())

    def require(self, action: str) -> None:
        if not self.allowed(action):
            deny(f"{self.endpoint}.{action}")

    # Flask-Admin reads these to show buttons and to route; they follow the current user's role.
    can_create = property(lambda self: self.allowed("create"))  # type: ignore[assignment]
    can_edit = property(lambda self: self.allowed("edit"))  # type: ignore[assignment]
    can_delete = property(lambda self: self.allowed("delete"))  # type: ignore[assignment]

    @property
    def can_export(self) -> bool:  # type: ignore[override]
        return self.allowed("export")

    @can_export.setter
    def can_export(self, value) -> None:  # Flask-Admin assigns it in scaffolding; the role decides
        pass

    def is_action_allowed(self, name: str) -> bool:
        if name == "delete":
            return self.allowed("delete")
        return super().is_action_allowed(name)

    def is_accessible(self) -> bool:
        return self.allowed("list") or self.allowed("details")

    def inaccessible_callback(self, name: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        deny(f"{self.endpoint}.access")

    # View functions whose answer shows the rows read, and the purpose their read entry records.
    READ_PURPOSES: ClassVar[dict[str, str]] = {"index_view": "list", "details_view": "details",
                                                "edit_view": "edit form", "ajax_lookup": "lookup"}

    def _run_view(self, fn, *args: Any, **kwargs: Any):
        # Flask may reuse one app context (and its g) for several requests: start each with an empty list.
        g.bo_persons_shown = shown = []
        try:
            response = super()._run_view(fn, *args, **kwargs)
        finally:
            g.bo_persons_shown = None
        why = self.READ_PURPOSES.get(fn.__name__)
        if why and shown and reads.status_of(response) == 200:
            self.audit_read(why, shown)
        if fn.__name__ == "ajax_lookup" and hasattr(response, "headers"):
            response.headers["Cache-Control"] = "no-store"  # residents' names in JSON
        return response

    def audit_read(self, why: str, person_ids: list) -> None:
        reads.audit_page(self.endpoint, why, person_ids)

    def _handle_view(self, name: str, **kwargs: Any):
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        needed = {"index_view": "list", "details_view": "details", "create_view": "create", "edit_view": "edit",
                  "delete_view": "delete", "export": "export", "ajax_update": "edit"}.get(name)
        if needed:
            self.require(needed)
        if name == "action_view" and request.method == "POST":
            action = request.form.get("action", "")
            if action not in self._actions_data or not self.is_action_allowed(action):
                deny(f"{self.endpoint}.action.{action[:32]}")
        return None

    # --- scope -----------------------------------------------------------------------------------
    def get_query(self):
        query = scope(super().get_query(), current_user, self.model)
        if g.get("bo_exporting"):
            # An export names related records (a resident's ward and its district…): load them in a few
            # queries, not one per row (those of the list's columns Flask-Admin joins already).
            joined = {getattr(j, "key", j) for j in self._auto_joins}
            for name, _title in self._export_columns:
                attr = getattr(self.model, name, None)
                prop = getattr(attr, "property", None)
                if prop is not None and hasattr(prop, "mapper") and not prop.uselist and name not in joined:
                    query = query.options(selectinload(attr))
        return query

    def get_count_query(self):
        return scope(super().get_count_query(), current_user, self.model)

    def get_one(self, id: Any):
        primary = sa_inspect(self.model).primary_key[0]
        try:
            key = primary.type.python_type(id)
        except (TypeError, ValueError):  # an id of the wrong type names no record
            raise OutOfScope(code=f"{self.endpoint}.not_found") from None
        record = self.get_query().filter(primary == key).one_or_none()
        if record is None:  # absent, or outside the user's scope: the same answer
            raise OutOfScope(code=f"{self.endpoint}.not_found")
        note_shown(self.model, [record])
        return record

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        count, rows = super().get_list(page, sort_column, sort_desc, search, filters, execute=execute,
                                       page_size=page_size)
        if execute:
            note_shown(self.model, rows)
        return count, rows

    @action("delete", admin_lazy_gettext("Delete"),
            admin_lazy_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        # Bulk ids arrive as text; typed keys keep PostgreSQL from refusing `integer IN (varchar…)`.
        # The query is still get_query(), so ids outside the scope match nothing.
        primary = sa_inspect(self.model).primary_key[0]
        keys = [k for k in (_typed_key(primary, i) for i in ids) if k is not None]
        return super().action_delete(keys)

    def _create_ajax_loader(self, name: str, options: dict):
        attr = getattr(self.model, name)
        remote_model = attr.property.mapper.class_
        return ScopedAjaxLoader(name, self.session, remote_model, **options)

    def _get_filter_groups(self):
        # Filter options depend on the user's scope: rebuild them for this request.
        self._refresh_filters_cache()
        return super()._get_filter_groups()

    def scoped(self, model: type):
        """A scoped query of another model, for filter options and form choices."""
        return _scoped_query(db.session, model)

    # --- writes ----------------------------------------------------------------------------------
    def handle_view_exception(self, exc: Exception) -> bool:
        # A 403 or 404 (an HTTPException, an OutOfRole or OutOfScope) is the answer, not a flash message.
        if isinstance(exc, (HTTPException, OutOfRole, OutOfScope)):
            db.session.rollback()
            raise exc
        return super().handle_view_exception(exc)

    # --- exports ---------------------------------------------------------------------------------
    def get_export_value(self, model, name):
        # Related records (a check-in's location…) are objects until the CSV writer str()s them: make them text
        # first, or a location named "=HYPERLINK(…)" passes csv_safe untouched.
        return exports.csv_safe(self._export_value(model, name))

    def _export_value(self, model, name):
        value = ModelView.get_export_value(self, model, name)
        if value is None or isinstance(value, (str, int, float, bool, date, datetime)):
            return value
        return str(value)  # related records, markup, labels

    def _export_csv(self, return_url):
        return self._export_file("csv")

    def _export_tablib(self, export_type: str, return_url: str):
        if export_type != "xlsx":
            raise OutOfScope(code=f"{self.endpoint}.export_format")
        return self._export_file("xlsx")

    def _export_file(self, fmt: str):
        """The whole file, formatted from plain values while the request's session is open (Flask-Admin streamed
        its CSV after the session had closed: related records failed to load and the file stopped after its
        header), then audited with the rows actually written, then sent, never cached."""
        g.bo_exporting = True
        try:
            with reading():  # the list's own page reads the primary; the whole list for a file, the replica
                _count, data = self._export_data()
        finally:
            g.bo_exporting = False
        names = [name for name, _title in self._export_columns]
        headers = [str(title) for _name, title in self._export_columns]
        written = 0

        def rows():
            nonlocal written
            for row in data:
                yield [self._export_value(row, name) for name in names]
                written += 1

        if fmt == "csv":
            payload, mimetype = exports.csv_bytes(headers, rows()), "text/csv; charset=utf-8"
        else:
            payload, mimetype = exports.xlsx_bytes(str(self.name), headers, rows()), exports.XLSX_MIMETYPE
        attr = person_attribute(self.model)
        persons = [pid for pid in (getattr(row, attr) for row in data) if pid is not None] if attr else []
        after: dict[str, Any] = {"rows": written, "format": fmt, "view": self.endpoint}
        after.update(reads.list_query())
        if persons:
            after.update(why="export", unit=audit.actor_unit(current_user._get_current_object()))
        audit.record_now(f"{self.model.__tablename__}.export", persons=persons,
                         entity_name=self.model.__tablename__, after=after)
        return exports.download(payload, self.get_export_name(fmt), mimetype)


def role_label(role: str) -> str:
    from backoffice.domain import ROLE_LABELS
    try:
        return str(ROLE_LABELS[Role(role)])
    except ValueError:
        return role


__all__ = ["ScopedModelView", "SecureForm", "ALL_ACTIONS", "READ", "role_label", "_l"]
