"""District and city workbooks: openpyxl write-only sheets (rows stream to disk, memory stays flat) with native
Excel charts (openpyxl.chart) over the summary tables. Every text cell goes through `backoffice.exports`.
"""
from __future__ import annotations

from itertools import groupby
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.utils import get_column_letter

from backoffice import exports
from backoffice.health.staff_share import share
from backoffice.reports import queries as q
from backoffice.reports import overlap
from backoffice.reports.health import green_by_area, staff_tally
from backoffice.reports.labels import LevelCatalogue, level_catalogue, sector_label
from backoffice.reports.scope import CHECKIN_DAYS, RECENT_DAYS, ReportScope
from backoffice.timeutil import now_utc, to_local

Progress = Callable[[int], None]
CHART_COL = "J"  # charts sit right of the summary tables
CHART_ROWS = 18  # rows between stacked charts (a 7.5 cm chart is ~15 rows)
_BAD_TITLE = str.maketrans({c: " " for c in "[]:*?/\\"})


def _noop(_: int) -> None:
    pass


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def cells(ws, values: Iterable[Any]) -> list:
    """A row of values; formula-looking text, and text with characters a worksheet cannot hold, become cells
    made by exports (numbers, dates and ordinary text are passed as values, which write-only sheets store as
    such at full speed)."""
    return [exports.xlsx_cell(ws, v) if exports.looks_like_formula(v) or exports.has_illegal(v) else v
            for v in values]


def sheet_title(text: str) -> str:
    return text.translate(_BAD_TITLE)[:31]


class Summary:
    """A write-only summary sheet: titled blocks of rows, remembering where each table lies for its chart."""

    def __init__(self, wb: Workbook, title: str):
        self.ws = wb.create_sheet(sheet_title(title))
        self.ws.column_dimensions["A"].width = 34
        for col in "BCDEFGH":
            self.ws.column_dimensions[col].width = 14
        self.row = 0
        self.charts = 0

    def append(self, values: Sequence[Any], bold: bool = False) -> int:
        if bold:
            self.ws.append([exports.xlsx_cell(self.ws, v, bold=True) for v in values])
        else:
            self.ws.append(cells(self.ws, values))
        self.row += 1
        return self.row

    def table(self, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
              footer: Sequence[Any] | None = None) -> tuple[int, int]:
        """A block: title, header, rows, optional bold footer (totals), blank line. Returns (header row, last
        data row), the range charts read (the footer stays out of it)."""
        self.append([title], bold=True)
        header = self.append(headers, bold=True)
        last = header
        for row in rows:
            last = self.append(row)
        if footer is not None:
            self.append(footer, bold=True)
        self.append([])
        return header, last

    def chart(self, chart) -> None:
        chart.width, chart.height = 18, 8.5
        self.ws.add_chart(chart, f"{CHART_COL}{1 + self.charts * CHART_ROWS}")
        self.charts += 1


def _bar(title: str, ws, header: int, last: int, cols: tuple[int, int], y_title: str = "",
         stacked: bool = False, horizontal: bool = False) -> BarChart:
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.title, chart.y_axis.title = title, y_title
    if stacked:
        chart.grouping, chart.overlap = "stacked", 100
    data = Reference(ws, min_col=cols[0], max_col=cols[1], min_row=header, max_row=max(last, header + 1))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=max(last, header + 1)))
    return chart


def _pie(title: str, ws, header: int, last: int, col: int = 2) -> PieChart:
    chart = PieChart()
    chart.title = title
    chart.add_data(Reference(ws, min_col=col, min_row=header, max_row=max(last, header + 1)), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=max(last, header + 1)))
    return chart


def _line(title: str, ws, header: int, last: int, cols: tuple[int, int]) -> LineChart:
    chart = LineChart()
    chart.title, chart.y_axis.title = title, _("Check-ins")
    chart.add_data(Reference(ws, min_col=cols[0], max_col=cols[1], min_row=header, max_row=last),
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=last))
    return chart


def _heading(summary: Summary, rs: ReportScope, what: str) -> None:
    summary.append([what], bold=True)
    if rs.sector:
        summary.append([_("Sector"), sector_label(rs.sector)])
    summary.append([_("As of"), rs.as_of])
    summary.append([_("Produced"), to_local(now_utc()).replace(tzinfo=None, microsecond=0)])
    summary.append([])


def _key_figures(summary: Summary, total: q.AreaFigures) -> None:
    rows = [
        (_("Operating organizations"), total.organizations),
        (_("Self-assessed"), total.assessed),
        (_("Assessment coverage (%)"), _pct(total.coverage)),
        (_("Never assessed"), total.never),
        (_("Overdue: no self-assessment in the last %(days)d days", days=q.valid_days()), total.overdue),
        (_("Inspected organizations"), total.inspected),
        (_("Inspections in the last %(days)d days", days=CHECKIN_DAYS), total.inspections_30d),
        (_("Active staff"), total.staff),
        (_("Staff with a green status (%)"), _pct(total.green_share)),
        (_("Check-ins in the last %(days)d days", days=CHECKIN_DAYS), total.checkins_30d),
        (_("Check-ins in the last %(days)d days", days=RECENT_DAYS), total.checkins_7d),
    ]
    summary.table(_("Key figures"), [_("Figure"), _("Value")], rows)


def _levels_table(summary: Summary, levels: dict, cat: LevelCatalogue, title: str) -> tuple[int, int]:
    rows = [(cat.label(lv), levels[lv]) for lv in cat.ordered(levels)]
    return summary.table(title, [_("Level"), _("Number of organizations")], rows)


def _day_table(summary: Summary, series: q.DaySeries) -> tuple[int, int]:
    rows = zip(series.days, series.total, series.green, series.black)
    return summary.table(_("Check-ins per day"), [_("Day"), _("Total"), _("Green"), _("Black")], rows)


# --- organization sheets -----------------------------------------------------------------------------------

def org_headers() -> list[str]:
    return [_("Organization"), _("Tax code"), _("Sector"), _("Ward"), _("Latest self-assessment level"),
            _("Score (%)"), _("Self-assessed on"), _("Overdue"), _("Inspection level"), _("Inspected on"),
            _("Active staff"), _("Staff green (%)"), _("Check-ins, last %(days)d days", days=RECENT_DAYS)]


ORG_WIDTHS = [40, 14, 28, 22, 24, 10, 14, 10, 22, 14, 10, 12, 14]


class OrgFormatter:
    """Turns the query's organization rows into sheet rows (labels in the reader's language)."""

    def __init__(self, rs: ReportScope, cat: LevelCatalogue):
        self.cat, self.staff = cat, staff_tally(rs)
        self.yes, self.no = _("Yes"), _("No")
        self.sectors: dict[str, str] = {}
        # A city has a handful of (level, criteria set version) pairs: label each once, not per organization.
        self.labels: dict[tuple[str | None, int | None], str] = {}

    def _label(self, level: str | None, version: int | None) -> str:
        text = self.labels.get((level, version))
        if text is None:
            text = self.labels[(level, version)] = self.cat.label(level, version)
        return text

    def __call__(self, r: q.OrgRow) -> tuple:
        sector = self.sectors.get(r.sector)
        if sector is None:
            sector = self.sectors[r.sector] = sector_label(r.sector)
        _d, _w, staff, green = self.staff.get(r.id, (0, 0, 0, 0))
        return (r.name, r.tax_code, sector, r.ward,
                self._label(r.level, r.set_version_id), None if r.percent is None else round(r.percent, 1),
                r.assessed_on, self.yes if r.overdue else self.no,
                self._label(r.inspection_level, r.inspection_set_version_id) if r.inspection_level else None,
                r.inspected_on, staff, _pct(share(staff, green)) if staff else None, r.checkins_7d)


# The columns of `OrgFormatter` rows holding text that people (names, tax codes, wards) or criteria files (level
# labels) wrote: the only ones that can start like a formula. The others are numbers, dates, Yes/No.
_FREE_TEXT = (0, 1, 2, 3, 4, 8)
_FORMULA_FIRST = frozenset(exports.FORMULA_PREFIXES)  # each prefix is one character


def write_org_sheet(wb: Workbook, title: str, rows: Iterable[q.OrgRow], fmt: OrgFormatter) -> int:
    """The organizations sheet: frozen bold header, autofilter, widths; rows streamed as plain values (a styled
    or text-typed cell only where a value looks like a formula: openpyxl's per-cell work is the sheet's cost)."""
    ws = wb.create_sheet(sheet_title(title))
    headers = org_headers()
    for index, width in enumerate(ORG_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    ws.append([exports.xlsx_cell(ws, h, bold=True) for h in headers])
    count = 0
    first = _FORMULA_FIRST
    for row in rows:
        values = fmt(row)
        # A formula-looking start, or a character that is not printable (control characters, which no worksheet
        # may hold, among them), sends the row through cells(), which tells which value it was. Two C-level
        # checks per text: a regex over the row's texts cost as much as formatting the row.
        for i in _FREE_TEXT:
            text = values[i]
            if text and (text[0] in first or not text.isprintable()):
                values = cells(ws, values)
                break
        ws.append(values)
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{count + 1}"
    return count


# --- the two workbooks -------------------------------------------------------------------------------------

def _figures_and_formatter(rs: ReportScope, cat: LevelCatalogue, by_ward: bool) -> tuple[q.ScopeFigures,
                                                                                          OrgFormatter]:
    """The summary's figures, counted in a thread of their own while this one tallies the staff statuses (both
    are mostly the database's work: together they take the longer one's time, not the sum)."""
    figures = overlap.start(q.scope_figures, overlap.plain_scope(rs), by_ward=by_ward, with_staff=False)
    fmt = OrgFormatter(rs, cat)  # the staff tally
    result = figures.result()
    q.add_staff(result, green_by_area(fmt.staff, by_ward))
    return result, fmt


def _organization_rows(rs: ReportScope) -> overlap.Prefetch[q.OrgRow]:
    """The organization rows, read by another thread from now on (the database's first rows take a while:
    PostgreSQL ranks every assessment before the first one), while the summary and the sheets are written."""
    plain = overlap.plain_scope(rs)
    return overlap.Prefetch(lambda: q.organization_rows(plain))


def _write(fill: Callable[..., dict], out: IO[bytes] | str, rs: ReportScope, progress: Progress) -> dict:
    """A workbook written by `fill` while another thread reads the organization rows."""
    with _organization_rows(rs) as org_rows, exports.write_only_workbook() as wb:
        return fill(wb, out, rs, progress, org_rows)


def write_district_workbook(out: IO[bytes] | str, rs: ReportScope, progress: Progress = _noop) -> dict:
    """One district (or one district × sector): summary with charts, and the organizations sheet."""
    return _write(_fill_district_workbook, out, rs, progress)


def _fill_district_workbook(wb: Workbook, out: IO[bytes] | str, rs: ReportScope, progress: Progress,
                            org_rows: Iterable[q.OrgRow]) -> dict:
    cat = level_catalogue()
    summary = Summary(wb, _("Summary"))
    name = rs.names.get(rs.districts[0], str(rs.districts[0]))
    _heading(summary, rs, _("Safe operation report — %(district)s", district=name))
    figures, fmt = _figures_and_formatter(rs, cat, by_ward=True)
    wards = figures.areas
    total = q.totals(wards, rs.districts[0], name)
    progress(1)
    _key_figures(summary, total)
    ws = summary.ws
    h, last = _levels_table(summary, total.levels, cat, _("Organizations by latest self-assessment level"))
    summary.chart(_pie(_("Organizations by level"), ws, h, last))
    h, last = summary.table(_("Organizations by sector"), [_("Sector"), _("Number of organizations"), _("Self-assessed")],
                            [(sector_label(s), n, a) for s, n, a in figures.sectors])
    summary.chart(_bar(_("Organizations by sector"), ws, h, last, (2, 3), horizontal=True))
    ward_rows = [(w.name, w.organizations, w.assessed, _pct(w.coverage), w.overdue, w.inspected,
                  _pct(w.green_share), w.checkins_7d) for w in wards if w.organizations]
    h, last = summary.table(_("Organizations by ward"),
                            [_("Ward"), _("Number of organizations"), _("Self-assessed"), _("Coverage (%)"), _("Overdue"),
                             _("Inspected"), _("Staff green (%)"), _("Check-ins, last %(days)d days",
                                                                     days=RECENT_DAYS)], ward_rows)
    summary.chart(_bar(_("Assessment coverage by ward"), ws, h, last, (2, 3)))
    h2, last2 = _levels_table(summary, figures.inspection_levels, cat, _("Organizations by latest inspection level"))
    series = figures.series
    progress(1)
    h, last = _day_table(summary, series)
    summary.chart(_line(_("Check-ins per day"), ws, h, last, (2, 4)))
    if last2 > h2:
        summary.chart(_bar(_("Inspections by level"), ws, h2, last2, (2, 2)))
    count = write_org_sheet(wb, _("Organizations"), org_rows, fmt)
    wards_written = _ward_sheets(wb, rs, [w for w in wards if w.organizations], cat, name)
    progress(1)
    wb.save(out)
    progress(1)
    return {"organizations": count, "total": total.organizations, "wards": wards_written}


def _ward_sheets(wb: Workbook, rs: ReportScope, wards: list[q.AreaFigures], cat: LevelCatalogue,
                 district: str) -> int:
    """A sheet per ward holding organizations (as the reports page breaks a district down by ward), with the
    district summary's figures and native charts for that ward alone. Every figure is a sum of the rows the
    summary already grouped by ward: no query more."""
    taken = {_("Summary"), _("Organizations")}
    for ward in wards:
        title = sheet_title(ward.name)
        if title in taken:  # a ward named like another sheet keeps its code in front
            title = sheet_title(f"{ward.code} {ward.name}")
        taken.add(title)
        sheet = Summary(wb, title)
        _heading(sheet, rs, _("Safe operation report — %(ward)s, %(district)s", ward=ward.name, district=district))
        _key_figures(sheet, ward)
        ws = sheet.ws
        h, last = _levels_table(sheet, ward.levels, cat, _("Organizations by latest self-assessment level"))
        sheet.chart(_pie(_("Organizations by level"), ws, h, last))
        h, last = sheet.table(_("Organizations by sector"),
                              [_("Sector"), _("Number of organizations"), _("Self-assessed")],
                              [(sector_label(s), n, a) for s, (n, a) in sorted(ward.sectors.items())])
        sheet.chart(_bar(_("Organizations by sector"), ws, h, last, (2, 3), horizontal=True))
        h2, last2 = _levels_table(sheet, ward.inspection_levels, cat,
                                  _("Organizations by latest inspection level"))
        if ward.series is not None:
            h, last = _day_table(sheet, ward.series)
            sheet.chart(_line(_("Check-ins per day"), ws, h, last, (2, 4)))
        if last2 > h2:
            sheet.chart(_bar(_("Inspections by level"), ws, h2, last2, (2, 2)))
    return len(wards)


DISTRICT_STEPS = 4


def city_steps(rs: ReportScope) -> int:
    return 3 + len(rs.districts)


def write_city_workbook(out: IO[bytes] | str, rs: ReportScope, progress: Progress = _noop) -> dict:
    """Every district of the scope (the city, or a department's districts and sector): a summary across the
    districts with charts, then one sheet of organizations per district."""
    return _write(_fill_city_workbook, out, rs, progress)


def _fill_city_workbook(wb: Workbook, out: IO[bytes] | str, rs: ReportScope, progress: Progress,
                        org_rows: Iterable[q.OrgRow]) -> dict:
    cat = level_catalogue()
    summary = Summary(wb, _("Summary"))
    _heading(summary, rs, _("Safe operation report — Ho Chi Minh City") if len(rs.districts) > 1 else
             _("Safe operation report — %(district)s", district=rs.names.get(rs.districts[0], "")))
    figures, fmt = _figures_and_formatter(rs, cat, by_ward=False)
    districts = figures.areas
    total = q.totals(districts, 0, _("Total"))
    progress(1)
    _key_figures(summary, total)
    ws = summary.ws
    levels = cat.ordered(total.levels)
    level_names = [cat.label(lv) for lv in levels]
    rows = [(f"{d.name}", d.organizations, d.assessed, _pct(d.coverage), d.overdue, d.inspected,
             d.inspections_30d, _pct(d.green_share), d.checkins_30d, d.checkins_7d,
             *[d.levels.get(lv, 0) for lv in levels]) for d in districts]
    headers = [_("District"), _("Number of organizations"), _("Self-assessed"), _("Coverage (%)"), _("Overdue"),
               _("Inspected"), _("Inspections, last %(days)d days", days=CHECKIN_DAYS), _("Staff green (%)"),
               _("Check-ins, last %(days)d days", days=CHECKIN_DAYS),
               _("Check-ins, last %(days)d days", days=RECENT_DAYS), *level_names]
    footer = [_("Total"), total.organizations, total.assessed, _pct(total.coverage), total.overdue,
              total.inspected, total.inspections_30d, _pct(total.green_share), total.checkins_30d,
              total.checkins_7d, *[total.levels.get(lv, 0) for lv in levels]]
    h, last = summary.table(_("Districts"), headers, rows, footer)
    first_level_col = 11
    if levels:
        summary.chart(_bar(_("Levels by district"), ws, h, last,
                           (first_level_col, first_level_col + len(levels) - 1), stacked=True, horizontal=True))
    summary.chart(_bar(_("Assessment coverage by district (%)"), ws, h, last, (4, 4), horizontal=True))
    summary.chart(_bar(_("Staff with a green status by district (%)"), ws, h, last, (8, 8), horizontal=True))
    lh, llast = _levels_table(summary, total.levels, cat, _("Organizations by latest self-assessment level"))
    summary.chart(_pie(_("Organizations by level"), ws, lh, llast))
    summary.table(_("Organizations by sector"), [_("Sector"), _("Number of organizations"), _("Self-assessed")],
                  [(sector_label(s), n, a) for s, n, a in figures.sectors])
    series = figures.series
    progress(1)
    dh, dlast = _day_table(summary, series)
    summary.chart(_line(_("Check-ins per day"), ws, dh, dlast, (2, 4)))
    counts = _district_sheets(wb, rs, org_rows, fmt, progress)
    wb.save(out)
    progress(1)
    return {"organizations": sum(counts.values()), "total": total.organizations, "per_district": counts}


def _district_sheets(wb: Workbook, rs: ReportScope, org_rows: Iterable[q.OrgRow], fmt: OrgFormatter,
                     progress: Progress) -> dict[int, int]:
    """One sheet per district, filled from a single ordered stream of organization rows."""
    grouped: Iterator = groupby(org_rows, key=lambda r: r.district_code)
    pending = next(grouped, None)
    counts: dict[int, int] = {}
    for code in rs.districts:
        rows: Iterable[q.OrgRow] = ()
        if pending is not None and pending[0] == code:
            rows = pending[1]
        title = f"{code} {rs.names.get(code, '')}".strip()
        counts[code] = write_org_sheet(wb, title, rows, fmt)
        if pending is not None and pending[0] == code:
            pending = next(grouped, None)
        progress(1)
    return counts
