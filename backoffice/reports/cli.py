"""`flask --app backoffice report district 760 --out q1.xlsx` and `report city --out hcm.xlsx` (with a
progress bar). Thin: each command calls `reports.service`. Without `--user` the command runs with the
city-wide scope of the operator who has shell access to the server; with it, with that account's scope."""
from __future__ import annotations

from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.models import User


@dataclass
class OperatorUser:
    """The server operator: city-wide scope, no account (the audit log names it 'cli')."""

    username: str = "cli"
    role: str = Role.CITY_ADMIN.value
    id: None = None
    sector: None = None
    ward_code: None = None
    organization_id: None = None
    active: bool = True
    is_authenticated: bool = True
    district_codes: tuple = ()
    checkpoints: tuple = ()


def _user(username: str | None):
    if not username:
        return OperatorUser()
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"no active user {username!r}")
    return user


def _run(build, steps: int, out: str, lang: str, **kwargs) -> None:
    from backoffice.reports import service
    with current_app.test_request_context(), force_locale(lang):
        with click.progressbar(length=steps, label="Building the workbook") as bar:
            try:
                report = build(out=out, progress=bar.update, **kwargs)
            except service.ReportNotFound as exc:
                raise click.ClickException(f"not found in this scope: {exc}") from None
            except service.ReportForbidden:
                raise click.ClickException("this account has no reports") from None
    click.echo(f"Wrote {out}: {report.counts['organizations']} organizations.")


report_group = AppGroup("report", help="District and city workbooks (.xlsx).")
_options = [
    click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="Output .xlsx file."),
    click.option("--sector", default=None, help="Only this sector (enterprise, office, market, …)."),
    click.option("--date", "as_of", default=None, type=click.DateTime(["%Y-%m-%d"]), help="As of (YYYY-MM-DD)."),
    click.option("--user", "username", default=None, help="Run with this account's scope."),
    click.option("--lang", default="vi", type=click.Choice(["vi", "en"]), show_default=True),
]


def _with_options(command):
    for option in reversed(_options):
        command = option(command)
    return command


@report_group.command("district")
@click.argument("district", type=int)
@_with_options
def district_command(district: int, out: str, sector: str | None, as_of, username: str | None, lang: str) -> None:
    """The workbook of one district, e.g. `report district 760 --out q1.xlsx`."""
    from backoffice.reports import service
    user = _user(username)
    _run(lambda **kw: service.build_district_report(user, district, **kw), service.district_steps(), out, lang,
         sector=sector, as_of=as_of.date() if as_of else None)


@report_group.command("city")
@_with_options
def city_command(out: str, sector: str | None, as_of, username: str | None, lang: str) -> None:
    """The city workbook: a summary across the districts and a sheet per district."""
    from backoffice.reports import service
    user = _user(username)
    try:
        steps = service.city_steps(user, sector)
    except (service.ReportNotFound, service.ReportForbidden) as exc:
        raise click.ClickException(str(exc) or "not allowed") from None
    _run(lambda **kw: service.build_city_report(user, **kw), steps, out, lang, sector=sector,
         as_of=as_of.date() if as_of else None)


def init_app(app: Flask) -> None:
    app.cli.add_command(report_group)
