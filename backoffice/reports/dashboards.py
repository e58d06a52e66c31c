"""Dashboard panels on the admin home, one per role, each showing only the user's scope."""
from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from backoffice.domain import Role
from backoffice.replica import reads_replica
from backoffice.reports import charts, local, queries as q
from backoffice.reports.labels import level_catalogue
from backoffice.reports.scope import resolve
from backoffice.timeutil import to_local


@reads_replica
def area_panel() -> str:
    """City admin: the city; inspector: its districts (and sector)."""
    user = current_user._get_current_object()
    rs = resolve(user)
    if not rs.districts:
        return ""
    figures = charts.area_figures(rs, by_ward=len(rs.districts) == 1)
    if user.role == Role.CITY_ADMIN:
        title = _("Ho Chi Minh City today")
    else:
        title = ", ".join(rs.names[c] for c in rs.districts)
        if rs.sector:
            from backoffice.reports.labels import sector_label
            title += f" — {sector_label(rs.sector)}"
    return Markup(render_template("reports/_panel_area.html", title=title, total=q.totals(figures),
                                  params={}, valid_days=q.valid_days(), wide=user.role == Role.CITY_ADMIN))


@reads_replica
def ward_panel() -> str:
    figures = local.ward_figures(current_user._get_current_object())
    return Markup(render_template("reports/_panel_ward.html", f=figures))


@reads_replica
def org_panel() -> str:
    figures = local.org_figures(current_user._get_current_object())
    if figures.organization is None:
        return ""
    cat = level_catalogue()
    return Markup(render_template("reports/_panel_org.html", f=figures, level_label=cat.label, to_local=to_local,
                                  valid_days=q.valid_days()))


_registered = False


def register() -> None:
    """Panels are process-wide (admin.home keeps a list); tests build more than one app."""
    global _registered
    if _registered:
        return
    from backoffice.admin.home import register_panel
    register_panel("reports.area", area_panel)
    register_panel("reports.ward", ward_panel)
    register_panel("reports.organization", org_panel)
    _registered = True
