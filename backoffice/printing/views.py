"""Admin pages for printing: location/organization posters (organization admins, and read-only for city
admins and inspectors) and personal QR cards (ward officers, city admins). Thin: the decisions are in
`printing.locations` and `printing.cards`, the drawing in `printing.render`."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from backoffice import audit, exports
from backoffice.admin.people import PEOPLE_LABELS, PersonView
from backoffice.auth.permissions import PolicyView, allows, deny
from backoffice.auth.scope import scope
from backoffice.domain import Role
from backoffice.errors import BadRequest, OutOfScope
from backoffice.extensions import db
from backoffice.models import District, Location, PersonalQRIssue, Ward, mask_id
from backoffice.printing import card_search
from backoffice.printing import cards
from backoffice.printing import locations
from backoffice.printing import render

PNG, PDF, SVG = "image/png", "application/pdf", "image/svg+xml"


def _send(data: bytes, filename: str, mimetype: str, attachment: bool = True):
    response = exports.download(data, filename, mimetype)
    if not attachment:
        response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- posters ---------------------------------------------------------------------------------------
class PostersView(PolicyView):
    """The organization QR and each location's QR: A4 posters (PDF, PNG), plain QR images, revocation."""

    action = "printing.posters"

    def _org(self, org_id):
        return locations.get_organization(current_user, org_id)  # OutOfScope: 404

    def _location(self, location_id, *, active: bool = True):
        location = locations.get_location(current_user, location_id)  # OutOfScope: 404
        if active and not location.active:
            # 410 Gone: the location is deactivated for good and its posters with it. No domain kind says "gone"
            # (a Conflict would invite a retry), so the plain HTTP answer stays.
            abort(410)
        return location

    @expose("/")
    def index(self):
        org_id = current_user.organization_id if current_user.role == Role.ORG_ADMIN.value else request.args.get("org")
        return self._page(self._org(org_id) if org_id else None)

    def _page(self, org, status: int = 200):
        """The poster list; without a usable public URL it says why and offers nothing to print."""
        orgs = [] if current_user.role == Role.ORG_ADMIN.value else locations.organizations_for(current_user)
        rows = list(db.session.scalars(select(Location).where(Location.organization_id == org.id)
                                       .order_by(Location.id))) if org else []
        problem = locations.public_url_problem()
        return self.render("printing/posters.html", orgs=orgs, org=org, locations=rows, problem=problem,
                           public_url=None if problem else locations.public_url(),
                           development=locations.development(), checkin_url=locations.checkin_url,
                           can_rotate=allows("printing.rotate")), status

    def _refused(self, org):
        """A poster or QR asked for while none may be printed: the page that says why (409), nothing made."""
        return self._page(org, 409)

    @expose("/org/<org_id>/all.pdf")
    def all_posters(self, org_id):
        org = self._org(org_id)
        try:
            posters = locations.organization_posters(org)
        except locations.PublicUrlMissing:
            return self._refused(org)
        response = _send(render.poster_pdf(posters, org.name), f"ma-qr-{org.id}.pdf", PDF)
        locations.record_print(current_user._get_current_object(), org, None, "pdf", len(posters))
        return response

    @expose("/org/<org_id>/poster.<fmt>")
    def org_poster(self, org_id, fmt):
        org = self._org(org_id)
        try:
            poster = locations.poster_for_organization(org)
        except locations.PublicUrlMissing:
            return self._refused(org)
        return self._poster(poster, fmt, f"ma-qr-don-vi-{org_id}", org, None)

    @expose("/location/<location_id>/poster.<fmt>")
    def location_poster(self, location_id, fmt):
        location = self._location(location_id)
        try:
            poster = locations.poster_for_location(location)
        except locations.PublicUrlMissing:
            return self._refused(location.organization)
        return self._poster(poster, fmt, f"ma-qr-dia-diem-{location_id}", location.organization, location)

    def _poster(self, poster: render.Poster, fmt: str, name: str, org, location):
        if fmt == "pdf":
            response = _send(render.poster_pdf([poster], poster.location_name or poster.organization_name),
                             f"{name}.pdf", PDF)
        elif fmt == "png":
            response = _send(render.poster_png(poster), f"{name}.png", PNG)
        else:
            raise OutOfScope(code="qr_posters.format")
        locations.record_print(current_user._get_current_object(), org, location, fmt)
        return response

    @expose("/location/<location_id>/qr.<fmt>")
    def location_qr(self, location_id, fmt):
        location = self._location(location_id)
        try:
            url = locations.checkin_url(location.qr_token)
        except locations.PublicUrlMissing:
            return self._refused(location.organization)
        return self._qr(url, fmt, f"qr-{location_id}")

    @expose("/org/<org_id>/qr.<fmt>")
    def org_qr(self, org_id, fmt):
        org = self._org(org_id)
        try:
            url = locations.checkin_url(org.qr_token)
        except locations.PublicUrlMissing:
            return self._refused(org)
        return self._qr(url, fmt, f"qr-don-vi-{org_id}")

    def _qr(self, url: str, fmt: str, name: str):
        inline = request.args.get("inline") == "1"
        if fmt == "png":
            return _send(render.qr_png(url), f"{name}.png", PNG, attachment=not inline)
        if fmt == "svg":
            return _send(render.qr_svg(url), f"{name}.svg", SVG)
        raise OutOfScope(code="qr_posters.format")

    def _may_rotate(self) -> None:
        # The role first: an inspector (who may read posters) is refused with 403 whatever the id, not told
        # by a 404 or 403 which ids exist.
        if not allows("printing.rotate"):
            deny("qr_posters.rotate")

    # Rotating revokes every printed poster: GET asks (what stops working, and what to do next), POST does it.
    @expose("/org/<org_id>/rotate", methods=["GET", "POST"])
    def rotate_org(self, org_id):
        self._may_rotate()
        org = self._org(org_id)
        if request.method == "GET":
            return self.render("printing/rotate_confirm.html", org=org, location=None,
                               action=url_for(".rotate_org", org_id=org.id), back=url_for(".index", org=org.id))
        return self._rotate(org, url_for(".index", org=org.id))

    @expose("/location/<location_id>/rotate", methods=["GET", "POST"])
    def rotate_location(self, location_id):
        self._may_rotate()
        location = self._location(location_id, active=False)
        back = url_for(".index", org=location.organization_id)
        if request.method == "GET":
            return self.render("printing/rotate_confirm.html", org=location.organization, location=location,
                               action=url_for(".rotate_location", location_id=location.id), back=back)
        return self._rotate(location, back)

    def _rotate(self, target, back: str):
        try:
            locations.rotate(current_user._get_current_object(), target)
        except locations.NotAllowed:  # audited under the page's name (OutOfScope answers 404 as it is)
            deny("qr_posters.rotate")
        flash(_("A new QR code was made. Posters printed before no longer work: print and put up the new one."),
              "warning")
        return redirect(back)


# --- personal QR cards -----------------------------------------------------------------------------
_person_args = PersonView.form_args  # the same validators as the resident form of the admin


class ResidentForm(FlaskForm):
    full_name = StringField(PEOPLE_LABELS["full_name"], validators=_person_args["full_name"]["validators"])
    id_type = SelectField(PEOPLE_LABELS["id_type"], choices=_person_args["id_type"]["choices"])
    id_number = StringField(PEOPLE_LABELS["id_number"], validators=_person_args["id_number"]["validators"])
    birth_date = DateField(PEOPLE_LABELS["birth_date"], validators=_person_args["birth_date"]["validators"])
    gender = SelectField(PEOPLE_LABELS["gender"], choices=_person_args["gender"]["choices"],
                         validators=_person_args["gender"]["validators"])
    phone = StringField(PEOPLE_LABELS["phone"], validators=_person_args["phone"]["validators"])
    address = StringField(PEOPLE_LABELS["address"], validators=_person_args["address"]["validators"])
    ward = SelectField(PEOPLE_LABELS["ward"], validators=[DataRequired()])


def _ward_choices() -> list[tuple[str, str]]:
    rows = db.session.execute(scope(select(Ward.code, Ward.name, District.name).join(District), current_user, Ward)
                              .order_by(Ward.district_code, Ward.code))
    return [(str(code), f"{name}, {district}") for code, name, district in rows]


class CardsView(PolicyView):
    """Find or register a resident of the ward; print one card (PDF, PNG) or a batch (one PDF)."""

    action = "printing.cards"

    @expose("/")
    def index(self):
        return self._list(request.args.get("q", ""), page=request.args.get("page", 1, type=int))

    def _list(self, q: str, error: str | None = None, page: int = 1):
        found = card_search.search(current_user, q, page)
        residents = found.residents
        printed = dict(db.session.execute(
            select(PersonalQRIssue.person_id, func.max(PersonalQRIssue.issued_at))
            .where(PersonalQRIssue.person_id.in_([p.id for p in residents])).group_by(PersonalQRIssue.person_id)).all())
        html = self.render("printing/cards.html", residents=residents, found=found, q=q, printed=printed, error=error,
                           mask_id=mask_id, max_batch=cards.MAX_BATCH)
        # The list shows residents' names and birth dates: a read of each shown, page by page.
        audit.read([p.id for p in residents], why="card search" if q.strip() else "card list", view="qr_cards",
                   search=q.strip()[:128], page=found.page)
        return html

    @expose("/register", methods=["GET", "POST"])
    def register(self):
        form = ResidentForm()
        form.ward.choices = _ward_choices()
        if current_user.role == Role.WARD_OFFICER.value and request.method == "GET":
            form.ward.data = str(current_user.ward_code)
        status = 200
        if request.method == "POST":
            status = 400
            if form.validate_on_submit():
                data = cards.NewResident(
                    full_name=form.full_name.data, id_type=form.id_type.data, id_number=form.id_number.data,
                    ward_code=int(form.ward.data), birth_date=form.birth_date.data, gender=form.gender.data,
                    phone=form.phone.data, address=form.address.data or "")
                try:
                    person = cards.register_resident(current_user._get_current_object(), data)
                except cards.CardError as exc:
                    getattr(form, exc.field or "full_name").errors.append(str(exc.message))
                    status = exc.status
                else:
                    flash(_("%(name)s is registered. Print the card below.", name=person.full_name), "success")
                    return redirect(url_for(".index", q=person.id_number))
        return self.render("printing/cards_register.html", form=form), status

    @expose("/print", methods=["POST"])
    def print_cards(self):
        fmt = request.form.get("format", "pdf")
        ids = request.form.getlist("person_id")
        if request.form.get("all_matching") == "1":
            # "Print all of this search": every match in scope, not just the page shown (one more than a batch
            # allows is asked for, so a search too big is refused by the batch limit, never cut short).
            ids = card_search.matching_ids(current_user, request.form.get("q", ""), cards.MAX_BATCH + 1)
        if fmt not in ("pdf", "png") or (fmt == "png" and len(ids) != 1):
            raise BadRequest(code="qr_cards.format")
        try:
            printed = cards.issue_cards(current_user._get_current_object(), ids, fmt=fmt)
        except cards.CardInvalid as exc:  # shown above the list; a resident out of scope is a plain 404
            return self._list(request.form.get("q", ""), str(exc.message)), 400
        stamp = printed[0].printed_on.strftime("%Y%m%d")
        if fmt == "png":
            response = _send(render.personal_card_png(printed[0]), f"the-qr-{ids[0]}-{stamp}.png", PNG)
        else:
            name = f"the-qr-{ids[0]}-{stamp}.pdf" if len(printed) == 1 else f"the-qr-{len(printed)}-{stamp}.pdf"
            response = _send(render.cards_pdf(printed), name, PDF)
        # Recorded once the file is made: a card shows the resident's name, masked ID and colour.
        audit.read(ids, why="card print", view="qr_cards", format=fmt)
        return response


def init_app(app) -> None:
    from backoffice.admin import CAT_ORGS, CAT_PEOPLE, admin_for
    locations.warn_if_unconfigured(app)
    admin = admin_for(app)
    admin.add_view(PostersView(name=_l("QR codes and posters"), endpoint="qr_posters", url="/admin/qr-posters",
                               category=CAT_ORGS))
    admin.add_view(CardsView(name=_l("Personal QR cards"), endpoint="qr_cards", url="/admin/qr-cards",
                             category=CAT_PEOPLE))
