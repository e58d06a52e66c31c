"""Several processes start at once with the same configured signing keys (a deploy restarts every worker of every
host together): each starts, the ring holds each key once, one audit entry per key, and exactly one signer."""
from __future__ import annotations

import multiprocessing
import os
import secrets
import tempfile
import traceback

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

PROCESSES = 6


def _new_seed() -> tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from backoffice.scanning import keyring
    private = Ed25519PrivateKey.generate()
    return (keyring.kid_for(keyring._raw_public(private)),
            keyring._b64(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())))


@pytest.fixture()
def empty_database(tmp_path):
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'keys.sqlite3'}"
        return
    name = f"bo_keys_{secrets.token_hex(4)}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _config(url: str, keys: str) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "keyring-startup", "TESTING": True,
            "BACKOFFICE_SIGNING_KEYS": keys}


def _start(url: str, keys: str, barrier, results) -> None:
    try:
        os.environ["BACKOFFICE_INSTANCE"] = tempfile.mkdtemp(prefix="bo_keys_")
        from backoffice import create_app
        from backoffice.scanning import keyring
        app = create_app(_config(url, keys))
        with app.app_context():
            barrier.wait(timeout=60)
            keyring._sync_configured()
        results.put("ok")
    except BaseException:  # noqa: BLE001  (the parent reports what failed in the child)
        results.put(traceback.format_exc())


def test_processes_starting_together_insert_each_configured_key_once(empty_database):
    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.models import AuditLog, SigningKey
    (kid1, seed1), (kid2, seed2) = _new_seed(), _new_seed()
    keys = f"{kid1}={seed1},{kid2}={seed2}"
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bo_keys_"))
    app = create_app(_config(empty_database, keys))
    with app.app_context():
        db.create_all()
        db.engine.dispose()  # no connection of the parent's crosses the fork
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    children = [context.Process(target=_start, args=(empty_database, keys, barrier, results))
                for _ in range(PROCESSES)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert outcomes == ["ok"] * PROCESSES, "\n".join(o for o in outcomes if o != "ok")
    with app.app_context():
        rows = db.session.execute(select(SigningKey.kid, SigningKey.signing, SigningKey.private_key)).all()
        assert sorted(r.kid for r in rows) == sorted([kid1, kid2])
        assert [r.kid for r in rows if r.signing] == [kid1]  # the first configured key, whoever inserted it
        assert all(r.private_key is None for r in rows)
        audited = db.session.scalars(select(AuditLog.entity_id).where(AuditLog.action == "signing_key.configured"))
        assert sorted(audited) == sorted([kid1, kid2])
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 2
