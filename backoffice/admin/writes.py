"""Flask-Admin's writes, routed to the operations.

Every write of a model view is an operation's (`backoffice.orgs.service`, `backoffice.people.service`,
`backoffice.auth.service`…): the view turns the form into plain values and calls it through `create_record`,
`update_record` and `delete_record`, which each writing view defines for the verbs its roles may use. Flask-Admin's
own create_model, update_model and delete_model, which populate and commit the model themselves, are replaced here
and never reached (tests/test_operations_only.py checks every registered view).
"""
from __future__ import annotations

import logging
from typing import Any

from flask import flash
from flask_admin.babel import gettext as admin_gettext
from flask_login import current_user
from wtforms.validators import ValidationError

from backoffice.auth.permissions import deny
from backoffice.domain import Role
from backoffice.errors import DomainError, OutOfRole, OutOfScope
from backoffice.extensions import db

log = logging.getLogger(__name__)


class OperationWrites:
    """Mixed into the scoped base view, before Flask-Admin's ModelView (`locked_fields` is the base's)."""

    # The model's operations (`backoffice.records.Operations`): its create, update and delete. A view whose verbs
    # take more than the form's values (accounts: the password) overrides the *_record methods instead.
    operations: Any = None

    def _operations(self, verb: str) -> Any:
        if self.operations is None:
            raise NotImplementedError(f"{type(self).__name__} {verb}s records through an operation: set operations")
        return self.operations

    def create_record(self, values: dict[str, Any]) -> Any:
        return self._operations("create").create(self.actor, values)

    def update_record(self, model: Any, values: dict[str, Any]) -> Any:
        return self._operations("update").update(self.actor, model, values)

    def delete_record(self, model: Any) -> None:
        self._operations("delete").delete(self.actor, model)

    def form_values(self, form, model: Any = None) -> dict[str, Any]:
        """The form's fields as plain values (relations as records), for the operation; a field a role may see
        but not change answers 403 if the form would change it."""
        values = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        self.check_locked_fields(values, model)
        return values

    @property
    def actor(self) -> Any:
        """The user the operations act for."""
        return current_user._get_current_object()

    def create_model(self, form):
        return self._write(lambda: self.create_record(self.form_values(form)), "Failed to create record. %(error)s")

    def update_model(self, form, model) -> bool:
        return bool(self._write(lambda: self.update_record(model, self.form_values(form, model)) or True,
                                "Failed to update record. %(error)s"))

    def delete_model(self, model) -> bool:
        return bool(self._write(lambda: self.delete_record(model) or True, "Failed to delete record. %(error)s"))

    def _write(self, work, failure: str):
        """Run one operation and commit, answering its failures as Flask-Admin answers a model's: a reason the
        operation gives (`Invalid`, `Refused`) or a form's ValidationError is flashed, out of scope or role answers
        404 or 403, anything else is flashed as a failure and logged."""
        try:
            result = work()
            db.session.commit()
        except Exception as exc:
            if isinstance(exc, DomainError) and not isinstance(exc, (OutOfRole, OutOfScope)):
                exc = ValidationError(str(exc.message))
            if not self.handle_view_exception(exc):
                flash(admin_gettext(failure, error=str(exc)), "error")
                log.exception(failure.split(".")[0])
            db.session.rollback()
            return False
        return result

    def check_locked_fields(self, values: dict[str, Any], model: Any) -> None:
        locked = self.locked_fields.get(Role(current_user.role), set())
        for name in locked & set(values):
            value = values[name]
            if (value is not None) if model is None else (value != getattr(model, name)):
                deny(f"locked:{name}")
