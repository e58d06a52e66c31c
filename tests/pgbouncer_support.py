"""A PgBouncer of the test's own, in transaction mode, in front of the PostgreSQL database a URL names: a process
started on a free port of 127.0.0.1 with a configuration written to a temporary folder, stopped afterwards. The
distribution's service (and its port 6432) is never used.

    with running_pgbouncer("postgresql://postgres@127.0.0.1:5432/db", pool_size=2) as bouncer:
        bouncer.url  # postgresql://postgres@127.0.0.1:<port>/db, through PgBouncer

Used by tests/test_pgbouncer.py and bench/bench_pgbouncer.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


@dataclass
class PgBouncer:
    url: str  # the database through PgBouncer
    admin_url: str  # PgBouncer's console (SHOW POOLS…)
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(folder: Path, port: int, database: str, host: str, server_port: int, user: str, pool_size: int,
            max_client_conn: int) -> str:
    return f"""[databases]
{database} = host={host} port={server_port} dbname={database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
admin_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
log_connections = 0
log_disconnections = 0
# A client waiting this long for a server connection fails (PgBouncer's default, 120 s, made a pool deadlock
# a test of minutes).
query_wait_timeout = 15
"""


@contextmanager
def running_pgbouncer(database_url: str, *, pool_size: int = 2, max_client_conn: int = 200) -> Iterator[PgBouncer]:
    """PgBouncer (transaction pooling, `pool_size` server connections) in front of `database_url`'s database."""
    target = make_url(database_url)
    user = target.username or "postgres"
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    port = _free_port()
    # PgBouncer refuses to run as root; as root it is started as `nobody`, which must read its files (they hold
    # no secret: trust authentication, a user name with an empty password).
    folder.chmod(0o777)
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(_config(folder, port, target.database, target.host or "127.0.0.1",
                                                  target.port or 5432, user, pool_size, max_client_conn))
    for name in ("userlist.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [PGBOUNCER, "-q", str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(port, process, folder)
        through = target.set(host="127.0.0.1", port=port)
        yield PgBouncer(url=through.render_as_string(hide_password=False),
                        admin_url=through.set(database="pgbouncer").render_as_string(hide_password=False),
                        log=folder / "pgbouncer.log")
    finally:
        # SIGINT: PgBouncer's safe shutdown (it waits for the clients to be done); the tests are by then.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (folder / "pgbouncer.log")
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: "
                               f"{process.stderr.read().decode(errors='replace') if process.stderr else ''}"
                               f"{log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on 127.0.0.1:{port} within 10 s")
