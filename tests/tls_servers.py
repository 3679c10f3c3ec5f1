"""Real TLS servers the tests start themselves: redis-server with ``tls-port``, a private MariaDB.

Each runs on its own free loopback port with certificates from ``trustme``
(the conformance suite's throwaway CA, so one client context trusts both),
in a scratch directory, and is stopped (terminate, then kill) by the fixture
that started it. A server binary that is missing is a skip with the reason,
or a failure under ``MIGRATE_REQUIRE_SERVICES=1`` (CI installs both).

The MariaDB instance gets its own data directory (``mariadb-install-db``),
socket and port; a user ``tls`` (password ``secret``) that is only let in
over TLS (``REQUIRE SSL``), so a test that authenticates as it proves the
in-protocol upgrade really happened; and a ``test`` database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shims.testing.conformance._transports import Certificates

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class TLSServer:
    """Where a TLS server listens and the name its certificate carries."""

    host: str
    port: int
    server_hostname: str = "localhost"
    user: str = ""
    password: str = ""
    database: str = ""


def missing(binary: str) -> None:
    """Skip (or fail under MIGRATE_REQUIRE_SERVICES=1) because ``binary`` is not installed."""
    reason = f"{binary} is not installed (apt-get install redis-server mariadb-server)"
    if os.environ.get("MIGRATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; MIGRATE_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not listen on {port} within {START_TIMEOUT} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def redis_tls(certs: Certificates) -> Iterator[TLSServer]:
    """Run ``redis-server`` with only a TLS port (no plain port) for the block."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server")
    assert binary is not None
    files = certs.files()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="redis-tls-"))
    log = workdir / "redis.log"
    args = [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    args += ["--tls-cert-file", files["cert"], "--tls-key-file", files["key"]]
    args += ["--tls-ca-cert-file", files["ca"], "--tls-auth-clients", "no"]
    args += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, log)
        yield TLSServer("127.0.0.1", port)
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _sql(client: str, sock: Path, statements: str) -> None:
    subprocess.run(
        [client, "--no-defaults", "-S", str(sock), "-uroot", "-e", statements],
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextlib.contextmanager
def mariadb_tls(certs: Certificates) -> Iterator[TLSServer]:
    """Run a private MariaDB (own data directory, socket, port) with TLS for the block."""
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
    install = shutil.which("mariadb-install-db")
    client = shutil.which("mariadb")
    if server is None or install is None or client is None:
        missing("mariadbd/mariadb-install-db/mariadb")
    assert server is not None and install is not None and client is not None
    files = certs.files()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="mariadb-tls-"))
    data, sock, log = workdir / "data", workdir / "sock", workdir / "server.log"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--skip-test-db", *user],
        check=True,
        capture_output=True,
        timeout=300,
    )
    args = [server, "--no-defaults", f"--datadir={data}", f"--socket={sock}"]
    args += [f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={workdir / 'pid'}"]
    args += [f"--ssl-cert={files['cert']}", f"--ssl-key={files['key']}", f"--ssl-ca={files['ca']}"]
    args += ["--skip-log-bin", "--innodb-buffer-pool-size=16M", *user]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, log)
        _sql(
            client,
            sock,
            "CREATE DATABASE test; CREATE USER 'tls'@'%' IDENTIFIED BY 'secret' REQUIRE SSL; "
            "GRANT ALL ON test.* TO 'tls'@'%';",
        )
        yield TLSServer("127.0.0.1", port, user="tls", password="secret", database="test")
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
