"""Criteria engine and assessments: YAML criteria sets compiled with rule-engine, three scoring
modes, facts computed from data, self-assessments, inspections and compliance lists.

`init_app` loads and validates every shipped set and refuses to start when one is invalid or was edited
without a new version; it registers the "criteria" suite of `flask rules check|test` and the admin pages.
"""
from __future__ import annotations

from flask import Blueprint, Flask

from backoffice.rulebook import RuleSuite, register_suite


def _check(rules_dir: str):
    from backoffice.criteria.registry import check_dir
    return check_dir(rules_dir)


def _run_tests(rules_dir: str):
    from backoffice.criteria.loader import run_tests
    return run_tests(rules_dir)


register_suite(RuleSuite("criteria", _check, _run_tests, "Criteria sets (Bộ tiêu chí) and their scoring"))


def init_app(app: Flask) -> None:
    from backoffice.criteria.registry import init_registry
    from backoffice.criteria.views import init_views

    app.config.setdefault("CRITERIA_OVERDUE_DAYS", 30)  # a self-assessment older than this is overdue
    init_registry(app)  # raises CriteriaSetError listing every problem: the app does not start
    app.register_blueprint(Blueprint("criteria", __name__, template_folder="templates", static_folder="static",
                                     static_url_path="/criteria/static"))
    init_views(app)

    import click

    @app.cli.command("criteria-verify")
    def verify_command() -> None:
        """Re-score every submitted assessment with its frozen set; exit 1 if any stored result differs."""
        from backoffice.criteria.service import verify_stored_results
        checked, different = verify_stored_results()
        click.echo(f"{checked} assessments re-scored, {len(different)} different from their stored result")
        if different:
            click.echo("different: " + ", ".join(map(str, different[:100])), err=True)
            raise click.exceptions.Exit(1)
