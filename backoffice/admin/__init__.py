"""Flask-Admin: the scoped base view, model views and custom views, wired into one Admin."""
from __future__ import annotations

from flask import Blueprint, Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from backoffice.extensions import db
from backoffice.security import csp_nonce

CAT_ORGS = _l("Organizations")
CAT_PEOPLE = _l("Residents")
CAT_SYSTEM = _l("System")


def admin_for(app: Flask) -> Admin:
    """The app's Admin; capability packages add their views to it in their own `init_app`."""
    return app.extensions["backoffice_admin"]


def init_admin(app: Flask) -> None:
    from backoffice import models as m
    from backoffice.admin.accounts import AuditLogView, UserView
    from backoffice.admin.base import role_label
    from backoffice.admin.home import HomeView
    from backoffice.admin.orgs import CheckpointView, LocationView, OrganizationView, StaffView
    from backoffice.admin.people import PersonView, RecoveryView, TestResultView, VaccinationView
    from backoffice.registration.views import RegistrationView

    # Our overrides of Flask-Admin templates (no inline handlers, see admin/actions.html) must be found before
    # Flask-Admin's own, so this blueprint is registered before the Admin registers its views.
    app.register_blueprint(Blueprint("bo_admin", __name__, template_folder="templates", static_folder="static",
                                     static_url_path="/admin/bo-static"))
    admin = Admin(app, name=_l("Safe operation — HCMC"), index_view=HomeView(name=_l("Home"), url="/admin"),
                  theme=Bootstrap4Theme(base_template="bo_master.html", swatch="default"),
                  csp_nonce_generator=csp_nonce)
    app.extensions["backoffice_admin"] = admin
    s = db  # Flask-Admin 2 takes the Flask-SQLAlchemy object
    admin.add_view(OrganizationView(m.Organization, s, name=_l("Organizations"), category=CAT_ORGS,
                                    endpoint="organization"))
    admin.add_view(RegistrationView(m.Organization, s, name=_l("Registrations to approve"), category=CAT_ORGS,
                                    endpoint="registration_admin"))
    admin.add_view(LocationView(m.Location, s, name=_l("Locations"), category=CAT_ORGS, endpoint="location"))
    admin.add_view(CheckpointView(m.Checkpoint, s, name=_l("Checkpoints"), category=CAT_ORGS, endpoint="checkpoint"))
    admin.add_view(StaffView(m.Staff, s, name=_l("Staff"), category=CAT_ORGS, endpoint="staff"))
    admin.add_view(PersonView(m.Person, s, name=_l("Residents"), category=CAT_PEOPLE, endpoint="person"))
    admin.add_view(VaccinationView(m.Vaccination, s, name=_l("Vaccinations"), category=CAT_PEOPLE,
                                   endpoint="vaccination"))
    admin.add_view(TestResultView(m.TestResult, s, name=_l("Test results"), category=CAT_PEOPLE,
                                  endpoint="testresult"))
    admin.add_view(RecoveryView(m.Recovery, s, name=_l("Recoveries"), category=CAT_PEOPLE, endpoint="recovery"))
    # Staff links the person proved (ward officers confirm) and the linked staff's health summary (organizations).
    from backoffice import staff
    from backoffice.staff.views import add_views as add_staff_views
    staff.init_app(app)
    add_staff_views(admin, CAT_ORGS, CAT_PEOPLE)
    admin.add_view(UserView(m.User, s, name=_l("Users"), category=CAT_SYSTEM, endpoint="user"))
    admin.add_view(AuditLogView(m.AuditLog, s, name=_l("Audit log"), category=CAT_SYSTEM, endpoint="auditlog"))
    app.jinja_env.globals["role_label"] = role_label
