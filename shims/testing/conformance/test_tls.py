"""TLS close semantics, failures and the liveness probe: one behaviour on every backend.

What each backend must do (docs/shims.md, "TLS close semantics"): ``close()``
sends ``close_notify`` and closes at once, never waiting for the peer's; the
peer's ``close_notify`` (with or without a FIN after it) is an orderly close;
a FIN with no ``close_notify`` is a truncation (``close_reason`` and the
error say so); an RST is a reset; certificate and hostname failures are
``TLSError`` with the verification message; a handshake that stalls is
``ConnectTimeout`` at the connect deadline; the pool keeps a connection
that only received session tickets and drops one whose peer closed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import shims
from shims.testing import FaultProxy, ParityRecorder
from shims.testing.conformance._peers import (
    TIMEOUT,
    RawPeer,
    eventually,
    outcome,
    peer_read,
    pool_counters,
    reset,
    unread_at_peer,
)
from shims.testing.conformance._transports import TLSPeerSocket, Transport
from shims.testing.conformance.test_post_mortem import facts

pytestmark = pytest.mark.parity

# A blocking pause with no loop turn in it: the bytes a peer just sent reach our
# kernel buffer, and the backend has had no chance to read them yet.
KERNEL_SETTLE = 0.05


async def _echo_once(conn: shims.Connection, upstream: Any, line: bytes) -> bytes:
    await conn.write(line, timeout=TIMEOUT)
    got = await peer_read(upstream, len(line))
    upstream.sendall(got)
    return await conn.read_exactly(len(line), timeout=TIMEOUT)


def _error(exc: BaseException) -> tuple[str, str | None]:
    return type(exc).__name__, getattr(exc, "reason", None)


async def test_close_sends_close_notify_and_never_waits_for_the_peers(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """close() sends close_notify then FIN at once; the peer never answering changes nothing."""
    conn = await tls.connect(tls_peer, timeout=TIMEOUT)
    upstream: TLSPeerSocket = tls_peer.accept()
    parity.record("echo", await _echo_once(conn, upstream, b"ping\n"))
    calls: list[str | None] = []
    conn.on_close(lambda c: calls.append(c.close_reason))
    start = shims.monotonic()
    conn.close()
    returned_at_once = shims.monotonic() - start < 1.0
    rest = await peer_read(upstream)
    fin = await eventually(upstream.raw_fin_seen)
    parity.record("returned_at_once", returned_at_once)
    parity.record("peer_saw", (rest, upstream.ended, fin))
    parity.record("facts", facts(conn))
    parity.record("calls", calls)
    assert returned_at_once
    assert upstream.ended == "close_notify", f"the peer saw {upstream.ended!r}, no close_notify"
    assert fin, "close() kept the socket open, waiting for the peer's close_notify"
    assert calls == ["local"]


async def test_peer_close_notify_then_fin_is_an_orderly_close(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """The peer's close_notify then FIN: everything before it is read, then a clean EOF."""
    conn = await tls.connect(tls_peer, timeout=TIMEOUT)
    try:
        calls: list[str | None] = []
        conn.on_close(lambda c: calls.append(c.close_reason))
        upstream = tls_peer.accept()
        upstream.sendall(b"last words\n")
        upstream.close()  # close_notify, then FIN
        parity.record("before", await outcome(conn.read_until(b"\n", timeout=TIMEOUT)))
        parity.record("closed", await eventually(conn.closed))
        parity.record("read_at_end", await outcome(conn.read_some(timeout=TIMEOUT)))
        parity.record("facts", facts(conn))
        parity.record("calls", calls)
        assert conn.close_reason == "peer" and calls == ["peer"]
    finally:
        conn.close()


async def test_peer_close_notify_without_fin_is_an_orderly_close(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """close_notify alone (the TCP connection stays up) already ends the peer's stream."""
    conn = await tls.connect(tls_peer, timeout=TIMEOUT)
    try:
        upstream: TLSPeerSocket = tls_peer.accept()
        upstream.close_notify()
        parity.record("closed", await eventually(conn.closed))
        parity.record("read_at_end", await outcome(conn.read_some(timeout=TIMEOUT)))
        parity.record("facts", facts(conn))
        assert conn.close_reason == "peer"
    finally:
        conn.close()


async def test_fin_without_close_notify_is_a_truncation(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """A FIN with no close_notify is never a clean close: TLSTruncatedError, reason 'truncated'."""
    conn = await tls.connect(tls_peer, timeout=TIMEOUT)
    try:
        upstream: TLSPeerSocket = tls_peer.accept()
        upstream.sendall(b"partial")
        upstream.truncate()
        parity.record("closed", await eventually(conn.closed))
        parity.record("facts", facts(conn))
        errors: list[tuple[Any, ...]] = []
        for aw in (conn.read_exactly(100, timeout=TIMEOUT), conn.read_some(timeout=TIMEOUT)):
            try:
                errors.append(("ok", await aw))
            except shims.PeerClosedError as exc:
                errors.append((*_error(exc), exc.partial, isinstance(exc, EOFError)))
        parity.record("reads", errors)
        assert conn.close_reason == "truncated", f"a truncated stream read as {conn!r}"
        assert errors[0] == ("TLSTruncatedError", "truncated", b"partial", True), errors
        assert errors[1][:2] == ("TLSTruncatedError", "truncated"), errors
    finally:
        conn.close()


async def test_fin_in_the_middle_of_a_record_is_a_truncation(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer, tls_peer_proxy: FaultProxy
) -> None:
    """A proxy that passes 10 bytes of a record then FINs: a waiting read gets TLSTruncatedError."""
    conn = await tls.connect(tls_peer_proxy, timeout=TIMEOUT)
    try:
        upstream = tls_peer.accept()
        parity.record("echo", await _echo_once(conn, upstream, b"warm\n"))
        reader = shims.spawn(conn.read_exactly(200, timeout=TIMEOUT))
        tls_peer_proxy.fin_mid_record(10)
        upstream.sendall(b"y" * 200)
        try:
            await reader
            parity.record("read", "no error")
        except shims.PeerClosedError as exc:
            parity.record("read", (*_error(exc), exc.partial))
        parity.record("facts", facts(conn))
        assert conn.close_reason == "truncated", f"a cut record read as {conn!r}"
    finally:
        conn.close()


async def test_rst_is_a_reset_not_a_truncation(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """An RST (no close_notify either) stays a reset, as on plain TCP."""
    conn = await tls.connect(tls_peer, timeout=TIMEOUT)
    try:
        upstream = tls_peer.accept()
        await unread_at_peer(conn, upstream)
        reset(upstream)
        parity.record("closed", await eventually(conn.closed))
        parity.record("read", await outcome(conn.read_some(timeout=TIMEOUT)))
        parity.record("facts", facts(conn))
        assert conn.close_reason == "reset"
    finally:
        conn.close()


async def test_certificate_and_hostname_failures_raise_tls_error(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """An untrusted CA and a wrong host name: TLSError (a ConnectError) with OpenSSL's reason."""
    seen: dict[str, tuple[str, str | None]] = {}
    for case, options in (
        ("untrusted", {"ssl": True}),
        ("hostname", {"server_hostname": "elsewhere.example"}),
    ):
        try:
            conn = await tls.connect(tls_peer, timeout=TIMEOUT, **options)
            conn.close()
            seen[case] = ("connected", None)
        except shims.TLSError as exc:
            assert isinstance(exc, shims.ConnectError)
            assert exc.verify_message and exc.verify_message in str(exc)
            seen[case] = (type(exc).__name__, exc.verify_message)
    parity.record("seen", seen)
    assert seen["untrusted"][0] == "TLSError" and "issuer" in str(seen["untrusted"][1])
    assert seen["hostname"][0] == "TLSError" and "Hostname mismatch" in str(seen["hostname"][1])


async def test_a_stalled_handshake_is_connect_timeout_at_the_deadline(
    parity: ParityRecorder, tls: Transport, tcp_peer: RawPeer
) -> None:
    """The TCP connect succeeds but the peer never answers the ClientHello: ConnectTimeout."""
    start = shims.monotonic()
    result = await outcome(tls.connect(tcp_peer, timeout=0.5))
    elapsed = shims.monotonic() - start
    parity.record("result", result)
    parity.record("at_the_deadline", 0.45 <= elapsed < 3.0)
    assert result == "ConnectTimeout", result
    assert 0.45 <= elapsed < 3.0, f"ConnectTimeout after {elapsed:.2f} s, deadline 0.5 s"


def _send_garbage(peer: RawPeer) -> threading.Thread:
    def serve() -> None:
        sock = peer.accept()
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


async def test_garbage_instead_of_a_tls_record_raises_tls_error(
    parity: ParityRecorder, tls: Transport, tcp_peer: RawPeer
) -> None:
    """A peer that answers the ClientHello with plain text: TLSError, nothing leaks."""
    thread = _send_garbage(tcp_peer)
    try:
        conn = await tls.connect(tcp_peer, timeout=TIMEOUT)
        conn.close()
        parity.record("error", "connected")
    except shims.TLSError as exc:
        parity.record("error", type(exc).__name__)
        assert "handshake failed" in str(exc)
    thread.join(TIMEOUT)


async def test_probe_keeps_a_connection_that_only_received_session_tickets(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """Session tickets waiting in the kernel are not unread data: the pool reuses the connection."""
    tls_peer.hold_tickets = True

    async def connect() -> shims.Connection:
        return await tls.connect(tls_peer, timeout=TIMEOUT)

    pool = shims.ConnectionPool(connect, max_size=1)
    try:
        async with pool.acquire(timeout=TIMEOUT) as first:
            # Nothing from the peer yet: the tickets must be the first records it sends.
            upstream: TLSPeerSocket = tls_peer.accept()
        tickets = upstream.send_held()
        time.sleep(KERNEL_SETTLE)  # noqa: ASYNC251 (no loop turn: the backend has not read them)
        async with pool.acquire(timeout=TIMEOUT) as second:
            same = second is first
            answer = await outcome(_echo_once(second, upstream, b"two\n"))
        parity.record("tickets_sent", tickets > 0)
        parity.record("first_facts", facts(first))
        parity.record("same_connection", same)
        parity.record("answer", answer)
        parity.record("stats", pool_counters(pool))
        assert tickets > 0, "the server sent no session tickets (not TLS 1.3?)"
        assert same, f"a healthy TLS connection was dropped: {pool_counters(pool)}"
        assert answer == ("ok", b"two\n")
        assert first.unread_bytes() == 0
    finally:
        await pool.close()


async def test_probe_drops_a_tls_connection_whose_peer_closed(
    parity: ParityRecorder, tls: Transport, tls_peer: RawPeer
) -> None:
    """close_notify and FIN waiting in the kernel: checkout closes it and dials a new one."""

    async def connect() -> shims.Connection:
        return await tls.connect(tls_peer, timeout=TIMEOUT)

    pool = shims.ConnectionPool(connect, max_size=1)
    try:
        async with pool.acquire(timeout=TIMEOUT) as first:
            upstream = tls_peer.accept()
            parity.record("first", await _echo_once(first, upstream, b"one\n"))
        upstream.close()
        time.sleep(KERNEL_SETTLE)  # noqa: ASYNC251 (no loop turn: only the probe can see it)
        async with pool.acquire(timeout=TIMEOUT) as second:
            fresh = second is not first
            answer = await outcome(_echo_once(second, tls_peer.accept(), b"two\n"))
        parity.record("fresh", fresh)
        parity.record("first_reason", first.close_reason)
        parity.record("answer", answer)
        parity.record("stats", pool_counters(pool))
        assert fresh and first.close_reason == "peer"
        assert pool.stats()["discarded_dead"] == 1
    finally:
        await pool.close()


async def test_start_tls_upgrades_the_same_connection_in_band(
    parity: ParityRecorder, tls: Transport, tcp_peer: RawPeer
) -> None:
    """STARTTLS-style upgrade: plain request, plain OK, handshake, then the same object over TLS."""
    conn = await shims.connect(tcp_peer.host, tcp_peer.port, timeout=TIMEOUT)
    try:
        raw = tcp_peer.accept()
        await conn.write(b"STARTTLS\n", timeout=TIMEOUT)
        parity.record("request", await peer_read(raw, 9))
        raw.sendall(b"OK\n")
        parity.record("ok", await conn.read_until(b"\n", timeout=TIMEOUT))
        upgraded: list[Any] = []
        thread = threading.Thread(
            target=lambda: upgraded.append(tls.wrap_accepted(raw)), daemon=True
        )
        thread.start()
        before = conn
        await conn.start_tls(tls.client_context(), server_hostname="localhost", timeout=TIMEOUT)
        thread.join(TIMEOUT)
        (upstream,) = upgraded
        parity.record("echo", await _echo_once(conn, upstream, b"secret\n"))
        tls_info = conn.tls
        parity.record("tls", tls_info is not None and tls_info.version in ("TLSv1.2", "TLSv1.3"))
        parity.record("same_object", conn is before)
        parity.record("again", await outcome(conn.start_tls(tls.client_context())))
        conn.close()
        parity.record("after_close", await outcome(conn.start_tls(tls.client_context())))
        assert conn.is_connected() is False
    finally:
        conn.close()


async def test_tls_server_ignores_a_client_that_fails_its_handshake(
    parity: ParityRecorder, tls: Transport
) -> None:
    """A plain-text client never reaches the handler; the next TLS client is served."""
    served: list[bytes] = []

    async def handler(conn: shims.Connection) -> None:
        line = await conn.read_until(b"\n", timeout=TIMEOUT)
        served.append(line)
        await conn.write(line.upper(), timeout=TIMEOUT)

    server = await tls.serve(handler)
    try:
        plain = await shims.connect("127.0.0.1", server.port, timeout=TIMEOUT)
        await plain.write(b"GET / HTTP/1.0\r\n\r\n", timeout=TIMEOUT)
        parity.record("plain_client", await outcome(plain.read_some(timeout=TIMEOUT)))
        plain.close()
        conn = await tls.connect(server, timeout=TIMEOUT)
        await conn.write(b"hello\n", timeout=TIMEOUT)
        parity.record("tls_client", await conn.read_until(b"\n", timeout=TIMEOUT))
        conn.close()
        parity.record("served", served)
        assert served == [b"hello\n"]
    finally:
        server.close()
        await server.wait_closed()
