"""CLI of the QR capability: `keys generate|rotate|use|list|retire`, `qr personal <id>`, `checkins purge|auto-checkout`.
Thin: each command calls an operation."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from backoffice.extensions import db

keys_cli = AppGroup("keys", help="The Ed25519 key ring that signs personal QR codes.")
qr_cli = AppGroup("qr", help="Personal QR codes.")
checkins_cli = AppGroup("checkins", help="Check-ins: purge old ones, check out stays left open.")


@keys_cli.command("generate")
def keys_generate() -> None:
    """Add a key (it signs only when the ring has no signer yet)."""
    from backoffice.scanning import keyring
    row = keyring.generate()
    click.echo(f"Generated {row.kid}{' (signing)' if row.signing else ''}.")


@keys_cli.command("rotate")
@click.option("--now", "at_once", is_flag=True,
              help="Sign with the new key at once (a compromised key) instead of after the publication delay.")
def keys_rotate(at_once: bool) -> None:
    """Publish a next key (it signs after the publication delay, or from the next rotation); --now: at once."""
    from backoffice.scanning import keyring
    row = keyring.rotate(now=at_once)
    if row.signing:
        click.echo(f"Rotated: {row.kid} signs from now on. Older keys still verify until retired.")
    else:
        click.echo(f"Rotated: {row.kid} is published now and signs from "
                   f"{row.signs_from.isoformat(timespec='seconds')} (or from the next rotation); "
                   f"{keyring.current_signer().kid} signs until then. Older keys still verify until retired.")


@keys_cli.command("list")
def keys_list() -> None:
    """List the keys: id, created, state."""
    from backoffice.scanning import keyring
    rows = keyring.list_keys()
    if not rows:
        click.echo("No keys yet: the first one is created when a personal QR is first issued.")
    for row in rows:
        state = "retired " + row.retired_at.isoformat(timespec="seconds") if row.retired_at else (
            "signing" if row.signing else
            "next, signs " + row.signs_from.isoformat(timespec="seconds") if row.signs_from else "verifying")
        where = "database (encrypted)" if row.private_key else ("configuration" if not row.retired_at else "-")
        click.echo(f"{row.kid}  {row.created_at.isoformat(timespec='seconds')}  {state:<28} private key: {where}")


def _on_key(verb: str, kid: str) -> str:
    """Run the key ring's `verb` on a key named as typed; its refusal becomes the command's error."""
    from backoffice.scanning import keyring
    kid = kid.strip().upper()
    try:
        getattr(keyring, verb)(kid)
    except keyring.KeyRingError as exc:
        raise click.ClickException(str(exc)) from None
    return kid


@keys_cli.command("use")
@click.argument("kid")
def keys_use(kid: str) -> None:
    """Make a key the signer (e.g. one newly added to BACKOFFICE_SIGNING_KEYS)."""
    kid = _on_key("use", kid)
    click.echo(f"{kid} signs from now on. Older keys still verify until retired.")


@keys_cli.command("retire")
@click.argument("kid")
def keys_retire(kid: str) -> None:
    """Retire a key: QR codes it signed are rejected from now on."""
    click.echo(f"Retired {_on_key('retire', kid)}.")


@qr_cli.command("personal")
@click.argument("id_number")
@click.option("--with-status", is_flag=True, help="Add the colour snapshot and its expiry (offline verifiers).")
def qr_personal(id_number: str, with_status: bool) -> None:
    """Print a resident's personal QR text (type or paste it into the reception page)."""
    from backoffice.models import Person
    from backoffice.scanning import payload
    person = db.session.scalar(select(Person).where(Person.id_number == id_number.strip()))
    if person is None:
        raise click.ClickException(f"no resident with ID number {id_number}")
    click.echo(payload.issue_personal_payload(person, with_status=with_status))


@checkins_cli.command("purge")
@click.option("--older-than-days", type=click.IntRange(min=1), default=None,
              help="Keep this many days (default BACKOFFICE_CHECKIN_RETENTION_DAYS, 60).")
def checkins_purge(older_than_days: int | None) -> None:
    """Delete old check-ins day by day, keeping their daily counts per location (safe to run on two hosts)."""
    from backoffice.scanning.checkins import purge_checkins
    done = purge_checkins(older_than_days)
    click.echo(f"Purged {done.deleted} check-ins of {done.days} days; {done.daily_rows} daily count rows written.")


@checkins_cli.command("auto-checkout")
@click.option("--hours", type=float, default=None, help="Default BACKOFFICE_AUTO_CHECKOUT_HOURS (8).")
def checkins_auto_checkout(hours: float | None) -> None:
    """Check out every stay not seen for a while (run it from cron, e.g. every 15 minutes)."""
    from backoffice.scanning.checkins import auto_checkout
    click.echo(f"Checked out {auto_checkout(hours=hours)} stays.")


def init_app(app: Flask) -> None:
    app.cli.add_command(keys_cli)
    app.cli.add_command(qr_cli)
    app.cli.add_command(checkins_cli)
