"""Command-line interface: `flask --app backoffice <command>`. Thin: each command calls an operation."""
from __future__ import annotations

import click
from flask import Flask

from backoffice.domain import Role


def init_app(app: Flask) -> None:
    from backoffice import rulebook
    from backoffice.demo.seed import register_commands as register_seed

    register_seed(app)
    rulebook.init_app(app)

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--full-name", default="")
    @click.option("--district", "districts", type=int, multiple=True, help="District code (inspector), repeatable.")
    @click.option("--ward", type=int, help="Ward code (ward officer).")
    @click.option("--organization", type=int, help="Organization id (organization admin, checkpoint staff).")
    @click.option("--checkpoint", "checkpoints", type=int, multiple=True, help="Checkpoint id (staff), repeatable.")
    @click.option("--sector", default=None, help="Optional sector of an inspector (department).")
    def create_user_command(username, role, password, full_name, districts, ward, organization, checkpoints, sector):
        """Create a user account with its scope."""
        from backoffice.auth import service
        try:
            user = service.create_user(username, password, role, full_name=full_name, district_codes=districts,
                                       ward_code=ward, organization_id=organization, checkpoint_ids=checkpoints,
                                       sector=sector)
        except service.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {user.username} ({user.role}).")

    @app.cli.command("load-units")
    def load_units_command():
        """Load HCMC's 22 districts and 312 wards (safe to run again)."""
        from backoffice.geo.units import load_units
        added = load_units()
        click.echo(f"Added {added[0]} districts and {added[1]} wards.")
