"""TLS in legacy.runtime: connect(ssl=...), start_tls, and the same ends of stream as the shim."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from legacy import runtime
from shims.testing.conformance._transports import Certificates, TLSPeerSocket

DEADLINE = 10.0


class TLSPeer:
    """A thread that accepts one connection and completes a TLS handshake as the server."""

    def __init__(self, certs: Certificates, *, hold_tickets: bool = False, tls: bool = True):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEADLINE)
        self.port = self.listener.getsockname()[1]
        self.peer: Any = None
        self._certs, self._hold, self._tls = certs, hold_tickets, tls
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sock, _ = self.listener.accept()
        sock.settimeout(DEADLINE)
        if not self._tls:
            self.peer = sock
            return
        peer = TLSPeerSocket(sock, self._certs.server_context(), hold_tickets=self._hold)
        try:
            peer.handshake()
        except OSError:
            sock.close()
            return
        self.peer = peer

    def ready(self) -> Any:
        self._thread.join(DEADLINE)
        return self.peer

    def close(self) -> None:
        self._thread.join(DEADLINE)
        if self.peer is not None:
            self.peer.close()
        self.listener.close()


async def until(predicate: Any) -> None:
    deadline = runtime.monotonic() + DEADLINE
    while not predicate():
        assert runtime.monotonic() < deadline, "timed out"
        await runtime.sleep(0.002)


async def _connect(certs: Certificates, peer: TLSPeer, **options: Any) -> runtime.Connection:
    options.setdefault("ssl", certs.client_context())
    return await runtime.connect("127.0.0.1", peer.port, timeout=DEADLINE, **options)


def test_connect_with_tls_against_a_real_redis(redis_tls: Any, tls_certs: Certificates) -> None:
    async def main() -> tuple[bytes, bool, int]:
        conn = await runtime.connect(
            redis_tls.host,
            redis_tls.port,
            timeout=DEADLINE,
            ssl=tls_certs.client_context(),
            server_hostname="localhost",
        )
        try:
            await conn.write(b"PING\r\n", timeout=DEADLINE)
            reply = await conn.read_until(b"\r\n", timeout=DEADLINE)
            await runtime.sleep(0.05)  # session tickets arrive: not unread data, not a close
            return reply, conn.closed(), conn.unread_bytes()
        finally:
            conn.close()

    assert runtime.run(main) == (b"+PONG\r\n", False, 0)


def test_close_sends_close_notify_at_once(tls_certs: Certificates) -> None:
    peer = TLSPeer(tls_certs)

    async def main() -> tuple[Any, ...]:
        conn = await _connect(tls_certs, peer)
        upstream = peer.ready()
        start = time.monotonic()
        conn.close()
        took = time.monotonic() - start
        upstream.raw.settimeout(DEADLINE)
        got = upstream.recv(100)
        return took < 1.0, got, upstream.ended, upstream.raw_fin_seen()

    try:
        assert runtime.run(main) == (True, b"", "close_notify", True)
    finally:
        peer.close()


def test_orderly_and_truncated_ends(tls_certs: Certificates) -> None:
    orderly, cut = TLSPeer(tls_certs), TLSPeer(tls_certs)

    async def main() -> list[Any]:
        seen: list[Any] = []
        for peer, end in ((orderly, "close"), (cut, "truncate")):
            conn = await _connect(tls_certs, peer)
            upstream = peer.ready()
            upstream.sendall(b"abc")
            getattr(upstream, end)()
            await until(conn.closed)
            try:
                await conn.read_exactly(10, timeout=DEADLINE)
            except runtime.PeerClosedError as exc:
                seen.append((exc.reason, exc.partial))
            try:
                seen.append(await conn.read_some(timeout=DEADLINE))
            except runtime.PeerClosedError as exc:
                seen.append(exc.reason)
            conn.close()
        return seen

    try:
        assert runtime.run(main) == [("peer", b"abc"), b"", ("truncated", b"abc"), "truncated"]
    finally:
        orderly.close()
        cut.close()


def test_session_tickets_in_the_kernel_are_not_unread_data(tls_certs: Certificates) -> None:
    peer = TLSPeer(tls_certs, hold_tickets=True)

    async def main() -> tuple[Any, ...]:
        conn = await _connect(tls_certs, peer)
        upstream = peer.ready()
        sent = upstream.send_held()
        time.sleep(0.05)  # no scheduler turn: the records wait in the kernel
        alive, unread = not conn.closed(), conn.unread_bytes()
        await conn.write(b"ping", timeout=DEADLINE)
        got = upstream.recv(4)
        upstream.sendall(b"pong")
        answer = await conn.read_exactly(4, timeout=DEADLINE)
        conn.close()
        return sent > 0, alive, unread, got, answer

    try:
        assert runtime.run(main) == (True, True, 0, b"ping", b"pong")
    finally:
        peer.close()


def test_start_tls_in_band_and_bad_input(tls_certs: Certificates) -> None:
    peer = TLSPeer(tls_certs, tls=False)

    async def main() -> tuple[Any, ...]:
        conn = await runtime.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        raw = peer.ready()
        with pytest.raises(runtime.TLSError, match=r"needs an ssl\.SSLContext"):
            await conn.start_tls("yes")  # type: ignore[arg-type]
        upgraded: list[TLSPeerSocket] = []

        def upgrade() -> None:
            tls = TLSPeerSocket(raw, tls_certs.server_context())
            tls.handshake()
            upgraded.append(tls)

        thread = threading.Thread(target=upgrade, daemon=True)
        thread.start()
        await conn.start_tls(tls_certs.client_context(), server_hostname="localhost")
        thread.join(DEADLINE)
        await conn.write(b"secret", timeout=DEADLINE)
        got = upgraded[0].recv(6)
        with pytest.raises(runtime.TLSError, match="already TLS"):
            await conn.start_tls(tls_certs.client_context())
        conn.close()
        with pytest.raises(runtime.ConnectionClosedError):
            await conn.start_tls(tls_certs.client_context())
        return got, type(conn).__name__

    try:
        assert runtime.run(main) == (b"secret", "TLSConnection")
    finally:
        peer.close()


def test_certificate_failure_and_stalled_handshake(tls_certs: Certificates) -> None:
    wrong_name, stalled = TLSPeer(tls_certs), TLSPeer(tls_certs, tls=False)

    async def main() -> tuple[str, float]:
        with pytest.raises(runtime.TLSError) as info:
            await _connect(tls_certs, wrong_name, server_hostname="elsewhere.example")
        with pytest.raises(runtime.TLSError, match=r"pass an ssl\.SSLContext"):
            await runtime.connect("127.0.0.1", stalled.port, ssl="x")  # type: ignore[arg-type]
        start = runtime.monotonic()
        with pytest.raises(runtime.Timeout):
            await runtime.connect(
                "127.0.0.1", stalled.port, ssl=tls_certs.client_context(), timeout=0.3
            )
        return str(info.value), runtime.monotonic() - start

    try:
        message, waited = runtime.run(main)
    finally:
        wrong_name.close()
        stalled.close()
    assert "Hostname mismatch" in message
    assert 0.25 <= waited < 3.0
