"""`flask --app backoffice rules check|test`: one command group over every kind of rule file.

Rule packages (health-status rules in backoffice.health, criteria sets in backoffice.criteria) register a
`RuleSuite`; `rules check` reports every problem of every file at once, `rules test` runs the test cases
each file carries. The same suites are run by pytest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import click
import yaml
from flask import Flask, current_app
from flask.cli import AppGroup
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass
class Problem:
    file: str
    where: str  # criterion id, test name, field path…
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}" if self.where else f"{self.file}: {self.message}"


@dataclass
class TestOutcome:
    file: str
    name: str
    passed: bool
    detail: str = ""


@dataclass
class RuleSuite:
    name: str
    check: Callable[[str], list[Problem]]  # rules_dir -> problems (empty when all files are valid)
    run_tests: Callable[[str], list[TestOutcome]]  # rules_dir -> outcome per test case
    description: str = ""
    extra: dict = field(default_factory=dict)


SUITES: dict[str, RuleSuite] = {}


def read_yaml(path: Path, name: str) -> tuple[object, list[Problem]]:
    """A rule file's document with `yaml.safe_load` (never anything else), or the problems that stop it, each
    naming the file and, where YAML knows it, the line and column."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, "", f"cannot read the file: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem(name, where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # Well-formed YAML whose scalar cannot be built: PyYAML raises these, not YAMLError, for a date that
        # does not exist (`valid_from: 2021-02-30`) or a tagged value of the wrong form (`!!int x`).
        return None, [Problem(name, "", f"not valid YAML: {exc}")]


def _dotted(raw: dict, loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def read_model(path: Path, name: str, model: type[M], not_a_mapping: str,
               where: Callable[[dict, tuple], str] = _dotted,
               message: Callable[[dict], str] = lambda err: err["msg"]) -> tuple[M | None, dict | None, list[Problem]]:
    """A rule file read (`read_yaml`) and validated as `model`: (the model, the document, no problems), or
    (None, the document if it was one, every problem found), each validation error placed by `where` and
    worded by `message`."""
    raw, problems = read_yaml(path, name)
    if problems:
        return None, None, problems
    if not isinstance(raw, dict):
        return None, None, [Problem(name, "", not_a_mapping)]
    try:
        return model.model_validate(raw), raw, []
    except ValidationError as exc:
        return None, raw, [Problem(name, where(raw, tuple(err["loc"])), message(err)) for err in exc.errors()]


def register_suite(suite: RuleSuite) -> None:
    SUITES[suite.name] = suite


rules_cli = AppGroup("rules", help="Check rule files and run the test cases they carry.")


@rules_cli.command("check")
def check_command() -> None:
    """Validate every rule file; report every problem at once; exit 1 when any."""
    rules_dir = current_app.config["BACKOFFICE_RULES_DIR"]
    problems = [p for suite in SUITES.values() for p in suite.check(rules_dir)]
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"All rule files valid ({', '.join(SUITES)}).")


@rules_cli.command("test")
def test_command() -> None:
    """Run the test cases inside every rule file; exit 1 when any fails or a file is invalid."""
    rules_dir = current_app.config["BACKOFFICE_RULES_DIR"]
    failed = passed = 0
    for suite in SUITES.values():
        problems = suite.check(rules_dir)
        for problem in problems:
            click.echo(f"INVALID {problem}", err=True)
        failed += len(problems)
        for outcome in suite.run_tests(rules_dir):
            if outcome.passed:
                passed += 1
            else:
                failed += 1
                click.echo(f"FAIL {outcome.file}: {outcome.name}: {outcome.detail}", err=True)
    click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)


@rules_cli.command("publish")
def publish_command() -> None:
    """Make this host's rule files the ones in force on every host (run once per release, after copying them)."""
    from backoffice import rules_in_force
    rules_dir = current_app.config["BACKOFFICE_RULES_DIR"]
    problems = [p for suite in SUITES.values() for p in suite.check(rules_dir)]
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo("Nothing published: fix the files first.", err=True)
        raise click.exceptions.Exit(1)
    for kind, count in rules_in_force.publish(actor_name="cli").items():
        click.echo(f"{kind}: {count} file(s) in force")


@rules_cli.command("hosts")
def hosts_command() -> None:
    """What each host loaded at its last start, and whether its files were those in force."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import RuleHost
    from backoffice.timeutil import format_local
    for row in db.session.scalars(select(RuleHost).order_by(RuleHost.host, RuleHost.kind)):
        state = "agrees" if row.agrees else "DIFFERS"
        click.echo(f"{row.host}\t{row.kind}\t{state}\t{len(row.digests)} file(s)\t{format_local(row.checked_at)}")


def init_app(app: Flask) -> None:
    app.cli.add_command(rules_cli)
