"""The admin home page. Capabilities add dashboard panels through `register_panel` (reports fills it)."""
from __future__ import annotations

from typing import Callable

from flask import redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user
from markupsafe import Markup

# Each panel: (roles it is for, callable returning HTML for the current user). Kept in registration order.
_PANELS: list[tuple[frozenset[str], Callable[[], str]]] = []


def register_panel(roles: set[str] | frozenset[str], render: Callable[[], str]) -> None:
    _PANELS.append((frozenset(roles), render))


class HomeView(AdminIndexView):
    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("auth.login", next=request.full_path))

    @expose("/")
    def index(self):
        # Panels are HTML rendered from our own templates (escaped there): mark them safe here, once.
        panels = [Markup(render()) for roles, render in _PANELS if current_user.role in roles]
        return self.render("admin/home.html", panels=panels)
