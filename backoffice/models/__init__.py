"""All models, importable from one place (Alembic and the app need every table registered)."""
from backoffice.models.base import Base
from backoffice.models.geo import District, Ward
from backoffice.models.orgs import Checkpoint, DeviceToken, Location, Organization, Staff
from backoffice.models.people import Person, PersonalQRIssue, Recovery, TestResult, Vaccination, mask_id, new_qr_ref
from backoffice.models.checkins import CheckIn, CheckInDaily, RetiredDay
from backoffice.models.assessments import Assessment, CriteriaSetVersion
from backoffice.models.users import User, UserSession, user_checkpoints, user_districts
from backoffice.models.audit import AuditLog
from backoffice.models.imports import ImportRecord
from backoffice.models.tracing import SigningKey, TraceAlert, TraceCase, TraceReferral
from backoffice.models.rules import RuleFileInForce, RuleHost
from backoffice.models.jobs import JobRun
from backoffice.models.report_files import ReportFile

__all__ = [
    "Base", "District", "Ward", "Organization", "Location", "Checkpoint", "DeviceToken", "Staff",
    "Person", "PersonalQRIssue", "Vaccination", "TestResult", "Recovery", "mask_id", "new_qr_ref", "CheckIn", "CheckInDaily", "RetiredDay",
    "Assessment", "CriteriaSetVersion", "User", "UserSession", "user_districts", "user_checkpoints",
    "AuditLog", "ImportRecord", "SigningKey", "TraceCase", "TraceAlert", "TraceReferral", "RuleFileInForce", "RuleHost",
    "JobRun", "ReportFile",
]
