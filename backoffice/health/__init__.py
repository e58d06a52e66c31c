"""Health status: green or black, decided by the rule files in `rules/health_status/` from a person's facts.

`rules` loads and checks the files, `status` decides one person (and registers the `flask rules` suite), `tally`
decides many at once in SQL, `vaccines` is the vocabulary of products, `reasons` shows a stored decision's reason in
the reader's language. Nothing here reads a request or knows who asks: callers decide what may be shown.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from backoffice.health import status, vaccines  # noqa: F401  (status registers the rule suite when imported)

    app.config.setdefault("BACKOFFICE_QR_STATUS_HOURS", 24)
    vaccines.init_app(app)  # flask people unknown-vaccines
    from backoffice.health.rules import rule_sets
    with app.app_context():
        rule_sets()  # loaded at start, so the host can say at once whether its files are those in force
