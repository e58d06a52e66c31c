"""The bad-input campaign's bookkeeping: how many inputs each parser was given, reported at the end of a
test module (on the terminal, and in the JSON file named by BACKOFFICE_CAMPAIGN_REPORT when set)."""
from __future__ import annotations

import json
import os
from collections import Counter

import pytest

TRIED: Counter = Counter()


def tried(parser: str, n: int = 1) -> None:
    TRIED[parser] += n


def report_fixture(title: str):
    """A module fixture printing the counts of the parsers this module tried."""

    @pytest.fixture(scope="module", autouse=True)
    def _report(pytestconfig):
        before = Counter(TRIED)
        yield
        mine = {k: v - before.get(k, 0) for k, v in TRIED.items() if v - before.get(k, 0)}
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None and mine:
            with capture.global_and_fixture_disabled():  # shown on the terminal, not captured
                reporter.write_line("")
                reporter.write_line(f"{title}: {sum(mine.values())} inputs tried")
                for name, count in sorted(mine.items()):
                    reporter.write_line(f"  {name:<40} {count:>7}")
        path = os.environ.get("BACKOFFICE_CAMPAIGN_REPORT")
        if path:
            data = json.loads(open(path, encoding="utf-8").read()) if os.path.exists(path) else {}
            data.update(mine)
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)

    return _report
