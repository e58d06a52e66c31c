"""Interfaces of the reports: the admin reports page (pickers, preview, downloads) and the chart image endpoints.
Thin: scope and figures are decided in `scope`, `queries` and `service`."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from backoffice import exports
from backoffice.auth.permissions import PolicyView, allows, deny
from backoffice.domain import SECTOR_LABELS, Sector
from backoffice.errors import BadRequest, OutOfScope
from backoffice.replica import reads_replica
from backoffice.reports import charts, files, local, queries as q, service
from backoffice.reports.scope import ReportScope, resolve
from backoffice.timeutil import format_local

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")

AREA_CHARTS = {"levels", "coverage", "green", "checkins"}


@bp.url_defaults
def _chart_language(endpoint: str, values: dict) -> None:
    """Every chart address names the reader's language: the image is drawn in the session's language, and a
    browser keeps it for a minute under its address, so without this an image drawn in Vietnamese was still shown
    after switching to English (and back). Every template's `url_for('reports.chart', …)` gets it."""
    if endpoint == "reports.chart":
        values.setdefault("lang", str(get_locale()))
OWN_CHARTS = {"ward-status": "reports.ward", "org-checkins": "reports.organization"}  # chart → policy action


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 6:
        # a district that cannot exist is as unknown as one outside the scope
        raise OutOfScope(code="reports.district")
    return int(value)


def _date_arg() -> date | None:
    value = request.args.get("date", "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(_("The date must be written as YYYY-MM-DD."), "reports.date") from None


def request_scope(district: int | None = None) -> ReportScope:
    """The report scope the request asks for, as the current user may see it: ReportNotFound (404) outside it,
    ReportForbidden (403, audited as reports.role) by role."""
    return resolve(current_user._get_current_object(), district, sector=request.args.get("sector") or None,
                   as_of=_date_arg())


def _workbook(permission: str, build, *args) -> Response:
    """One report workbook for the current user, filtered by the request's sector and day."""
    try:
        report = build(current_user._get_current_object(), *args,
                       sector=request.args.get("sector") or None, as_of=_date_arg())
    except service.ReportForbidden:  # audited as the workbook's permission
        deny(permission)
    return exports.download(report.data, report.filename, exports.XLSX_MIMETYPE)


def _image(data: bytes, fmt: str) -> Response:
    response = Response(data, mimetype=charts.FORMATS[fmt])
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@bp.route("/charts/<name>.<fmt>")
@login_required
@reads_replica
def chart(name: str, fmt: str):
    """/reports/charts/levels.png?district=760&sector=&date=2021-10-20 (district omitted: the whole scope)."""
    if fmt not in charts.FORMATS:
        raise OutOfScope(code="reports.chart_format")
    if name in OWN_CHARTS:
        if not allows(OWN_CHARTS[name]):
            deny(f"reports.chart.{name}")
        user = current_user._get_current_object()
        scope_key = f"{user.role}:{user.ward_code}:{user.organization_id}"
        draw = {"ward-status": lambda: charts.status_chart(local.ward_figures(user)),
                "org-checkins": lambda: charts.checkins_chart(local.org_checkins_per_day(user))}[name]
        return _image(charts.cached_image(name, fmt, scope_key, draw), fmt)
    if name not in AREA_CHARTS:
        raise OutOfScope(code="reports.chart")
    rs = request_scope(_int_arg("district"))
    by_ward = len(rs.districts) == 1

    def draw():
        if name == "checkins":
            return charts.checkins_chart(q.checkins_per_day(rs))
        figures = charts.area_figures(rs, by_ward=by_ward)
        return {"levels": charts.levels_chart, "coverage": charts.coverage_chart,
                "green": charts.green_chart}[name](figures)

    return _image(charts.cached_image(name, fmt, rs.key, draw), fmt)


class ReportsView(PolicyView):
    """Reports page: district, sector and date pickers over the user's scope; key figures, charts, workbooks."""

    action = "reports.area"
    denied_as = "reports.access"

    @expose("/")
    @reads_replica
    def index(self):
        district = _int_arg("district")
        rs = request_scope(district)
        everything = request_scope(None) if district is not None else rs
        figures = charts.area_figures(rs, by_ward=len(rs.districts) == 1)
        total = q.totals(figures, 0, _("Total"))
        user_sector = current_user.sector
        sectors = [(s.value, SECTOR_LABELS[s]) for s in Sector if not user_sector or s.value == user_sector]
        params = {"district": district or "", "sector": rs.sector or "", "date": rs.as_of.isoformat()}
        in_queue = bool(current_app.config.get("BACKOFFICE_JOBS_IN_QUEUE"))
        return self.render("reports/index.html", rs=rs, district=district, districts=everything.names,
                           sectors=sectors, figures=figures, total=total, params=params,
                           valid_days=q.valid_days(), in_queue=in_queue,
                           recent=files.own_recent(current_user) if in_queue else [], state_of=files.state_of,
                           state_labels=files.STATE_LABELS, format_local=format_local)

    @expose("/district/<int:code>.xlsx")
    def district_workbook(self, code: int):
        return _workbook("reports.district", service.build_district_report, code)

    @expose("/city.xlsx")
    def city_workbook(self):
        return _workbook("reports.city", service.build_city_report)

    # --- workbooks prepared by the queue's worker ------------------------------------------------------------
    @expose("/files", methods=["POST"])
    def request_file(self):
        """Queue a workbook (?kind=district|city&district=&sector=&date=) and show its progress."""
        file = files.request_workbook(current_user._get_current_object(), request.args.get("kind", ""),
                                      _int_arg("district"), sector=request.args.get("sector") or None,
                                      as_of=_date_arg())
        return redirect(url_for(".file", file_id=file.id))

    @expose("/files/<int:file_id>")
    def file(self, file_id: int):
        file = files.get_own(current_user, file_id)
        return self.render("reports/file.html", file=file, state=files.state_of(file),
                           state_labels=files.STATE_LABELS, format_local=format_local)

    @expose("/files/<int:file_id>/status")
    def file_status(self, file_id: int):
        file = files.get_own(current_user, file_id)
        return jsonify({"state": files.state_of(file), "done": file.done, "total": file.total,
                        "message": file.message})

    @expose("/files/<int:file_id>.xlsx")
    def file_download(self, file_id: int):
        name, data = files.take(current_user._get_current_object(), file_id)
        return exports.download(data, name, exports.XLSX_MIMETYPE)
