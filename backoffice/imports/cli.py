"""`flask --app backoffice import organizations|staff|residents FILE [--dry-run] [--skip-errors] [--as USER]`.

Exit status: 0 done (or a clean dry run), 1 rows with errors block the import (nothing written), 2 the file
itself was refused or the import failed."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask_babel import force_locale
from sqlalchemy import func, select

from backoffice.domain import Role
from backoffice.extensions import db
from backoffice.imports import service
from backoffice.models import User


class CliUser:
    """The operator at the server's console: the city's scope, no account (audited as "cli")."""

    id = None
    username = "cli"
    role = Role.CITY_ADMIN.value
    active = is_authenticated = True
    district_codes: list[int] = []
    sector = organization_id = ward_code = None


class Bar:
    """click's progress bar, created at the first report (when the row estimate is known)."""

    def __init__(self, label: str):
        self.label, self.bar, self.pos = label, None, 0

    def __call__(self, done: int, total: int | None, phase: str) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=max(total or done, done, 1), label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.length = max(self.bar.length or 0, done)
        self.bar.update(done - self.pos)
        self.pos = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _with_bar(label: str, step, record, user):
    """One step of the import (`service.run_preview` or `run_apply`) with its progress bar on stderr."""
    bar = Bar(label)
    try:
        return step(record, user, progress=bar)
    finally:
        bar.close()


def _user(username: str | None):
    if not username:
        return CliUser()
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None or not user.active:
        raise click.ClickException(f"No active user {username}.")
    return user


def run(kind: str, path: Path, dry_run: bool, skip_errors: bool, username: str | None, create_accounts: bool,
        errors_out: Path | None, credentials_out: Path | None) -> int:
    user = _user(username)
    try:
        record = service.receive_path(user, kind, path)
    except PermissionError:
        raise click.ClickException(f"{getattr(user, 'username', user)} may not import {kind}.") from None
    except service.ImportRefused as exc:
        raise click.ClickException(str(exc)) from None
    record = _with_bar("Reading", service.run_preview, record, user)
    if record.state != service.PREVIEWED:
        click.echo(record.options.get("message", record.state), err=True)
        return 2
    counts = record.counts
    click.echo(f"Sheet {record.options['sheet']!r}, header on row {record.options['header_row']}: "
               f"{counts['new']} new, {counts['update']} to update, {counts['unchanged']} unchanged, "
               f"{counts['error']} with errors.")
    if record.options.get("ignored"):
        click.echo("Ignored columns: " + ", ".join(record.options["ignored"]))
    if counts["error"]:
        _show_errors(record)
        if errors_out:
            errors_out.write_bytes(db.session.get(type(record), record.id).error_report)
            click.echo(f"Error report written to {errors_out}.")
    blocked = bool(counts["error"]) and not skip_errors
    if dry_run or blocked:
        service.cancel(record, user)
        if blocked:
            click.echo("Rows with errors block the import; nothing was written (use --skip-errors to import "
                       "the valid rows).", err=True)
        return 1 if blocked else 0
    try:
        record = service.confirm(record, user, skip_errors=skip_errors, create_accounts=create_accounts)
    except service.ImportRefused as exc:
        service.cancel(record, user)
        click.echo(str(exc), err=True)
        return 0 if not (counts["new"] or counts["update"]) else 1
    record = _with_bar("Writing", service.run_apply, record, user)
    if record.state != service.APPLIED:
        click.echo(record.options.get("message", record.state), err=True)
        return 1 if record.state == service.REJECTED else 2
    done = record.counts
    click.echo(f"Imported: {done['new']} new, {done['update']} updated, {done['unchanged']} unchanged, "
               f"{done['error']} skipped; {done.get('accounts', 0)} accounts created.")
    if done.get("accounts"):
        target = credentials_out or Path(f"accounts-import-{record.id}.xlsx")
        target.write_bytes(service.take_credentials(record, user))
        target.chmod(0o600)
        click.echo(f"One-time passwords written to {target} (erased from the database).")
    return 0


def _show_errors(record, limit: int = 20) -> None:
    from backoffice.imports import staging
    shown = 0
    for line in staging.read_lines(record.options["token"]):
        if line["s"] == "error":
            for letter, header, message in line["e"]:
                where = f"{letter}{line['r']} ({header})" if letter else f"row {line['r']}"
                click.echo(f"  {where}: {message}")
            shown += 1
            if shown >= limit:
                click.echo(f"  … {record.counts['error'] - shown} more rows with errors.")
                break


def init_app(app: Flask) -> None:
    @app.cli.group("import")
    def import_group() -> None:
        """Bulk import from Excel (.xlsx) or CSV: organizations, staff, residents."""

    for kind in ("organizations", "staff", "residents"):
        def command(file, dry_run, skip_errors, username, create_accounts, errors_out, credentials_out, lang,
                    kind=kind):
            with force_locale(lang or current_app.config["BABEL_DEFAULT_LOCALE"]):
                code = run(kind, Path(file), dry_run, skip_errors, username, create_accounts,
                           Path(errors_out) if errors_out else None,
                           Path(credentials_out) if credentials_out else None)
            sys.exit(code)

        command.__doc__ = f"Import {kind} from FILE (.xlsx or .csv)."
        for decorator in reversed([
            import_group.command(kind),
            click.argument("file", type=click.Path(exists=True, dir_okay=False)),
            click.option("--dry-run", is_flag=True, help="Check and preview only; write nothing."),
            click.option("--skip-errors", is_flag=True, help="Import the valid rows, skip rows with errors."),
            click.option("--as", "username", help="Act as this user (scope, audit); default: the city's scope."),
            click.option("--create-accounts", is_flag=True, help="Create admin accounts for new organizations."),
            click.option("--errors-out", type=click.Path(dir_okay=False), help="Write the error report here."),
            click.option("--credentials-out", type=click.Path(dir_okay=False),
                         help="Where to write the one-time passwords (default: accounts-import-ID.xlsx)."),
            click.option("--lang", type=click.Choice(["vi", "en"]), help="Language of the messages."),
        ]):
            command = decorator(command)
