"""Chart images for pages: a matplotlib `Figure` per request on the Agg canvas (never pyplot, whose global state
is not thread-safe), as PNG or SVG. Rendered images are cached by (chart, scope, language, data version): the
data version changes when check-ins, assessments, organizations, staff or cards change, and entries also expire
after a short time because statuses change with the clock."""
from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from typing import Callable

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models import Assessment, CheckIn, Organization, PersonalQRIssue, Recovery, Staff, Vaccination
from backoffice.reports import local, queries as q
from backoffice.reports.labels import level_catalogue

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
BOOTSTRAP = {"success": "#28a745", "info": "#17a2b8", "warning": "#ffc107", "danger": "#dc3545",
             "dark": "#343a40", "secondary": "#adb5bd"}
GREEN, BLACK, BLUE = "#2e9e4f", "#343a40", "#1f77b4"
DEFAULT_TTL = 300


class TTLCache:
    """A small thread-safe LRU with a time-to-live (rendered images, computed figures)."""

    def __init__(self, size: int = 256):
        self.size, self._lock, self._items = size, threading.Lock(), OrderedDict()

    def get(self, key, ttl: float):
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit[0] > ttl:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key, data) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), data)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = TTLCache()
figures_cache = TTLCache(64)


def data_version() -> tuple:
    """Changes whenever a row the charts read is added or updated (max ids and update times, each an index
    lookup or a single scan, in one round trip)."""
    stmt = select(
        select(func.max(CheckIn.id)).scalar_subquery(),
        select(func.max(Assessment.updated_at)).scalar_subquery(),
        select(func.max(Organization.updated_at)).scalar_subquery(),
        select(func.max(Staff.updated_at)).scalar_subquery(), select(func.max(Vaccination.id)).scalar_subquery(),
        select(func.max(Recovery.id)).scalar_subquery(), select(func.max(PersonalQRIssue.id)).scalar_subquery())
    return tuple(str(v) for v in db.session.execute(stmt).one())


def cached_image(name: str, fmt: str, scope_key: str, draw: Callable[[], Figure]) -> bytes:
    key = (name, fmt, scope_key, str(get_locale()), data_version())
    ttl = current_app.config.get("REPORTS_CHART_TTL", DEFAULT_TTL)
    data = cache.get(key, ttl)
    if data is None:
        data = render(draw(), fmt)
        cache.put(key, data)
    return data


def area_figures(rs, by_ward: bool = False) -> list[q.AreaFigures]:
    """`queries.area_figures`, shared by the dashboard, the reports page and the four charts of one scope
    until the data change (or the time-to-live passes: statuses change with the clock)."""
    key = ("figures", rs.key, by_ward, str(get_locale()), data_version())
    ttl = current_app.config.get("REPORTS_CHART_TTL", DEFAULT_TTL)
    figures = figures_cache.get(key, ttl)
    if figures is None:
        figures = q.area_figures(rs, by_ward=by_ward)
        figures_cache.put(key, figures)
    return figures


def render(fig: Figure, fmt: str) -> bytes:
    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format=fmt, bbox_inches="tight", metadata={"Software": None} if fmt == "png" else None)
    return out.getvalue()


def _figure(title: str, height: float = 4.2) -> tuple[Figure, object]:
    fig = Figure(figsize=(8, height), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _empty(ax) -> None:
    ax.text(0.5, 0.5, _("No data yet"), ha="center", va="center", transform=ax.transAxes, color="#6c757d")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)  # empty axes look like a chart of zeros


def _height(n: int) -> float:
    return max(3.0, min(12.0, 1.2 + 0.32 * n))


def levels_chart(figures: list[q.AreaFigures]) -> Figure:
    """Organizations by latest self-assessment level, one stacked bar per district (or ward)."""
    cat = level_catalogue()
    figures = [f for f in figures if f.organizations]
    fig, ax = _figure(_("Organizations by level"), _height(len(figures)))
    if not figures:
        _empty(ax)
        return fig
    levels = cat.ordered({lv for f in figures for lv in f.levels})
    names = [f.name for f in figures][::-1]
    left = [0] * len(names)
    for level in levels:
        values = [f.levels.get(level, 0) for f in figures][::-1]
        colour = BOOTSTRAP.get(cat.colours.get(level, ""), "#dee2e6") if level else "#e9ecef"
        ax.barh(names, values, left=left, label=cat.label(level), color=colour, edgecolor="white")
        left = [a + b for a, b in zip(left, values)]
    ax.set_xlabel(_("Number of organizations"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # organizations come whole: no 0.5 or 2.5 ticks
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return fig


def _share_bars(title: str, names: list[str], values: list[float | None], colour: str) -> Figure:
    fig, ax = _figure(title, _height(len(names)))
    if not names:
        _empty(ax)
        return fig
    shown = [0.0 if v is None else 100 * v for v in values][::-1]
    bars = ax.barh(names[::-1], shown, color=colour)
    ax.bar_label(bars, labels=["—" if v is None else f"{100 * v:.0f}%" for v in values][::-1], fontsize=8,
                 padding=2)
    ax.set_xlim(0, 110)
    ax.set_xlabel("%")
    return fig


def coverage_chart(figures: list[q.AreaFigures]) -> Figure:
    figures = [f for f in figures if f.organizations]
    return _share_bars(_("Assessment coverage (%)"), [f.name for f in figures], [f.coverage for f in figures], BLUE)


def green_chart(figures: list[q.AreaFigures]) -> Figure:
    figures = [f for f in figures if f.organizations]
    return _share_bars(_("Staff with a green status (%)"), [f.name for f in figures],
                       [f.green_share for f in figures], GREEN)


def checkins_chart(series: q.DaySeries, title: str | None = None) -> Figure:
    fig, ax = _figure(title or _("Check-ins per day"))
    if not any(series.total):
        _empty(ax)  # a flat line at zero on a 0–0.05 axis said nothing: say there is no data yet
        return fig
    ax.plot(series.days, series.total, color=BLUE, marker="o", markersize=3, label=_("Total"))
    ax.plot(series.days, series.green, color=GREEN, label=_("Green"))
    ax.plot(series.days, series.black, color=BLACK, linestyle="--", label=_("Black"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # check-ins are counted whole
    ax.xaxis.set_major_formatter(DateFormatter("%d/%m"))
    ax.legend(fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return fig


def status_chart(figures: local.WardFigures) -> Figure:
    fig, ax = _figure(_("Residents by status"))
    if figures.green + figures.black == 0:
        _empty(ax)
        return fig
    ax.pie([figures.green, figures.black], labels=[_("Green"), _("Black")], colors=[GREEN, BLACK],
           autopct="%1.0f%%", textprops={"color": "white"}, startangle=90, counterclock=False)
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    ax.set_aspect("equal")
    return fig
