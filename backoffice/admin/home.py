"""The admin home page. Capabilities add dashboard panels through `register_panel` (reports fills it)."""
from __future__ import annotations

from typing import Callable

from flask import redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user
from markupsafe import Markup

from backoffice.auth import policy

# Each panel: (the policy action of those it is for, callable returning HTML for the current user), in
# registration order.
_PANELS: list[tuple[str, Callable[[], str]]] = []


def register_panel(action: str, render: Callable[[], str]) -> None:
    policy.roles_for(action)  # an unknown action raises here, at start-up, not on someone's home page
    _PANELS.append((action, render))


class HomeView(AdminIndexView):
    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("auth.login", next=request.full_path))

    @expose("/")
    def index(self):
        # Panels are HTML rendered from our own templates (escaped there): mark them safe here, once.
        panels = [Markup(render()) for action, render in _PANELS if policy.may(current_user, action)]
        return self.render("admin/home.html", panels=panels)
