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

import contextlib
import os
import queue
import select
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import shims

from ._transports import Transport

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
    "unread_at_peer",
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
    def setup(self) -> None:
        context: ssl.SSLContext | None = getattr(self.server, "tls_context", None)
        if context is not None:
            self.request.settimeout(TIMEOUT)
            self.request = self.connection = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client is gone; the flush of an empty buffer failed
        finally:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.close()  # socketserver closes only the socket it accepted

    def handle(self) -> None:
        try:
            for line in self.rfile:
                self.wfile.write(line)
                self.wfile.flush()
        except OSError:
            pass  # the client (or the proxy in front of us) reset the connection


class _Quiet:
    tls_context: ssl.SSLContext | None = None
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 512  # the default 5 drops SYNs when many clients connect at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that failed its TLS handshake or vanished: not the scenario's subject


class _Server(_Quiet, socketserver.ThreadingTCPServer):
    pass


class _UnixServer(_Quiet, socketserver.ThreadingUnixStreamServer):
    pass


class EchoServer:
    """A threaded line-echo server on ``transport`` (default TCP): every line is sent back."""

    def __init__(self, transport: Transport | None = None) -> None:
        self.path: str | None = None
        server: socketserver.BaseServer
        if transport is not None and transport.name == "unix":
            self.path = transport.unix_path()
            server = _UnixServer(self.path, _LineEcho)
            self.host, self.port = self.path, 0
        else:
            server = _Server(("127.0.0.1", 0), _LineEcho)
            self.host = "127.0.0.1"
            self.port = server.server_address[1]
            if transport is not None and transport.tls:
                server.tls_context = transport.server_context()
        self._server = server
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(TIMEOUT)
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


class RawPeer:
    """A listening socket on ``transport``; the scenario drives each accepted socket by hand.

    On TLS a thread accepts and completes each handshake as the client dials
    (``shims.connect`` returns only after it), and ``accept()`` hands out the
    ready ``TLSPeerSocket``; set ``hold_tickets`` before dialling to keep its
    session tickets back.
    """

    def __init__(self, transport: Transport | None = None) -> None:
        self._transport = transport
        self.path: str | None = None
        if transport is not None and transport.name == "unix":
            self.path = transport.unix_path()
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(self.path)
            self._listener.listen(64)
            self.host, self.port = self.path, 0
        else:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.host = "127.0.0.1"
            self.port = self._listener.getsockname()[1]
        self._listener.settimeout(TIMEOUT)
        self._accepted: list[Any] = []
        self.hold_tickets = False
        self._ready: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closing = False
        if transport is not None and transport.tls:
            # A close() from another thread does not wake a blocking accept(): poll.
            self._listener.settimeout(0.02)
            self._thread = threading.Thread(target=self._accept_tls, daemon=True)
            self._thread.start()

    def _accept_tls(self) -> None:
        assert self._transport is not None
        while not self._closing:
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            sock.settimeout(TIMEOUT)
            try:
                self._ready.put(self._transport.wrap_accepted(sock, hold_tickets=self.hold_tickets))
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                self._ready.put(exc)

    def accept(self) -> Any:
        """Return the next accepted socket (blocking, with the suite's deadline)."""
        if self._thread is not None:
            got = self._ready.get(timeout=TIMEOUT)
            if isinstance(got, BaseException):
                raise got
            sock = got
        else:
            sock, _ = self._listener.accept()
            sock.settimeout(TIMEOUT)
        self._accepted.append(sock)
        return sock

    def close(self) -> None:
        self._closing = True
        for sock in self._accepted:
            sock.close()
        if self._thread is not None:
            self._thread.join(TIMEOUT)
        self._listener.close()
        while not self._ready.empty():
            leftover = self._ready.get()
            if not isinstance(leftover, BaseException):
                leftover.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def reset(sock: Any) -> None:
    """Close ``sock`` with an RST (SO_LINGER 0) instead of a FIN (and, on TLS, no close_notify)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def unread_at_peer(conn: shims.Connection, sock: Any) -> None:
    """Leave a byte from ``conn`` unread in the peer's socket before the peer resets.

    Closing with unread data is what makes Unix sockets report ECONNRESET
    (they have no RST); on TCP it is an RST as well, so scenarios that reset
    do this on every transport.
    """
    await conn.write(b"!", timeout=TIMEOUT)
    deadline = shims.monotonic() + TIMEOUT
    while not select.select([sock.fileno()], [], [], 0)[0]:
        if shims.monotonic() >= deadline:
            raise TimeoutError(f"the byte written on {conn!r} never reached the peer")
        await shims.sleep(0.002)


async def peer_read(sock: Any, n: int | None = None) -> bytes:
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
