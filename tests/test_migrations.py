"""Migrations: `upgrade` from an empty database on SQLite and on PostgreSQL, and the migrated schema equals
the models (Alembic's autogenerate comparison finds nothing). `/healthz` follows the database."""
from __future__ import annotations

import os
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from backoffice.extensions import db
from backoffice.online_migrations import on_this_database
from pages_support import dedicated_app


def _upgrade_and_compare(app, url: str) -> None:
    with dedicated_app(app, SQLALCHEMY_DATABASE_URI=url) as fresh, fresh.app_context():
        assert inspect(db.engine).get_table_names() == []
        # "heads": engineers add 0002_<pkg> revisions branching from 0001 until the lead merges them.
        upgrade(revision="heads")
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": on_this_database(db.engine.dialect.name)})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], "\n".join(map(str, differences))
        # Upgrading again is a no-op.
        upgrade(revision="heads")


def test_upgrade_from_empty_on_sqlite(app, tmp_path):
    _upgrade_and_compare(app, f"sqlite:///{tmp_path / 'migrated.sqlite3'}")


def _postgres_server() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.mark.skipif(_postgres_server() is None, reason="TEST_DATABASE_URL is not a PostgreSQL database")
def test_upgrade_from_empty_on_postgresql(app):
    server = make_url(_postgres_server())
    name = f"bo_migrate_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _upgrade_and_compare(app, server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- /healthz ----------------------------------------------------------------------------------------------
def test_healthz_ok(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:1/nothing",
                                 "sqlite:////nonexistent-dir/for/sure/db.sqlite3"])
def test_healthz_503_when_the_database_is_unreachable(app, url):
    with dedicated_app(app, SQLALCHEMY_DATABASE_URI=url) as broken:
        response = broken.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "unavailable" and body["database"] == "down"
        # Other pages answer 503 too, not 500.
        assert broken.test_client().get("/admin/").status_code in (302, 503)
        assert broken.test_client().get("/login").status_code in (200, 503)
