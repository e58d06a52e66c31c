"""Report work overlapped with the writing of the workbook (backoffice.reports.overlap): the rows come whole and
in order, errors reach the writer, a writer that stops early stops the reader, and the figures counted in another
thread are those counted in this one."""
from __future__ import annotations

import threading

import pytest

from backoffice.auth.scope import ScopeSubject
from backoffice.reports import overlap, queries
from backoffice.reports.cli import OperatorUser
from backoffice.reports.scope import resolve


def test_prefetched_rows_come_whole_and_in_order(ctx):
    with overlap.Prefetch(lambda: iter(range(10_007)), batch=100, depth=2) as rows:
        assert list(rows) == list(range(10_007))


def test_an_error_while_reading_reaches_the_writer(ctx):
    def failing():
        yield from range(250)
        raise LookupError("the query failed")

    with overlap.Prefetch(failing, batch=100) as rows, pytest.raises(LookupError, match="query failed"):
        assert sum(1 for _ in rows) == 250


def test_a_writer_that_stops_early_stops_the_reader(ctx):
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    rows = overlap.Prefetch(endless, batch=10, depth=2)
    assert next(rows) == 0
    rows.close()
    assert not any(t.name == "report-rows" and t.is_alive() for t in threading.enumerate())
    assert len(produced) < 100  # bounded read-ahead, not the whole stream


def test_figures_counted_in_another_thread_are_the_same(ctx):
    rs = resolve(OperatorUser())
    plain = overlap.plain_scope(rs)
    assert isinstance(plain.user, ScopeSubject) and plain.org_clause().compare(rs.org_clause())
    here = queries.scope_figures(rs, with_staff=False)
    there = overlap.start(queries.scope_figures, plain, with_staff=False).result(timeout=60)
    assert [(a.code, a.organizations, a.assessed, a.checkins_30d, a.levels) for a in here.areas] == \
           [(a.code, a.organizations, a.assessed, a.checkins_30d, a.levels) for a in there.areas]
    assert here.series == there.series and here.sectors == there.sectors
