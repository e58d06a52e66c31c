"""Interfaces of staff linking: the ward officer's queue (confirm / reject, POST with CSRF) and the organization's
page of its linked staff's health summary. Thin: the verbs are in `backoffice.staff.service`."""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from backoffice import audit
from backoffice.auth.permissions import PolicyView
from backoffice.domain import COLOUR_LABELS, Colour
from backoffice.errors import OutOfScope
from backoffice.staff import service
from backoffice.timeutil import to_local

MAX_ID = 2**31 - 1
METHOD_LABELS = {service.SIGNED_SCAN: _l("own signed QR scanned"), service.WARD: _l("confirmed by the ward")}
TEST_LABELS = {"pcr": _l("RT-PCR"), "rapid": _l("Rapid antigen test"), "positive": _l("Positive"),
               "negative": _l("Negative")}


class StaffLinkQueueView(PolicyView):
    """Residents of the officer's ward whom an organization listed as staff: confirm or reject each link."""

    action = "staff.link_queue"

    @expose("/")
    def index(self):
        pending = service.pending_for_ward(current_user._get_current_object())
        return self.render("staff/link_queue.html", pending=pending, local=to_local)

    def _decide(self, staff_id: int, verb, message: str):
        if not 0 < staff_id <= MAX_ID:  # an id no column can hold is simply not found
            raise OutOfScope(code="staff_links.not_found")
        verb(current_user._get_current_object(), staff_id)  # LinkNotFound (OutOfScope): 404
        flash(message, "success")
        return redirect(url_for(".index"))

    @expose("/<int:staff_id>/confirm", methods=["POST"])
    def confirm(self, staff_id: int):
        return self._decide(staff_id, service.confirm_link, _("Confirmed: the organization now sees this "
                                                              "worker's health summary."))

    @expose("/<int:staff_id>/reject", methods=["POST"])
    def reject(self, staff_id: int):
        return self._decide(staff_id, service.reject_link, _("Rejected: the worker stays unlinked."))


class StaffHealthView(PolicyView):
    """An organization's linked staff: doses, latest test, latest recovery, colour, reason, green until."""

    action = "staff.health"

    @expose("/")
    def index(self):
        rows = service.health_summaries(current_user._get_current_object())
        # Every read of a person's records is audited: this page shows linked staff's health summaries.
        audit.read((r.person_id for r in rows), why="staff_health")
        return self.render("staff/health.html", rows=rows, local=to_local, colours=COLOUR_LABELS,
                           green=Colour.GREEN.value, methods=METHOD_LABELS, tests=TEST_LABELS)


def add_views(admin, cat_orgs, cat_people) -> None:
    admin.add_view(StaffHealthView(name=_l("Staff health status"), category=cat_orgs, endpoint="staff_health",
                                   url="/admin/staff-health"))
    admin.add_view(StaffLinkQueueView(name=_l("Staff links to confirm"), category=cat_people,
                                      endpoint="staff_links", url="/admin/staff-links"))
