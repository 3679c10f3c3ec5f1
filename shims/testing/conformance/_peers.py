"""Backend-independent peers and small helpers for the conformance scenarios."""

# Theory of operation
# -------------------
# The peers run in threads on plain blocking sockets, so what a scenario
# observes depends only on the backend under test.  ``RawPeer.accept`` and
# the peer's sends are blocking, but they only ever wait for something the
# kernel already has (the handshake completed before ``shims.connect``
# returned).  Reads from a peer socket go through ``peer_read``, which polls,
# because a loop may send our bytes or FIN only when it runs again.

from __future__ import annotations

import os
import socket
import socketserver
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import shims

__all__ = [
    "TIMEOUT",
    "EchoServer",
    "RawPeer",
    "ask",
    "eventually",
    "open_fds",
    "outcome",
    "peer_read",
    "pool_counters",
    "reset",
]

TIMEOUT = 5.0
"""Deadline of every I/O call in the suite: generous, never reached when all is well."""

PATIENCE = float(os.environ.get("SHIMS_CONFORMANCE_PATIENCE", TIMEOUT))
"""How long ``eventually`` waits for an event (a FIN seen, a callback run).

Lower it (environment ``SHIMS_CONFORMANCE_PATIENCE``, seconds) only to run
the suite quickly against a backend known to be broken: a healthy backend
sees each event within milliseconds, a broken one never does.
"""


class _LineEcho(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        try:
            for line in self.rfile:
                self.wfile.write(line)
                self.wfile.flush()
        except OSError:
            pass  # the client (or the proxy in front of us) reset the connection


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 512  # the default 5 drops SYNs when many clients connect at once


class EchoServer:
    """A threaded line-echo server: every line received is sent back."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _LineEcho)
        self.host: str = "127.0.0.1"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(TIMEOUT)


class RawPeer:
    """A listening plain socket; the scenario drives each accepted socket by hand."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self.host: str = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []

    def accept(self) -> socket.socket:
        """Return the next accepted socket (blocking, with the suite's deadline)."""
        sock, _ = self._listener.accept()
        sock.settimeout(TIMEOUT)
        self._accepted.append(sock)
        return sock

    def close(self) -> None:
        for sock in self._accepted:
            sock.close()
        self._listener.close()


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST (SO_LINGER 0) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def peer_read(sock: socket.socket, n: int | None = None) -> bytes:
    """Read ``n`` bytes (None: until EOF) from a peer socket without blocking the loop.

    Polls the socket every 2 ms: some loops (uvloop) only send a FIN when the
    loop runs again, so a blocking read here could wait for itself.  Stops
    at EOF, or after the suite's deadline, returning what arrived.
    """
    data = b""
    deadline = shims.monotonic() + TIMEOUT
    sock.setblocking(False)
    try:
        while n is None or len(data) < n:
            try:
                chunk = sock.recv(65536 if n is None else n - len(data))
            except BlockingIOError:
                if shims.monotonic() >= deadline:
                    break
                await shims.sleep(0.002)
                continue
            if not chunk:
                break
            data += chunk
    finally:
        sock.settimeout(TIMEOUT)
    return data


async def ask(conn: shims.Connection, message: bytes) -> bytes:
    """Send one line and read the one-line answer, each under the suite's deadline."""
    await conn.write(message + b"\n", timeout=TIMEOUT)
    return await conn.read_until(b"\n", timeout=TIMEOUT)


async def eventually(predicate: Callable[[], bool], timeout: float | None = None) -> bool:  # noqa: ASYNC109
    """Poll ``predicate`` every 2 ms until it is true; False after ``timeout`` (PATIENCE) s."""
    deadline = shims.monotonic() + (PATIENCE if timeout is None else timeout)
    while not predicate():
        if shims.monotonic() >= deadline:
            return False
        await shims.sleep(0.002)
    return True


async def outcome(aw: Awaitable[Any]) -> object:
    """Return ``("ok", result)`` or the name of the exception type ``aw`` raised."""
    try:
        return ("ok", await aw)
    except Exception as exc:
        return type(exc).__name__


def open_fds() -> int | None:
    """Count this process's open file descriptors (None where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def pool_counters(pool: shims.ConnectionPool) -> dict[str, int]:
    """The backend-neutral pool counters a scenario records."""
    stats = pool.stats()
    keys = ("opened", "reused", "discarded_dead", "discarded_expired", "discarded_unread")
    return {k: stats[k] for k in (*keys, "connect_errors")}
