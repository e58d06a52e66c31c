"""Admin pages: self-assessment (organization admins), inspections and compliance lists (inspectors, city
admins), and the criteria sets themselves. Thin: load → check access → call the service → render."""
from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from backoffice import audit, exports
from backoffice.auth.permissions import PolicyView, allows, deny
from backoffice.criteria import compliance, display, inspections, printout, service
from backoffice.criteria.forms import answer_form, answers_from, field_name, note_name, record_from
from backoffice.criteria.registry import registry
from backoffice.domain import SECTOR_LABELS, AssessmentKind, Sector
from backoffice.errors import BadRequest, OutOfScope
from backoffice.timeutil import local_today, now_utc, to_local

CATEGORY = _l("Assessments")


def _sector_label(value: str) -> str:
    try:
        return str(SECTOR_LABELS[Sector(value)])
    except ValueError:
        return value


class AssessmentView(PolicyView):
    """Self-assessment for organization admins; the same form and result pages serve inspections."""

    action = "criteria.assess"

    def is_visible(self) -> bool:
        return allows("criteria.self_assess")

    @expose("/")
    def index(self):
        if not allows("criteria.self_assess"):
            return redirect(url_for("compliance.index_view"))
        org = current_user.organization
        sets, general = registry().offered(org.sector, local_today())
        return self.render("criteria/self_index.html", org=org, sets=sets, general=general,
                           history=service.history(current_user, org), level_label=_level_label,
                           set_title=_set_title, follow_up=_follow_up, sector_label=_sector_label,
                           to_local=to_local)

    @expose("/start", methods=["POST"])
    def start(self):
        kind = AssessmentKind.INSPECTION if request.form.get("kind") == "inspection" else AssessmentKind.SELF
        org_id = request.form.get("org_id", type=int) or current_user.organization_id
        if org_id is None:
            raise BadRequest(code="assessment.start.no_organization")
        try:
            assessment = service.start_assessment(current_user, org_id, request.form.get("set_id", ""), kind)
        except service.NotOffered:
            raise BadRequest(_("This criteria set is not one of those for the organization's sector."),
                             "assessment.start.not_offered") from None
        except service.Forbidden as exc:
            deny(f"assessment.start.{exc}")
        return redirect(url_for(".edit", assessment_id=assessment.id))

    @expose("/<int:assessment_id>/edit", methods=["GET", "POST"])
    def edit(self, assessment_id: int):
        assessment = service.get_assessment(current_user, assessment_id)
        if assessment.state != "draft":
            return redirect(url_for(".result", assessment_id=assessment.id))
        compiled = service.compiled_for(assessment)
        submit = request.method == "POST" and "submit" in request.form
        inspection = assessment.kind == AssessmentKind.INSPECTION.value
        record = {"notes": assessment.criterion_notes, "findings": assessment.findings,
                  "deadline": assessment.remedy_deadline} if inspection else None
        form = answer_form(compiled, display.locale(), assessment.answers or {}, required=submit,
                           formdata=request.form if request.method == "POST" else None, record=record)
        status = 200
        if request.method == "POST":
            if form.validate():
                try:
                    service.save_answers(current_user, assessment.id, answers_from(form, compiled), submit,
                                         **(record_from(form, compiled) if inspection else {}))
                except service.AnswerErrors as exc:
                    for key, message in exc.errors.items():
                        name = note_name(key[5:]) if key.startswith("note:") else \
                            key if key in ("findings", "remedy_deadline") else field_name(key)
                        form[name].errors = [message]
                except service.Forbidden as exc:
                    deny(f"assessment.edit.{exc}")
                else:
                    if submit:
                        flash(_("Assessment submitted."), "success")
                        return redirect(url_for(".result", assessment_id=assessment.id))
                    flash(_("Draft saved."), "success")
                    return redirect(url_for(".edit", assessment_id=assessment.id))
            flash(_("Some answers are missing or out of range: nothing was saved."), "error")
            status = 400
        return self.render("criteria/form.html", assessment=assessment, compiled=compiled, form=form,
                           spec=compiled.spec, lang=display.locale(), field_name=field_name,
                           note_name=note_name, inspection=inspection), status

    @expose("/<int:assessment_id>")
    def result(self, assessment_id: int):
        assessment = service.get_assessment(current_user, assessment_id)
        compiled = service.compiled_for(assessment)
        own, comparison = (None, [])
        if assessment.kind == AssessmentKind.INSPECTION.value and assessment.result:
            own, comparison = service.compare(assessment)
        own_compiled = service.compiled_for(own) if own else None
        return self.render("criteria/result.html", assessment=assessment, spec=compiled.spec,
                           level=display.level_view(compiled, assessment.result),
                           rows=display.criterion_views(compiled, assessment.result), own=own,
                           failing=display.failing_views(compiled, assessment.result),
                           own_level=display.level_label(own_compiled, own.level if own else None),
                           comparison={d.criterion_id: d for d in comparison}, lang=display.locale(),
                           to_local=to_local, follow_up=_follow_up(assessment), people=printout.people(assessment),
                           notes=assessment.criterion_notes or {}, role=current_user.role,
                           own_org=current_user.organization_id == assessment.organization_id)

    @expose("/<int:assessment_id>/pdf")
    def pdf(self, assessment_id: int):
        """The printable record: "Biên bản tự đánh giá" or "Biên bản kiểm tra" (submitted assessments only)."""
        assessment = service.get_assessment(current_user, assessment_id)
        if not assessment.result:  # a draft has no record to print yet
            raise OutOfScope(code="assessment.pdf.draft")
        payload, filename = printout.pdf(assessment)
        audit.record_now("assessment.print", entity_name="assessments", entity_id=assessment.id,
                         organization_id=assessment.organization_id, district_code=assessment.district_code,
                         after={"kind": assessment.kind})
        return exports.download(payload, filename, "application/pdf")

    @expose("/<int:assessment_id>/follow-up/<step>", methods=["POST"])
    def follow_up_step(self, assessment_id: int, step: str):
        verbs = {"remedied": lambda: inspections.mark_remedied(current_user, assessment_id,
                                                               request.form.get("note", "")),
                 "close": lambda: inspections.close(current_user, assessment_id),
                 "reopen": lambda: inspections.reopen(current_user, assessment_id)}
        if step not in verbs:
            raise OutOfScope(code="assessment.follow_up.step")
        try:
            verbs[step]()
        except service.Forbidden as exc:
            deny(f"assessment.{exc}")
        except inspections.FollowUpError as exc:
            flash(str(exc), "error")
        else:
            flash({"remedied": _("Marked remedied."), "close": _("Follow-up closed."),
                   "reopen": _("Follow-up reopened.")}[step], "success")
        return redirect(url_for(".result", assessment_id=assessment_id))


def _level_label(assessment) -> str:
    return display.level_label(service.compiled_for(assessment), assessment.level)


def _set_title(assessment) -> str:
    """The set's title as it was frozen for this assessment (history shows names, not ids)."""
    return service.compiled_for(assessment).spec.title.get(display.locale())


def _follow_up(assessment) -> dict | None:
    """An inspection's follow-up for the pages: state label, badge colour, deadline, whether it is overdue."""
    if assessment.follow_up is None:
        return None
    return display.follow_up_view(assessment, local_today())


def _filters() -> compliance.Filters:
    overdue = request.args.get("overdue")
    return compliance.Filters(
        district=request.args.get("district", type=int), ward=request.args.get("ward", type=int),
        sector=request.args.get("sector") or None, level=request.args.get("level") or None,
        set_id=request.args.get("set") or None,
        overdue={"1": True, "0": False}.get(overdue or ""), q=(request.args.get("q") or "").strip()[:128] or None)


def _set_choices() -> list[tuple[str, str]]:
    """Every criteria set (by id, titled as its newest version), for the compliance list's set filter."""
    titles: dict[str, tuple[tuple, str]] = {}
    for loaded in registry().sets.values():
        key = (loaded.spec.valid_from, loaded.spec.version)
        if loaded.spec.id not in titles or key > titles[loaded.spec.id][0]:
            titles[loaded.spec.id] = (key, loaded.spec.title.get(display.locale()))
    return sorted(((set_id, title) for set_id, (_key, title) in titles.items()), key=lambda kv: kv[1])


def _level_choices() -> dict[str, list[tuple[str, str]]]:
    """The levels of each set, so the list filters by one set's levels, never by a mix of every set's:
    the page offers those of the chosen set, and its script swaps them when another set is chosen."""
    lang = display.locale()
    choices: dict[str, list[tuple[str, str]]] = {}
    for loaded in sorted(registry().sets.values(), key=lambda s: s.spec.version):
        levels = choices.setdefault(loaded.spec.id, [])
        for level in loaded.spec.levels:
            if level.id not in {code for code, _label in levels}:
                levels.append((level.id, level.label.get(lang)))
    for set_levels in choices.values():
        set_levels.append(("not_evaluable", _("Not evaluable")))
    return choices


class ComplianceView(PolicyView):
    action = "compliance.inspect"
    per_page = 50

    def _overdue_days(self) -> int:
        return int(current_app.config["CRITERIA_OVERDUE_DAYS"])

    @expose("/")
    def index_view(self):
        filters, number = _filters(), max(request.args.get("page", 1, type=int), 1)
        rows, total = compliance.page(current_user, filters, now_utc(), self._overdue_days(), number, self.per_page)
        from backoffice.admin.filters import district_options, ward_options
        pages = max((total + self.per_page - 1) // self.per_page, 1)
        return self.render("criteria/compliance.html", rows=rows, total=total, page=number, pages=pages,
                           filters=filters, districts=district_options(), wards=ward_options(),
                           sectors=[(s.value, str(label)) for s, label in SECTOR_LABELS.items()],
                           sets=_set_choices(), levels=_level_choices(), level_label=_row_level,
                           sector_label=_sector_label,
                           overdue_days=self._overdue_days(), to_local=to_local, args=request.args.to_dict())

    @expose("/export")
    def export(self):
        filters = _filters()
        headers = [_("Organization"), _("Tax code"), _("Sector"), _("District"), _("Ward"),
                   _("Latest self-assessment"), _("Level"), _("Percent"), _("Latest inspection"),
                   _("Inspection level"), _("Staff green share"), _("Overdue")]
        count = 0

        def rows():
            nonlocal count
            for r in compliance.iterate(current_user, filters, now_utc(), self._overdue_days()):
                count += 1
                yield [r.name, r.tax_code, _sector_label(r.sector), r.district, r.ward,
                       to_local(r.self_at) if r.self_at else None, _row_level(r.self_set, r.self_level),
                       r.self_percent, to_local(r.insp_at) if r.insp_at else None,
                       _row_level(r.self_set, r.insp_level),
                       r.green_share, _("Yes") if r.overdue else _("No")]

        payload = exports.xlsx_bytes(_("Compliance"), headers, rows())
        audit.record_now("compliance.export", entity_name="organizations",
                         after={"rows": count, "format": "xlsx", "filters": request.args.to_dict()})
        return exports.download(payload, f"compliance-{local_today():%Y%m%d}.xlsx", exports.XLSX_MIMETYPE)

    @expose("/org/<int:org_id>")
    def organization(self, org_id: int):
        org = service.get_organization(current_user, org_id)  # NotFound (OutOfScope): 404
        sets, general = registry().offered(org.sector, local_today())
        return self.render("criteria/org_history.html", org=org, history=service.history(current_user, org),
                           sets=sets, general=general, level_label=_level_label, set_title=_set_title,
                           follow_up=_follow_up, sector_label=_sector_label, to_local=to_local)


def _row_level(set_id: str | None, level_id: str | None) -> str:
    if not level_id:
        return ""
    for loaded in registry().sets.values():
        if set_id is None or loaded.spec.id == set_id:
            level = loaded.spec.level(level_id)
            if level:
                return level.label.get(display.locale())
    return display.level_label(None, level_id)


class CriteriaSetsView(PolicyView):
    action = "criteria.sets"

    @expose("/")
    def index(self):
        sets = sorted(registry().sets.values(), key=lambda s: (s.spec.id, s.spec.version))
        return self.render("criteria/sets.html", sets=sets, lang=display.locale(), today=local_today(),
                           sector_label=_sector_label)

    @expose("/<set_id>/<version>")
    def detail(self, set_id: str, version: str):
        loaded = registry().sets.get((set_id, version))
        if loaded is None:
            raise OutOfScope(code="criteria_sets.not_found")
        return self.render("criteria/set_detail.html", loaded=loaded, spec=loaded.spec, lang=display.locale(),
                           rows=display.criterion_views(loaded.compiled, None), sector_label=_sector_label)


def init_views(app) -> None:
    from backoffice.admin import admin_for
    admin = admin_for(app)
    admin.add_view(AssessmentView(name=_l("Self-assessment"), category=CATEGORY, endpoint="assessment",
                                  url="/admin/assessment"))
    admin.add_view(ComplianceView(name=_l("Compliance"), category=CATEGORY, endpoint="compliance",
                                  url="/admin/compliance"))
    admin.add_view(CriteriaSetsView(name=_l("Criteria sets"), category=CATEGORY, endpoint="criteria_sets",
                                    url="/admin/criteria-sets"))
