"""Personal data is not cached (no-store), styles need no 'unsafe-inline', and a
key published by `keys rotate` verifies on every process before it signs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from backoffice.extensions import db
from backoffice.models import SigningKey
from backoffice.models.base import utcnow
from backoffice.scanning import keyring


# --- no-store -----------------------------------------------------------------------------------------------
def test_json_with_personal_data_is_not_cached(as_user):
    response = as_user("org1.staff").get("/reception/recent")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"


def test_anything_answered_to_a_logged_in_user_is_not_cached(as_user):
    # A chart, an image, a file: scoped data of persons or organizations, whatever the type.
    browser = as_user("admin")
    assert browser.get("/admin/").headers["Cache-Control"] == "no-store"
    static = browser.get("/static/backoffice.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")  # static files keep their own caching


# --- CSP ----------------------------------------------------------------------------------------------------
def _style_src(response) -> str:
    return re.search(r"style-src ([^;]+)", response.headers["Content-Security-Policy"]).group(1)


def test_style_src_has_no_unsafe_inline(app, as_user):
    for path in ("/login", "/register", "/admin/", "/admin/person/", "/guide/"):
        browser = as_user("admin") if path.startswith(("/admin", "/guide")) else app.test_client()
        response = browser.get(path, follow_redirects=False)
        assert "'unsafe-inline'" not in _style_src(response), path


def test_style_blocks_carry_the_nonce_and_no_style_attributes(as_user):
    response = as_user("admin").get("/guide/")
    if response.status_code == 302:
        response = as_user("admin").get(response.headers["Location"])
    html = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", _style_src(response)).group(1)
    blocks = re.findall(r"<style\b[^>]*>", html)
    assert blocks and all(f'nonce="{nonce}"' in tag for tag in blocks)
    assert not re.search(r"\sstyle=\"", html)


# --- key rotation across processes ---------------------------------------------------------------------------
_OTHER_PROCESS = textwrap.dedent("""
    import base64, json, sys
    from backoffice import create_app
    from backoffice.scanning import keyring
    app = create_app(json.loads(sys.argv[1]))
    with app.app_context():
        print("known " + ",".join(sorted(keyring.public_keys())), flush=True)  # the ring is cached from here on
        for line in sys.stdin:
            kid, signature, data = line.split()
            with app.app_context():
                print(keyring.verify(kid, base64.b64decode(signature), base64.b64decode(data)), flush=True)
""")


def test_rotate_publishes_the_next_key_before_it_signs(app, ctx):
    for waiting in keyring._pending():  # left by another test's rotation: would sign from this rotation on
        keyring.retire(waiting.kid)
    signer = keyring.current_signer().kid
    new = keyring.rotate()
    assert keyring.current_signer().kid == signer, "the new key must not sign before it is published everywhere"
    published = {k["kid"]: k for k in keyring.jwks()["keys"]}
    assert new.kid in published and not published[new.kid]["signing"]
    assert new.signs_from >= utcnow() + timedelta(seconds=60)
    # Its time comes: it signs.
    db.session.execute(update(SigningKey).where(SigningKey.kid == new.kid)
                       .values(signs_from=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert keyring.current_signer().kid == new.kid


def test_a_key_signing_right_after_rotation_verifies_on_another_process(app, ctx, tmp_path):
    import base64
    keyring.current_signer()
    config = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING")}
    config["BACKOFFICE_KEY_CACHE_SECONDS"] = 3600  # the other process would not reread the ring by itself
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, BACKOFFICE_INSTANCE=str(tmp_path))
    other = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS, json.dumps(config)], cwd=root, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().startswith("known "), other.stderr.read()[-2000:]
        keyring.rotate()  # publishes the next key
        keyring.rotate()  # ... which signs from this rotation on
        signer = keyring.current_signer()
        data = b"HCMBO1:payload"
        line = f"{signer.kid} {base64.b64encode(signer.sign(data)).decode()} {base64.b64encode(data).decode()}\n"
        other.stdin.write(line)
        other.stdin.flush()
        assert other.stdout.readline().strip() == "ok"
    finally:
        other.stdin.close()
        other.wait(timeout=60)
