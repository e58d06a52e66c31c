"""How a staff row's link to the registry is shown to its organization: only what the organization did or was
shown itself, never whether the ID number it typed is in the registry."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

COLUMN_LABELS = {"link_method": _l("Health data link"), "linked_at": _l("Linked at")}
LINK_LABELS = {"signed_scan": _l("Verified: own signed QR scanned"), "ward": _l("Verified: confirmed by the ward")}


def link_status(view, context, model, name) -> str:
    """Flask-Admin formatter of a Staff row's link: verified (how), awaiting verification, or nothing."""
    if model.person_id is not None:
        return str(LINK_LABELS.get(model.link_method or "", _l("Verified")))
    return str(_l("Awaiting verification")) if model.id_number else ""
