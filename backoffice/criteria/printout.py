"""The printable record of a submitted assessment: "Biên bản tự đánh giá" for a
self-assessment, "Biên bản kiểm tra" for an inspection, as an A4 PDF in the reader's language.

Built with reportlab's platypus (paragraphs and tables that flow over pages) in DejaVu Sans, the font the QR
posters use (printing.layout), which covers Vietnamese. Everything printed comes from the stored result read with the
frozen set version, as the result page shows it: a record printed later says what was decided then.
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from xml.sax.saxutils import escape

from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from backoffice.criteria import display
from backoffice.domain import SECTOR_LABELS, AssessmentKind, Sector
from backoffice.extensions import db
from backoffice.models import Assessment, User
from backoffice.printing.layout import FONT_DIR, FONTS
from backoffice.timeutil import local_today, to_local


@lru_cache(maxsize=None)
def _fonts() -> tuple[str, str]:
    for bold in (False, True):
        name, filename = FONTS[bold]
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, os.path.join(FONT_DIR, filename)))
    return FONTS[False][0], FONTS[True][0]


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=9.5, leading=12.5)
    return {"base": base,
            "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=11),
            "centre": ParagraphStyle("centre", parent=base, alignment=TA_CENTER),
            "nation": ParagraphStyle("nation", parent=base, fontName=bold, alignment=TA_CENTER),
            "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=15, leading=20,
                                    alignment=TA_CENTER, spaceBefore=4 * mm, spaceAfter=3 * mm),
            "h2": ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11, leading=14, spaceBefore=3 * mm,
                                 spaceAfter=1.5 * mm),
            "cell_bold": ParagraphStyle("cell_bold", parent=base, fontName=bold, fontSize=8.5, leading=11)}


def people(assessment: Assessment) -> dict[int, str]:
    """Display names of the users who started, submitted and followed up the assessment."""
    ids = {assessment.created_by_id, assessment.submitted_by_id, assessment.remedied_by_id, assessment.closed_by_id}
    ids.discard(None)
    if not ids:
        return {}
    return {u.id: (u.full_name or u.username) for u in db.session.query(User).filter(User.id.in_(ids))}


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


def _when(value) -> str:
    return to_local(value).strftime("%d/%m/%Y %H:%M") if value else ""


def title_of(assessment: Assessment) -> str:
    return _("SELF-ASSESSMENT RECORD") if assessment.kind == AssessmentKind.SELF.value else \
        _("INSPECTION RECORD")


def pdf(assessment: Assessment) -> tuple[bytes, str]:
    """The PDF and its file name."""
    from backoffice.criteria.service import compiled_for
    compiled = compiled_for(assessment)
    spec, lang, result = compiled.spec, display.locale(), assessment.result or {}
    s = _styles()
    org = assessment.organization
    names = people(assessment)
    inspection = assessment.kind == AssessmentKind.INSPECTION.value
    story: list = [_p(_("SOCIALIST REPUBLIC OF VIET NAM"), s["nation"]),
                   _p(_("Independence – Freedom – Happiness"), s["nation"]),
                   _p(title_of(assessment), s["title"]),
                   _p(_("On the COVID-19 safety criteria: %(set)s", set=spec.title.get(lang)), s["centre"]),
                   Spacer(0, 3 * mm)]
    try:
        sector = str(SECTOR_LABELS[Sector(org.sector)])
    except ValueError:
        sector = org.sector
    facts = [(_("Organization"), org.name), (_("Tax code"), org.tax_code), (_("Sector"), sector),
             (_("Address"), ", ".join(p for p in (org.address, org.ward.name if org.ward else "",
                                                   org.district.name if org.district else "") if p)),
             (_("Criteria set"), f"{spec.title.get(lang)} — {spec.source.reference} — "
                                 + _("version %(v)s", v=spec.version)),
             (_("Submitted"), _when(assessment.submitted_at)),
             (_("Inspector") if inspection else _("Assessed by"), names.get(assessment.submitted_by_id, ""))]
    if spec.illustrative:
        facts.append((_("Illustrative"), _("the official text of this set is not available; its criteria and "
                                           "points are illustrative, not the law.")))
    story.append(_table([[_p(k, s["cell_bold"]), _p(v, s["small"])] for k, v in facts], [40 * mm, 130 * mm],
                        grid=False))

    story.append(_p(_("Result"), s["h2"]))
    level = display.level_view(compiled, result)
    aggregates = result.get("aggregates", {})
    lines = [_("Level: %(level)s", level=level.label if level else "")]
    if aggregates:
        lines.append(_("Score: %(score)s / %(max)s (%(percent)s%%)", score=f"{aggregates['score']:g}",
                       max=f"{aggregates['max_score']:g}", percent=f"{aggregates['percent']:.2f}"))
    if level and level.reason:
        lines.append(_("Because: %(reason)s", reason=level.reason))
    if level and level.may_operate is not None:
        lines.append(_("May operate") if level.may_operate else _("May not operate"))
    story += [_p(line, s["base"]) for line in lines]

    failing = display.failing_views(compiled, result)
    if failing:
        story.append(_p(_("Criteria not met"), s["h2"]))
        for f in failing:
            story.append(_p("• " + failing_sentence(f), s["base"]))

    story.append(_p(_("Criteria"), s["h2"]))
    notes = assessment.criterion_notes or {}
    header = [_("Criterion"), _("Value"), _("Points"), _("Reason")] + ([_("Inspector's note")] if inspection else [])
    rows = [[_p(h, s["cell_bold"]) for h in header]]
    for r in display.criterion_views(compiled, result):
        points = f"{r.points:g} / {r.max:g}" if r.points is not None else _("Not evaluable")
        text = f"{r.id}. {r.text}" + (f" ({_('Critical')})" if r.critical else "")
        row = [_p(text, s["small"]), _p(r.value, s["small"]), _p(points, s["small"]), _p(r.reason, s["small"])]
        if inspection:
            row.append(_p(notes.get(r.id, ""), s["small"]))
        rows.append(row)
    widths = [62 * mm, 22 * mm, 18 * mm, 40 * mm, 38 * mm] if inspection else [75 * mm, 27 * mm, 20 * mm, 58 * mm]
    story.append(_table(rows, widths, header=True))

    if inspection:
        story.append(_p(_("Findings"), s["h2"]))
        story.append(_p(assessment.findings or _("No findings recorded."), s["base"]))
        story.append(_p(_("Follow-up"), s["h2"]))
        view = display.follow_up_view(assessment, local_today())
        follow = [_("State: %(state)s", state=view.label)]
        if assessment.remedy_deadline:
            follow.append(_("Deadline to remedy: %(date)s", date=assessment.remedy_deadline.strftime("%d/%m/%Y")))
        if assessment.remedied_at:
            follow.append(_("Remedied on %(date)s by %(who)s: %(note)s", date=_when(assessment.remedied_at),
                            who=names.get(assessment.remedied_by_id, ""), note=assessment.remedy_note or ""))
        if assessment.closed_at:
            follow.append(_("Closed on %(date)s by %(who)s", date=_when(assessment.closed_at),
                            who=names.get(assessment.closed_by_id, "")))
        story += [_p(line, s["base"]) for line in follow]

    story.append(Spacer(0, 8 * mm))
    left = _("Representative of the organization") if inspection else _("Prepared by")
    right = _("Inspector") if inspection else _("Representative of the organization")
    sign = _("(signature, full name)")
    story.append(_table([[_p(left, s["nation"]), _p(right, s["nation"])],
                         [_p(sign, s["centre"]), _p(sign, s["centre"])]], [85 * mm, 85 * mm], grid=False))

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=title_of(assessment).capitalize(),
                            author=_("HCMC safe-operation back office"), creator="HCMC safe-operation back office")
    doc.build(story)
    stem = "bien-ban-tu-danh-gia" if not inspection else "bien-ban-kiem-tra"
    return out.getvalue(), f"{stem}-{assessment.id}.pdf"


def failing_sentence(f: display.FailingView) -> str:
    """One failed criterion in a sentence: its text, what it got, what it needed."""
    critical = _("critical") + ", " if f.critical else ""
    if not f.evaluable:
        return _("%(id)s. %(text)s (%(critical)snot evaluable): %(got)s", id=f.id, text=f.text,
                 critical=critical, got=f.got)
    return _("%(id)s. %(text)s (%(critical)s%(points)s/%(max)s points): got %(got)s, needed %(needed)s",
             id=f.id, text=f.text, critical=critical, points=f"{f.points:g}", max=f"{f.max:g}", got=f.got,
             needed=f.needed)


def _table(rows: list, widths: list, header: bool = False, grid: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 3),
             ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    if grid:
        style.append(("GRID", (0, 0), (-1, -1), 0.4, colors.grey))
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(style))
    return table
