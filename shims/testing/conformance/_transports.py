"""The transports every scenario runs over: plain TCP, TLS over TCP, and Unix sockets.

Theory of operation: a scenario never calls ``shims.connect`` or
``shims.serve`` itself; it asks its ``Transport`` (the ``transport``
fixture, parametrized ``tcp``/``tls``/``unix``, so ids read
``test_x[tls-uvloop]``) to connect to a peer, a proxy or a shim server, and
the transport picks the address kind and the TLS options. Peers are the same
threaded servers on every transport; on ``tls`` each accepted socket is
wrapped in a ``TLSPeerSocket``, a hand-driven TLS stream over a blocking
socket and ``ssl.MemoryBIO``, so a scenario decides exactly what goes on the
wire: ``close()`` is ``close_notify`` then FIN (an orderly TLS close),
``truncate()`` a FIN with no ``close_notify``, and an RST (``SO_LINGER`` 0)
sends no ``close_notify`` either. What a plain FIN means therefore differs by
transport, and ``fin_reason`` says what ``close_reason`` a scenario expects
for a FIN the proxy forwards (``"truncated"`` on TLS: the proxy never speaks
TLS). Certificates come from ``trustme`` (a throwaway CA), made once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any

import shims

__all__ = ["Certificates", "Refused", "TLSPeerSocket", "Transport", "certificates"]

_CERTS: list[Certificates] = []


@dataclass
class Certificates:
    """A throwaway CA and a server certificate for localhost, 127.0.0.1 and ::1."""

    ca: Any
    server: Any
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="shims-tls-"))

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting the certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting the CA, with hostname checking on."""
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def files(self) -> dict[str, str]:
        """Write ``ca.pem``, ``cert.pem`` and ``key.pem``; return their paths (for real servers)."""
        paths = {
            name: os.path.join(self.directory, f"{name}.pem") for name in ("ca", "cert", "key")
        }
        if not os.path.exists(paths["key"]):
            self.ca.cert_pem.write_to_path(paths["ca"])
            self.server.cert_chain_pems[0].write_to_path(paths["cert"])
            self.server.private_key_pem.write_to_path(paths["key"])
        return paths

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def certificates() -> Certificates | None:
    """The process's test certificates (made once), or None when ``trustme`` is missing."""
    if not _CERTS:
        try:
            import trustme
        except ImportError:
            return None
        ca = trustme.CA()
        _CERTS.append(Certificates(ca, ca.issue_cert("localhost", "127.0.0.1", "::1")))
    return _CERTS[0]


class TLSPeerSocket:
    """The peer's end of a TLS stream over a plain socket, driven step by step from a thread.

    It quacks like the socket a scenario drives (``sendall``, ``recv``,
    ``shutdown``, ``close``, ``setsockopt``, ``setblocking``), so the
    scenarios read the same on every transport. With ``hold_tickets`` the
    TLS 1.3 session tickets the server writes after the handshake are kept
    back until ``send_held()``.
    """

    def __init__(
        self,
        raw: socket.socket,
        context: ssl.SSLContext,
        *,
        server_side: bool = True,
        hold_tickets: bool = False,
    ) -> None:
        self.raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=server_side)
        self._hold = hold_tickets
        self._held = b""
        self._notified = False
        self._linger0 = False
        self.ended: str | None = None  # how the client's stream ended: "close_notify" or "fin"

    def handshake(self) -> None:
        """Complete the handshake (blocking, under the socket's timeout)."""
        while True:
            try:
                self._obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.raw.recv(65536)
                if not data:
                    raise ConnectionError("the client closed during the TLS handshake") from None
                self._in.write(data)
        if self._hold:
            self._held = self._out.read()
        self._flush()

    def send_held(self) -> int:
        """Send the post-handshake records held back; return their size in bytes."""
        held, self._held = self._held, b""
        self.raw.sendall(held)
        return len(held)

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.raw.sendall(data)

    def sendall(self, data: bytes) -> None:
        self._obj.write(data)
        self._flush()

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def recv(self, n: int) -> bytes:
        """Return plaintext; ``b""`` at ``close_notify`` or at a bare FIN."""
        while True:
            try:
                data = self._obj.read(n)
                if not data:  # the ssl module reports a received close_notify this way
                    self.ended = self.ended or "close_notify"
                return data
            except ssl.SSLWantReadError:
                data = self.raw.recv(65536)  # BlockingIOError passes through when non-blocking
                if not data:
                    self.ended = self.ended or "fin"
                    return b""
                self._in.write(data)
            except ssl.SSLZeroReturnError:
                self.ended = self.ended or "close_notify"
                return b""

    def raw_fin_seen(self) -> bool:
        """Return True once the client's TCP FIN arrived (after anything it sent), non-blocking."""
        self.raw.setblocking(False)
        try:
            while True:
                data = self.raw.recv(65536)
                if not data:
                    return True
                self._in.write(data)
        except BlockingIOError:
            return False
        finally:
            self.raw.settimeout(5.0)

    def close_notify(self) -> None:
        """Send ``close_notify`` and keep the TCP connection open (no FIN)."""
        self._close_notify()

    def _close_notify(self) -> None:
        if self._notified or self._linger0:
            return
        self._notified = True
        # SSLWantReadError: we never wait for the client's close_notify.
        with contextlib.suppress(ssl.SSLError):
            self._obj.unwrap()
        with contextlib.suppress(OSError):
            self._flush()

    def shutdown(self, how: int) -> None:
        """``close_notify`` then the TCP shutdown (TLS 1.3 half-close)."""
        self._close_notify()
        self.raw.shutdown(how)

    def truncate(self) -> None:
        """Send a FIN with no ``close_notify`` first: a truncated TLS stream."""
        self._notified = True
        self.raw.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """``close_notify`` (unless an RST was asked for) then close the socket."""
        self._close_notify()
        self.raw.close()

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if option == socket.SO_LINGER and bytes(value)[:4] != b"\0\0\0\0":
            self._linger0 = True  # an RST carries no close_notify
        self.raw.setsockopt(level, option, value)

    def setblocking(self, flag: bool) -> None:
        self.raw.setblocking(flag)

    def settimeout(self, value: float | None) -> None:
        self.raw.settimeout(value)

    def fileno(self) -> int:
        return self.raw.fileno()


class Refused:
    """An address that refuses connections: a socket bound (TCP port or Unix path), never listening."""

    def __init__(self, transport: Transport) -> None:
        self.path: str | None = None
        if transport.name == "unix":
            self.path = transport.unix_path()
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.bind(self.path)
            self.host, self.port = self.path, 0
        else:
            self._sock = socket.socket()
            self._sock.bind(("127.0.0.1", 0))
            self.host, self.port = "127.0.0.1", self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


class Transport:
    """How a scenario reaches its peers: ``tcp``, ``tls`` or ``unix``."""

    def __init__(self, name: str, certs: Certificates | None, directory: str | None) -> None:
        self.name = name
        self.certs = certs
        self._directory = directory
        self._count = 0
        self._client_ctx: ssl.SSLContext | None = None
        self._server_ctx: ssl.SSLContext | None = None

    @property
    def tls(self) -> bool:
        return self.name == "tls"

    @property
    def fin_reason(self) -> str:
        """``close_reason`` after a bare FIN from a proxy: a truncation on TLS."""
        return "truncated" if self.tls else "peer"

    @property
    def proxy_rst_reason(self) -> str:
        """``close_reason`` after the proxy resets: Unix sockets have no RST, so an EOF there.

        (A Unix socket reports ECONNRESET only when its peer closes with
        unread data; the proxy reads everything it is sent.)
        """
        return "peer" if self.name == "unix" else "reset"

    def unix_path(self) -> str:
        """A fresh socket path in this transport's private directory (short enough for sun_path)."""
        assert self._directory is not None
        self._count += 1
        return os.path.join(self._directory, f"s{self._count}")

    def client_context(self) -> ssl.SSLContext:
        """The client context (made once per transport: loading the system CAs is slow)."""
        if self._client_ctx is None:
            assert self.certs is not None
            self._client_ctx = self.certs.client_context()
        return self._client_ctx

    def server_context(self) -> ssl.SSLContext:
        """The server context (made once per transport)."""
        if self._server_ctx is None:
            assert self.certs is not None
            self._server_ctx = self.certs.server_context()
        return self._server_ctx

    def wrap_accepted(self, sock: socket.socket, *, hold_tickets: bool = False) -> Any:
        """Return what a scenario drives for an accepted peer socket (handshake done on TLS)."""
        if not self.tls:
            return sock
        peer = TLSPeerSocket(sock, self.server_context(), hold_tickets=hold_tickets)
        peer.handshake()
        return peer

    async def connect(self, where: Any, **options: Any) -> shims.Connection:
        """Connect to ``where`` (anything with ``host``/``port``, or ``path`` on unix)."""
        path = getattr(where, "path", None) or getattr(where, "host", None)
        if self.name == "unix":
            assert path, f"{where!r} has no Unix socket path"
            return await shims.connect_unix(path, **options)
        if self.tls:
            options.setdefault("ssl", self.client_context())
        return await shims.connect(where.host, where.port, **options)

    async def serve(self, handler: Any, **options: Any) -> shims.Server:
        """Start a shim server on this transport (the returned server is what ``connect`` takes)."""
        if self.name == "unix":
            return await shims.serve_unix(handler, self.unix_path(), **options)
        if self.tls:
            options.setdefault("ssl", self.server_context())
        return await shims.serve(handler, "127.0.0.1", 0, **options)

    def __repr__(self) -> str:
        return f"<Transport {self.name}>"
