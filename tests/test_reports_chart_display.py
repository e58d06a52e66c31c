"""An empty chart says there is no data (no flat line at zero on a
0-0.05 axis, no bare frame), and the axes count organizations and check-ins in whole numbers."""
from __future__ import annotations

from datetime import date, timedelta

from flask_babel import force_locale
from matplotlib.backends.backend_agg import FigureCanvasAgg

from backoffice.reports import charts, queries as q


def _drawn(fig):
    FigureCanvasAgg(fig).draw()  # ticks are placed when the figure is drawn
    return fig.axes[0]


def _series(total: list[int]) -> q.DaySeries:
    days = [date(2021, 10, 1) + timedelta(days=i) for i in range(len(total))]
    return q.DaySeries(days, total, [n // 2 for n in total], [n - n // 2 for n in total])


def test_a_chart_without_check_ins_says_so(app):
    with app.test_request_context(), force_locale("vi"):
        ax = _drawn(charts.checkins_chart(_series([0] * 30)))
    assert [t.get_text() for t in ax.texts] == ["Chưa có dữ liệu"]
    assert not ax.lines and not any(s.get_visible() for s in ax.spines.values())


def test_check_ins_are_counted_whole(app):
    with app.test_request_context():
        ax = _drawn(charts.checkins_chart(_series([0, 1, 2, 1, 0, 3])))
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_organizations_are_counted_whole(app):
    figures = [q.AreaFigures(code=760, name="Quận 1", organizations=2, levels={None: 1, "low": 1}),
               q.AreaFigures(code=770, name="Quận 3", organizations=1, levels={None: 1})]
    with app.test_request_context():
        ax = _drawn(charts.levels_chart(figures))
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
