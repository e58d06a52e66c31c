"""CSV/Excel injection on every export: records named like formulas (=, +, -, @) in scope, then each download
found in the url_map read back cell by cell — an .xlsx holds no formula cell (text stays text), a .csv cell never
starts with a formula character (it is prefixed with ').

The export endpoints are enumerated from `app.url_map` (an `export` in the endpoint, or a .csv/.xlsx route), so
an export added later without an entry in DOWNLOADS fails `test_every_export_is_checked`."""
from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta

import pytest
from flask_admin.contrib.sqla import ModelView
from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.admin import admin_for
from backoffice.demo.seed import BEN_NGHE
from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import CheckIn, Location, Organization, Staff, TestResult
from backoffice.timeutil import now_utc
from conftest import get_user
from factories import build_organization, build_person, new_id_number
from pages_support import Isolated

TAG = secrets.token_hex(3)
PAYLOADS = [f'=HYPERLINK("http://evil.example/{TAG}","x")', f"+SUM(1,2) {TAG}", f"-2+3 {TAG}", f"@cmd {TAG}"]
DANGER = ("=", "+", "-", "@", "\t", "\r")

# endpoint → how it is checked (the URL list is built in `_downloads`); None: not a spreadsheet of user data.
DOWNLOADS = {
    "export": "every model view, csv and xlsx, as the city admin",
    "compliance.export": "xlsx, inspector.q1",
    "tracing_admin.export": "xlsx and csv of a case whose contacts carry the payloads",
    "reports_admin.city_workbook": "xlsx, admin",
    "reports_admin.district_workbook": "xlsx, inspector.q1 for Quận 1",
    "reports_admin.file_download": None,  # the bytes of the two workbooks above, written by the worker
    "import_organizations.errors": "the error report of an upload whose cells are the payloads",
    "import_organizations.template": "xlsx template (no user data), still checked",
    "import_staff.template": "xlsx template", "import_residents.template": "xlsx template",
    "import_staff.errors": None, "import_residents.errors": None,  # same code path as organizations
    "import_organizations.credentials": None, "import_staff.credentials": None,  # generated usernames and
    "import_residents.credentials": None,  # passwords only, and a one-time download (tests/test_imports_*)
}


def _export_endpoints(app) -> set[str]:
    found = set()
    for rule in app.url_map.iter_rules():
        _view, _, name = rule.endpoint.rpartition(".")
        if name == "export" and "<export_type>" in rule.rule:
            found.add("export")
        elif "export" in rule.endpoint or rule.rule.endswith((".xlsx", ".csv")) or "<fmt>" in rule.rule and \
                "export" in rule.rule:
            found.add(rule.endpoint)
    return found


def test_every_export_is_checked(app):
    missing = _export_endpoints(app) - set(DOWNLOADS)
    assert missing == set(), f"exports not checked for formula injection: {sorted(missing)}"


@pytest.fixture(scope="module")
def injected(app):
    """Rows whose names are formulas, in the scope of admin, inspector.q1 (Quận 1) and org1."""
    with app.app_context():
        admin = get_user("org1.admin")
        org1 = db.session.get(Organization, admin.organization_id)
        orgs = [build_organization(p, sector=org1.sector, address=p) for p in PAYLOADS]
        people = [build_person(p, BEN_NGHE, id_type="cccd", id_number=new_id_number("0799"), address=p)
                  for p in PAYLOADS]
        db.session.add_all(orgs + people)
        db.session.flush()
        location = Location(organization_id=org1.id, name=PAYLOADS[0])
        db.session.add(location)
        db.session.flush()
        db.session.add_all([Staff(organization_id=org1.id, full_name=p, person_id=people[i].id)
                            for i, p in enumerate(PAYLOADS)])
        # The case and its contacts: everyone at the location an hour ago, for twenty minutes.
        start = now_utc() - timedelta(hours=1)
        for person in people:
            db.session.add(CheckIn(person_id=person.id, organization_id=org1.id, location_id=location.id,
                                   checked_in_at=start, last_seen_at=start + timedelta(minutes=20),
                                   checked_out_at=start + timedelta(minutes=20), checkout_reason="exit",
                                   status_colour="green", method="scanner"))
        # The case's basis: a positive test (Core insert: the positive-test trigger would open a second case).
        db.session.execute(TestResult.__table__.insert(), [{"person_id": people[0].id, "kind": "pcr",
                                                            "result": "positive", "tested_at": now_utc()}])
        db.session.commit()
        from backoffice.tracing import service as tracing
        case = tracing.open_case(get_user("admin"), people[0].id, confirmed_at=now_utc())
        return {"case": case.case.id, "people": [p.id for p in people]}


def _cells(response) -> list[str]:
    """Every cell of a download, with formula cells reported as such."""
    kind = response.headers["Content-Type"]
    data = response.get_data()
    if "spreadsheetml" in kind:
        workbook = load_workbook(io.BytesIO(data))  # not read-only: data_type tells formula from text
        out = []
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        out.append(f"FORMULA {cell.coordinate}: {cell.value}")
                    elif isinstance(cell.value, str):
                        out.append(cell.value)
        return out
    assert "text/csv" in kind, kind
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row]


def _check(label: str, response) -> list[str]:
    assert response.status_code == 200, (label, response.status_code)
    cells = _cells(response)
    problems = [f"{label}: {c[:80]}" for c in cells if c.startswith("FORMULA")]
    if "text/csv" in response.headers["Content-Type"]:
        problems += [f"{label}: unprefixed {c[:60]!r}" for c in cells if c.startswith(DANGER)]
    return problems, cells


def _client(app, as_user, username: str):
    return Isolated(app, as_user(username))


def test_model_view_exports_are_formula_safe(app, as_user, injected):
    browser = _client(app, as_user, "admin")
    problems, seen = [], set()
    for view in admin_for(app)._views:
        if not isinstance(view, ModelView) or "export" not in view.access.get(Role.CITY_ADMIN, ()):
            continue
        for kind in ("csv", "xlsx"):
            found, cells = _check(f"{view.endpoint}.{kind}", browser.get(f"{view.url}/export/{kind}/"))
            problems += found
            seen |= {view.endpoint for c in cells if TAG in c}
    assert problems == [], "\n".join(problems)
    # The payloads were really there to be neutralised (names of organizations, residents, locations, staff).
    assert {"organization", "person", "location", "staff"} <= seen, seen


def test_org_admin_exports_are_formula_safe(app, as_user, injected):
    browser = _client(app, as_user, "org1.admin")
    problems = []
    for endpoint in ("location", "staff"):
        for kind in ("csv", "xlsx"):
            found, cells = _check(f"{endpoint}.{kind}", browser.get(f"/admin/{endpoint}/export/{kind}/"))
            problems += found
            assert any(TAG in c for c in cells), endpoint
    assert problems == [], "\n".join(problems)


def test_compliance_reports_and_templates_are_formula_safe(app, as_user, injected):
    problems = []
    inspector = _client(app, as_user, "inspector.q1")
    found, cells = _check("compliance", inspector.get("/admin/compliance/export"))
    problems += found
    assert any(TAG in c for c in cells), "the injected organizations are not in the compliance export"
    problems += _check("district 760", inspector.get("/admin/reports/district/760.xlsx"))[0]
    admin = _client(app, as_user, "admin")
    problems += _check("city", admin.get("/admin/reports/city.xlsx"))[0]
    problems += _check("template organizations", admin.get("/admin/imports/organizations/template.xlsx"))[0]
    problems += _check("template staff", _client(app, as_user, "org1.admin").get(
        "/admin/imports/staff/template.xlsx"))[0]
    problems += _check("template residents", _client(app, as_user, "ward.bennghe").get(
        "/admin/imports/residents/template.xlsx"))[0]
    assert problems == [], "\n".join(problems)


def test_tracing_exports_are_formula_safe(app, as_user, injected):
    browser = _client(app, as_user, "admin")
    problems = []
    for kind in ("csv", "xlsx"):
        found, cells = _check(f"trace.{kind}", browser.get(f"/admin/tracing/{injected['case']}/export.{kind}"))
        problems += found
        assert sum(TAG in c for c in cells) >= len(PAYLOADS) - 1, "the contacts' names are not in the export"
    assert problems == [], "\n".join(problems)


def test_import_error_report_is_formula_safe(app, as_user, injected):
    browser = _client(app, as_user, "inspector.q1")
    rows = [["Tên đơn vị", "Mã số thuế", "Ngành", "Địa chỉ", "Quận/Huyện", "Phường/Xã"]]
    rows += [[p, p, p, p, p, p] for p in PAYLOADS]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    from conftest import csrf_token
    token = csrf_token(browser, "/admin/imports/organizations/")
    response = browser.post("/admin/imports/organizations/upload", data={
        "csrf_token": token, "file": (io.BytesIO(out.getvalue().encode("utf-8")), f"inj-{TAG}.csv")},
        content_type="multipart/form-data")
    assert response.status_code in (302, 303, 422), response.status_code
    with app.app_context():
        from backoffice.models import ImportRecord
        record = db.session.scalar(select(ImportRecord).where(ImportRecord.kind == "organizations")
                                   .order_by(ImportRecord.id.desc()))
        assert record is not None and record.error_report, "no error report for a file of bad rows"
        record_id = record.id
    found, cells = _check("import errors", browser.get(f"/admin/imports/organizations/{record_id}/errors.xlsx"))
    assert any(TAG in c for c in cells), "the bad cells are not echoed in the error report"
    assert found == [], "\n".join(found)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_failing_export_closes_its_workbook(app):
    """A write-only sheet left open by an error was closed by the garbage collector, which wrote into a file
    already gone ('Exception ignored in … _write_rows'): the workbook is closed where the error happens."""
    import gc
    from backoffice import exports

    def rows():
        yield ("Công ty A", 1)
        raise RuntimeError("the data source failed")

    with pytest.raises(RuntimeError, match="data source"):
        exports.xlsx_bytes("Tổ chức", ["Tên", "Số"], rows())
    gc.collect()
