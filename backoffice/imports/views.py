"""The import wizard in the admin: upload → preview → confirm → result, the template, the error report, the
one-time password sheet and the history. Thin: every step is an operation of `service`."""
from __future__ import annotations

from flask import current_app, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField

from backoffice import exports
from backoffice.auth.permissions import PolicyView
from backoffice.auth.scope import get_in_scope_or_404
from backoffice.errors import BadRequest, OutOfScope
from backoffice.extensions import db
from backoffice.imports import jobs, service, staging, template
from backoffice.imports.kinds import kinds
from backoffice.models import ImportRecord

PAGE = 100
MAX_ID = 2**31 - 1


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), 1_000_000)
STATUSES = ("new", "update", "unchanged", "error")


class UploadForm(FlaskForm):
    file = FileField(_l("Excel (.xlsx) or CSV file"), validators=[FileRequired(_l("Choose a file."))])


class ConfirmForm(FlaskForm):
    mode = RadioField(_l("Rows with errors"), default="block",
                      choices=[("block", _l("Block the import: import nothing while any row has an error")),
                               ("skip", _l("Skip them: import the valid rows only"))])
    create_accounts = BooleanField(_l("Create an administrator account for each new organization "
                                      "(one-time passwords in a sheet to download once)"))


class PlainForm(FlaskForm):
    """A button: only the CSRF token."""


class ImportView(PolicyView):
    """One wizard per kind; the menu shows it to the roles that may run that kind."""

    kind_name = "organizations"

    @property
    def kind(self):
        return kinds()[self.kind_name]

    @property
    def action(self) -> str:  # type: ignore[override]
        return self.kind.action()

    def _record(self, record_id: int):
        if not 0 < record_id <= MAX_ID:  # an id no column can hold is simply not found
            raise OutOfScope(code="imports.not_found")
        record = get_in_scope_or_404(ImportRecord, record_id, current_user)
        if record.kind != self.kind_name:  # another kind's import is not found here
            raise OutOfScope(code="imports.not_found")
        return record

    def _job(self, action: str, record, wait: bool):
        """Run the preview or apply away from this process (jobs.py: the queue's worker, or a memory-limited
        child); a small file is waited for (up to IMPORT_SYNC_WAIT_SECONDS), so its result shows at once.
        Returns the record as it is now."""
        job = jobs.launch(current_app._get_current_object(), action, record.id, current_user.id, str(get_locale()))
        if wait:
            job.wait(service.setting("IMPORT_SYNC_WAIT_SECONDS", 30))
            db.session.expire_all()
        return db.session.get(type(record), record.id)

    # --- upload and history ------------------------------------------------------------------------------
    @expose("/")
    def index(self, refused: str | None = None, status: int = 200):
        page = _page()
        records, total = service.history(current_user, self.kind_name, page)
        body = self.render("imports/index.html", form=UploadForm(), records=records, total=total, page=page,
                           pages=max((total + 19) // 20, 1), kind=self.kind, state_of=service.effective_state,
                           refused=refused)
        return body, status

    @expose("/upload", methods=["POST"])
    def upload(self):
        form = UploadForm()
        if not form.validate_on_submit():
            for error in form.file.errors:
                flash(str(error), "error")
            return redirect(url_for(".index"))
        upload = form.file.data
        try:
            record = service.receive(current_user, self.kind_name, upload.stream, upload.filename or "")
        except service.ImportRefused as exc:
            return self.index(refused=str(exc), status=413)
        record = self._job("preview", record, wait=record.options["size"] <= service.setting("IMPORT_SYNC_BYTES",
                                                                                              1 << 20))
        if record.state == service.REJECTED:  # the file itself: say why, here, with a 4xx
            return self.index(refused=record.options.get("message"), status=422)
        return redirect(url_for(".show", record_id=record.id))

    @expose("/template.xlsx")
    def template(self):
        data = template.build(self.kind)
        return exports.download(data, f"mau-nhap-{self.kind_name}.xlsx", exports.XLSX_MIMETYPE)

    # --- one import ------------------------------------------------------------------------------------------
    @expose("/<int:record_id>/")
    def show(self, record_id: int):
        record = self._record(record_id)
        state = service.effective_state(record)
        context = {"record": record, "state": state, "kind": self.kind, "progress": service.progress_of(record),
                   "mine": record.created_by_id == current_user.id, "plain": PlainForm()}
        if state == service.PREVIEWED and staging.exists(record.options["token"]):
            status = request.args.get("status") if request.args.get("status") in STATUSES else None
            page = _page()
            rows, matching = staging.page(record.options["token"], status, (page - 1) * PAGE, PAGE)
            context.update(rows=rows, matching=matching, status=status, page=page,
                           pages=max((matching + PAGE - 1) // PAGE, 1), form=ConfirmForm())
        return self.render("imports/show.html", **context)

    @expose("/<int:record_id>/progress.json")
    def progress(self, record_id: int):
        return jsonify(service.progress_of(self._record(record_id)))

    @expose("/<int:record_id>/confirm", methods=["POST"])
    def confirm(self, record_id: int):
        record = self._record(record_id)
        form = ConfirmForm()
        if not form.validate_on_submit():
            raise BadRequest(code="imports.confirm.form")
        try:
            record = service.confirm(record, current_user, skip_errors=form.mode.data == "skip",
                                     create_accounts=bool(form.create_accounts.data))
        except service.ImportRefused as exc:
            flash(str(exc), "error")
            return redirect(url_for(".show", record_id=record_id))
        counts = record.counts
        rows = counts.get("new", 0) + counts.get("update", 0)
        background = rows > service.setting("IMPORT_SYNC_ROWS", 5000) or (form.create_accounts.data
                                                                          and counts.get("new", 0) > 10)
        self._job("apply", record, wait=not background)
        return redirect(url_for(".show", record_id=record_id))

    @expose("/<int:record_id>/cancel", methods=["POST"])
    def cancel(self, record_id: int):
        record = self._record(record_id)
        if not PlainForm().validate_on_submit():
            raise BadRequest(code="imports.cancel.form")
        try:
            service.cancel(record, current_user)
        except service.ImportRefused as exc:
            flash(str(exc), "error")
        return redirect(url_for(".show", record_id=record_id))

    @expose("/<int:record_id>/errors.xlsx")
    def errors(self, record_id: int):
        record = self._record(record_id)
        data = db.session.get(type(record), record.id).error_report
        if not data:  # no rows with errors, or the report is gone
            raise OutOfScope(code="imports.no_error_report")
        return exports.download(data, f"loi-nhap-{record.id}.xlsx", exports.XLSX_MIMETYPE)

    @expose("/<int:record_id>/credentials.xlsx", methods=["POST"])
    def credentials(self, record_id: int):
        # POST, not a link: a prefetching browser or a link scanner must not consume the only download.
        record = self._record(record_id)
        if not PlainForm().validate_on_submit():
            raise BadRequest(code="imports.credentials.form")
        data = service.take_credentials(record, current_user)
        if data is None:
            flash(_("The one-time passwords have already been downloaded; they are no longer stored."), "error")
            return redirect(url_for(".show", record_id=record_id))
        return exports.download(data, f"tai-khoan-{record.id}.xlsx", exports.XLSX_MIMETYPE)


class OrganizationImportView(ImportView):
    kind_name = "organizations"


class StaffImportView(ImportView):
    kind_name = "staff"


class ResidentImportView(ImportView):
    kind_name = "residents"
