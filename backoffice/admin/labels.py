"""Words for what the admin shows: labels of columns no view names itself, of the audit log's actions and of the
tables its entries name. A person reads "Mã QR", "Đăng nhập thành công", "Tổ chức", never `Qr Token`,
`login.success` or `organizations`."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# Columns that several models share or that a view shows without a label of its own (ScopedModelView falls back
# to these before Flask-Admin's prettified field name; tests/test_display_labels.py checks every column of every
# view has one or the other).
COLUMN_LABELS = {
    "qr_token": _l("QR code"), "created_at": _l("Created"), "updated_at": _l("Updated"),
    "locale": _l("Language"), "must_change_password": _l("Must change password"),
    "password_changed_at": _l("Password changed"), "password_hash": _l("Password (hashed)"),
    "active": _l("Active"), "name": _l("Name"), "address": _l("Address"), "organization": _l("Organization"),
    "location": _l("Location"), "checkpoint": _l("Checkpoint"), "person": _l("Resident record"),
    "district": _l("District"), "ward": _l("Ward"), "phone": _l("Phone"), "email": _l("E-mail"),
    "full_name": _l("Full name"), "status": _l("Status"), "note": _l("Note"),
}

# Every action the code writes to the audit log (tests/test_display_labels.py finds them in the source).
ACTION_LABELS = {
    "login.success": _l("Logged in"), "login.failed": _l("Failed login"), "logout": _l("Logged out"),
    "request.denied": _l("Access refused"), "request.csrf_failed": _l("Form refused (expired or forged)"),
    "user.create": _l("Account created"), "user.activate": _l("Account activated"),
    "user.deactivate": _l("Account deactivated"), "user.password_changed": _l("Password changed by its user"),
    "user.password_set": _l("Password set by an administrator"),
    "organization.register": _l("Organization registered"), "organization.approve": _l("Registration approved"),
    "organization.reject": _l("Registration rejected"),
    "person.read": _l("Residents' records viewed"), "persons.create": _l("Resident registered"),
    "persons.declare": _l("Visitor declared at a checkpoint"),
    "persons.register_declared": _l("Declared visitor registered by the ward"),
    "personal_qr.print": _l("Personal QR cards printed"), "qr_token.rotate": _l("Location QR code replaced"),
    "scan.rejected": _l("Scan refused"), "scan.rate_limited": _l("Scans too frequent"),
    "checkins.check_out": _l("Checked out"), "checkins.auto_checkout": _l("Checked out automatically"),
    "checkins.purge": _l("Old check-ins deleted"),
    "device_tokens.create": _l("Device token created"), "device_tokens.revoke": _l("Device token revoked"),
    "signing_key.configured": _l("Signing key configured"), "signing_key.retire": _l("Signing key retired"),
    "staff.link": _l("Staff member linked to a resident"), "staff.link_rejected": _l("Staff link refused"),
    "assessment.start": _l("Self-assessment started"), "assessment.save_draft": _l("Self-assessment draft saved"),
    "assessment.submit": _l("Self-assessment submitted"), "compliance.export": _l("Compliance list exported"),
    "inspection.closed": _l("Inspection closed"), "inspection.remedied": _l("Inspection findings remedied"),
    "inspection.reopened": _l("Inspection reopened"),
    "import.preview": _l("Import previewed"), "import.apply": _l("Import applied"),
    "import.cancel": _l("Import cancelled"), "import.credentials_downloaded": _l("Imported accounts downloaded"),
    "trace.open": _l("Tracing case opened"), "trace.open_by_test": _l("Tracing case opened from a test result"),
    "trace.request": _l("Tracing requested"), "trace.approve": _l("Tracing approved"),
    "trace.rerun": _l("Tracing run again"), "trace.refer": _l("Contacts referred to another district"),
    "trace.referrals.view": _l("Referred contacts viewed"), "trace_alert.acknowledge": _l("Tracing alert acknowledged"),
    "trace_referral.acknowledge": _l("Referral acknowledged"),
    "trace.view": _l("Tracing case viewed"), "trace.export": _l("Tracing case exported"),
    "assessment.print": _l("Self-assessment record printed"), "qr_poster.print": _l("QR poster printed"),
    "report.city": _l("City workbook made"), "report.district": _l("District workbook made"),
    "signing_key.first": _l("First signing key created"), "signing_key.generate": _l("Signing key generated"),
    "signing_key.rotate": _l("Signing key rotated"), "signing_key.activate": _l("Signing key began signing"),
    "signing_key.use": _l("Signing key chosen for signing"),
    "rules.publish": _l("Rule files published as those in force"),
    "jobs.run": _l("Periodic job run"), "report.requested": _l("Workbook requested"),
    "report.downloaded": _l("Prepared workbook downloaded"),
}

# The verbs the generic model views write as "<table>.<verb>".
VERB_LABELS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"), "export": _l("Exported")}

TABLE_LABELS = {
    "organizations": _l("Organization"), "locations": _l("Location"), "checkpoints": _l("Checkpoint"),
    "staff": _l("Staff"), "persons": _l("Resident"), "vaccinations": _l("Vaccination"),
    "test_results": _l("Test result"), "recoveries": _l("Recovery"), "users": _l("User account"),
    "user_sessions": _l("Session"), "signing_keys": _l("Signing key"), "device_tokens": _l("Device token"),
    "checkins": _l("Check-in"), "checkin_daily": _l("Daily check-in counts"), "assessments": _l("Assessment"),
    "criteria_set_versions": _l("Criteria set"), "personal_qr_issues": _l("Personal QR card"),
    "trace_cases": _l("Tracing case"), "trace_alerts": _l("Tracing alert"), "trace_referrals": _l("Referral"),
    "import_records": _l("Import"), "audit_log": _l("Audit log"), "person_reads": _l("Record view"),
    "districts": _l("District"), "wards": _l("Ward"),
    "user_districts": _l("Inspector's districts"), "user_checkpoints": _l("Staff member's checkpoints"),
    "rule_files_in_force": _l("Rule files in force"), "rule_hosts": _l("Rule files loaded by each server"),
    "job_runs": _l("Periodic job runs"), "report_files": _l("Prepared workbooks"),
    "retired_days": _l("Retired check-in days"),
}


def table_label(table: str | None) -> str:
    return str(TABLE_LABELS[table]) if table in TABLE_LABELS else (table or "")


def action_label(action: str | None) -> str:
    """The action in words: its own label, or "<verb>: <record type>" for the model views' create, update,
    delete and export; an action from a newer version of the code than these labels shows as written."""
    if not action:
        return ""
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    table, _dot, verb = action.rpartition(".")
    if verb in VERB_LABELS and table:
        return _("%(verb)s: %(record)s", verb=VERB_LABELS[verb], record=table_label(table))
    return action
