"""The signing keys of personal QR codes in the back office (city admins): the key ring's list — key id, created,
signs from, retired — and its two changes, rotate and retire, each behind a confirmation page and a POST with
CSRF. Thin: the same operations as `flask keys rotate|retire` (`scanning.keyring`), which write the audit log."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.auth.permissions import PolicyView
from backoffice.errors import OutOfScope
from backoffice.extensions import db
from backoffice.models import SigningKey
from backoffice.scanning import keyring
from backoffice.timeutil import format_local


def key_state(row: SigningKey) -> str:
    """The key's state in words, as the list shows it."""
    if row.retired_at:
        return _("Retired")
    if row.signing:
        return _("Signing")
    if row.signs_from:
        return _("Next: signs from %(when)s", when=format_local(row.signs_from))
    return _("Verifies only")


class SigningKeysView(PolicyView):
    action = "keys.manage"

    @expose("/")
    def index(self):
        return self.render("scanning/keys.html", keys=keyring.list_keys(), state=key_state, when=format_local,
                           delay_minutes=round(keyring.activation_delay().total_seconds() / 60))

    @expose("/rotate", methods=["GET", "POST"])
    def rotate(self):
        if request.method == "GET":
            return self.render("scanning/keys_confirm.html", action="rotate", key=None,
                               delay_minutes=round(keyring.activation_delay().total_seconds() / 60))
        at_once = request.form.get("now") == "1"
        row = keyring.rotate(now=at_once)
        if row.signing:
            flash(_("New key %(kid)s signs from now on. Older keys still verify until retired.", kid=row.kid),
                  "success")
        else:
            flash(_("New key %(kid)s is published and signs from %(when)s; %(current)s signs until then.",
                    kid=row.kid, when=format_local(row.signs_from), current=keyring.current_signer().kid), "success")
        return redirect(url_for(".index"))

    @expose("/<kid>/retire", methods=["GET", "POST"])
    def retire(self, kid: str):
        row = db.session.get(SigningKey, kid.strip().upper()[:32])
        if row is None:
            raise OutOfScope(code="signing_keys.not_found")
        if request.method == "GET":
            return self.render("scanning/keys_confirm.html", action="retire", key=row, delay_minutes=0)
        if row.retired_at is not None:
            flash(_("Key %(kid)s is already retired.", kid=row.kid), "warning")
        elif row.signing:
            flash(_("Key %(kid)s signs the new cards: rotate first, then retire it.", kid=row.kid), "danger")
        else:
            keyring.retire(row.kid)
            flash(_("Key %(kid)s is retired: QR codes it signed are refused from now on.", kid=row.kid), "success")
        return redirect(url_for(".index"))


def init_app(app) -> None:
    from backoffice.admin import CAT_SYSTEM, admin_for
    admin_for(app).add_view(SigningKeysView(name=_l("QR signing keys"), endpoint="signing_keys",
                                            url="/admin/signing-keys", category=CAT_SYSTEM))
