"""TCP edge cases: half-close both ways, RST, cancellation, timeouts, size, scale, shutdown."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

import shims
from shims.testing import FaultProxy, ParityRecorder
from shims.testing.conformance._peers import (
    TIMEOUT,
    RawPeer,
    ask,
    eventually,
    outcome,
    peer_read,
    unread_at_peer,
)
from shims.testing.conformance._transports import Refused, Transport
from shims.testing.conformance.test_post_mortem import facts

pytestmark = pytest.mark.parity


async def test_peer_half_close_keeps_our_side_writable(
    parity: ParityRecorder, transport: Transport, peer_proxy: FaultProxy, peer: RawPeer
) -> None:
    """The peer's FIN ends its side only: we see EOF and can still send.

    The FIN comes from the proxy, so over TLS it carries no close_notify:
    the end is a truncation (close_reason "truncated", reads raise).
    """
    conn = await transport.connect(peer_proxy, timeout=TIMEOUT)
    try:
        upstream = peer.accept()
        upstream.sendall(b"last words\n")
        parity.record("before_fin", await conn.read_until(b"\n", timeout=TIMEOUT))
        peer_proxy.half_close("to_client")
        parity.record("saw_fin", await eventually(conn.closed))
        parity.record("facts", facts(conn))
        parity.record("read_at_eof", await outcome(conn.read_some(timeout=TIMEOUT)))
        parity.record(
            "write_after_fin", await outcome(conn.write(b"still here\n", timeout=TIMEOUT))
        )
        parity.record("upstream_got", await peer_read(upstream, 11))
        assert conn.state is shims.ConnectionState.PEER_CLOSED
        assert conn.close_reason == transport.fin_reason
    finally:
        conn.close()


async def test_upstream_half_close_keeps_the_reply_path_open(
    parity: ParityRecorder, transport: Transport, peer_proxy: FaultProxy, peer: RawPeer
) -> None:
    """A FIN towards the server only: the server still answers, we still read it."""
    conn = await transport.connect(peer_proxy, timeout=TIMEOUT)
    try:
        upstream = peer.accept()
        await conn.write(b"request\n", timeout=TIMEOUT)
        parity.record("upstream_got", await peer_read(upstream, 8))
        peer_proxy.half_close("to_upstream")
        parity.record("upstream_eof", await peer_read(upstream))
        upstream.sendall(b"reply\n")
        parity.record("reply", await outcome(conn.read_until(b"\n", timeout=TIMEOUT)))
        parity.record("facts", facts(conn))
        assert conn.is_connected()
    finally:
        conn.close()


async def test_our_half_close_keeps_reading(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """shutdown_write() sends our FIN; the answer still arrives; then the peer closes."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    try:
        upstream = peer.accept()
        await conn.write(b"whole request", timeout=TIMEOUT)
        await conn.shutdown_write()
        parity.record("after_shutdown", facts(conn))
        received = await peer_read(upstream)  # until our FIN
        parity.record("peer_got", received)
        parity.record("write_after_shutdown", await outcome(conn.write(b"x", timeout=TIMEOUT)))
        upstream.sendall(b"answer\n")
        upstream.close()
        parity.record("answer", await outcome(conn.read_until(b"\n", timeout=TIMEOUT)))
        await eventually(lambda: conn.state is shims.ConnectionState.CLOSED)
        parity.record("after_peer_fin", facts(conn))
        parity.record("read_at_eof", await outcome(conn.read_some(timeout=TIMEOUT)))
        assert received == b"whole request"
        assert conn.state is shims.ConnectionState.CLOSED and conn.close_reason == "local"
    finally:
        conn.close()


async def test_peer_reset_while_idle(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy
) -> None:
    """An RST while idle: closed() at once, reads and writes raise PeerClosedError('reset')."""
    conn = await transport.connect(echo_proxy, timeout=TIMEOUT)
    try:
        parity.record("answer", await ask(conn, b"hi"))
        echo_proxy.close_all(rst=True)
        parity.record("saw_reset", await eventually(conn.closed))
        parity.record("facts", facts(conn))
        for what, aw in (
            ("read", conn.read_some(timeout=TIMEOUT)),
            ("write", conn.write(b"more\n", timeout=TIMEOUT)),
        ):
            try:
                await aw
                parity.record(what, "no error")
            except shims.PeerClosedError as exc:
                parity.record(what, ("PeerClosedError", exc.reason))
        assert conn.close_reason == transport.proxy_rst_reason
    finally:
        conn.close()


async def test_reset_during_a_read_keeps_the_partial_bytes(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """An RST while a read waits: PeerClosedError(reason='reset'); a FIN keeps .partial."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    fin = await transport.connect(peer, timeout=TIMEOUT)
    try:
        upstream, fin_upstream = peer.accept(), peer.accept()
        await unread_at_peer(conn, upstream)
        reader = shims.spawn(conn.read_exactly(10, timeout=TIMEOUT))
        await shims.sleep(0.01)  # let the read start waiting (either order must work)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        upstream.close()
        try:
            await reader
            parity.record("reset_read", "no error")
        except shims.PeerClosedError as exc:
            parity.record("reset_read", ("PeerClosedError", exc.reason))
        fin_upstream.sendall(b"abc")
        fin_upstream.close()
        try:
            await fin.read_exactly(10, timeout=TIMEOUT)
            parity.record("fin_read", "no error")
        except shims.PeerClosedError as exc:
            parity.record("fin_read", ("PeerClosedError", exc.reason, exc.partial))
            assert exc.partial == b"abc"
        assert conn.close_reason == "reset" and fin.close_reason == "peer"
    finally:
        conn.close()
        fin.close()


async def test_error_packet_then_fin_is_read_before_eof(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy
) -> None:
    """A server's error packet before its FIN (MySQL 8 on wait_timeout) is readable.

    Over TLS the proxy's plaintext is not a TLS record: the read fails with
    PeerClosedError(reason="error") and the connection closes (garbage in).
    """
    conn = await transport.connect(echo_proxy, timeout=TIMEOUT)
    try:
        await ask(conn, b"ping")
        echo_proxy.inject_and_close(b"ERR 4031 idle too long\n")
        packet = await outcome(conn.read_until(b"\n", timeout=TIMEOUT))
        parity.record("packet", packet)
        parity.record("then", await outcome(conn.read_some(timeout=TIMEOUT)))
        parity.record("facts", facts(conn))
        if transport.tls:
            assert packet == "PeerClosedError" and conn.close_reason == "error", packet
        else:
            assert packet == ("ok", b"ERR 4031 idle too long\n")
            assert conn.close_reason == "peer"
    finally:
        conn.close()


async def test_cancel_during_a_read_leaves_the_connection_usable(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Cancelling a pending read consumes nothing; the next read gets every byte."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    try:
        upstream = peer.accept()
        upstream.sendall(b"par")
        await eventually(lambda: conn.unread_bytes() == 3)
        reader = shims.spawn(conn.read_exactly(6, timeout=TIMEOUT))
        await shims.sleep(0.01)
        reader.cancel()
        try:
            await reader
            parity.record("cancelled", False)
        except shims.CANCELLED:
            parity.record("cancelled", True)
        parity.record("unread_after_cancel", conn.unread_bytes())
        upstream.sendall(b"tial")
        parity.record("next_read", await outcome(conn.read_exactly(7, timeout=TIMEOUT)))
        parity.record("facts", facts(conn))
        assert conn.is_connected()
    finally:
        conn.close()


async def test_read_timeout_consumes_nothing(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """ReadTimeout at the deadline leaves the bytes buffered and the connection open."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    try:
        upstream = peer.accept()
        upstream.sendall(b"abc")
        start = shims.monotonic()
        for what, aw in (
            ("exactly", conn.read_exactly(5, timeout=0.2)),
            ("until", conn.read_until(b"\n", timeout=0.2)),
        ):
            parity.record(what, await outcome(aw))
        parity.record("waited_for_the_deadlines", shims.monotonic() - start >= 0.38)
        parity.record("unread", conn.unread_bytes())
        parity.record("facts", facts(conn))
        upstream.sendall(b"de\n")
        parity.record("then", await outcome(conn.read_until(b"\n", timeout=TIMEOUT)))
        assert conn.is_connected()
    finally:
        conn.close()


async def test_use_after_local_close_raises_connection_closed(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """After close(), reads and writes raise ConnectionClosedError; close() stays idempotent."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    peer.accept()
    conn.close()
    conn.close()
    parity.record("read", await outcome(conn.read_some(timeout=TIMEOUT)))
    parity.record("write", await outcome(conn.write(b"x", timeout=TIMEOUT)))
    parity.record("facts", facts(conn))


async def test_connect_refused_raises_connect_error(
    parity: ParityRecorder, transport: Transport, refused: Refused
) -> None:
    """A refused connect is ConnectError (also a ConnectionError), with the native cause."""
    try:
        conn = await transport.connect(refused, timeout=TIMEOUT)
        conn.close()
        parity.record("error", "connected")
    except shims.ConnectError as exc:
        parity.record("error", type(exc).__name__)
        parity.record("is_connection_error", isinstance(exc, ConnectionError))
        parity.record("has_cause", isinstance(exc.__cause__, OSError))


async def test_eight_mebibytes_each_way(parity: ParityRecorder, transport: Transport) -> None:
    """8 MiB up and back through a shim server, intact."""
    size = 8 * 1024 * 1024
    payload = os.urandom(size)

    async def handler(conn: shims.Connection) -> None:
        data = await conn.read_exactly(size, timeout=30)
        await conn.write(data, timeout=30)

    server = await transport.serve(handler)
    conn = await transport.connect(server, timeout=TIMEOUT)
    try:
        writer = shims.spawn(conn.write(payload, timeout=30))
        echoed = await conn.read_exactly(size, timeout=30)
        await writer
        parity.record("length", len(echoed))
        parity.record("intact", hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest())
        assert echoed == payload
    finally:
        conn.close()
        server.close()
        await server.wait_closed()


async def test_two_hundred_concurrent_connections(
    parity: ParityRecorder, transport: Transport
) -> None:
    """200 clients at once against one server, each gets its own answer."""
    served: list[str] = []

    async def handler(conn: shims.Connection) -> None:
        line = await conn.read_until(b"\n", timeout=30)
        served.append(conn.initiated_by)
        await conn.write(line.upper(), timeout=30)

    server = await transport.serve(handler)

    async def client(i: int) -> bytes:
        conn = await transport.connect(server, timeout=30)
        try:
            await conn.write(b"client %d\n" % i, timeout=30)
            return await conn.read_until(b"\n", timeout=30)
        finally:
            conn.close()

    try:
        answers = await shims.gather(*(client(i) for i in range(200)))
        parity.record("answers", answers == [b"CLIENT %d\n" % i for i in range(200)])
        parity.record("served", len(served))
        assert answers == [b"CLIENT %d\n" % i for i in range(200)]
    finally:
        server.close()
        await server.wait_closed()


async def test_server_close_with_live_connections(
    parity: ParityRecorder, transport: Transport
) -> None:
    """server.close() stops accepting, closes every live connection; clients see EOF."""
    ready = shims.Queue[shims.Connection]()

    async def handler(conn: shims.Connection) -> None:
        await ready.put(conn)
        await conn.read_some(timeout=30)

    server = await transport.serve(handler)
    clients = [await transport.connect(server, timeout=TIMEOUT) for _ in range(5)]
    try:
        accepted = [await shims.wait_for(ready.get(), TIMEOUT) for _ in clients]
        server.close()
        await shims.wait_for(server.wait_closed(), TIMEOUT)
        parity.record("server_side", sorted(str(facts(c)) for c in accepted))
        saw_eof = [await eventually(c.closed) for c in clients]
        parity.record("clients_saw_eof", saw_eof)
        parity.record(
            "client_reads", [await outcome(c.read_some(timeout=TIMEOUT)) for c in clients]
        )
        parity.record("new_connect", await outcome(_connect_and_close(transport, server)))
        assert all(saw_eof)
        assert all(c.close_reason == "local" for c in accepted)
    finally:
        for c in clients:
            c.close()


async def _connect_and_close(transport: Transport, server: shims.Server) -> None:
    conn = await transport.connect(server, timeout=TIMEOUT)
    conn.close()


async def test_sliced_and_delayed_bytes_reassemble(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy
) -> None:
    """Messages cut into 3-byte segments with latency still read as whole lines."""
    echo_proxy.slice(3, delay=0.001)
    echo_proxy.latency(0.02)
    conn = await transport.connect(echo_proxy, timeout=TIMEOUT)
    try:
        answers = [await ask(conn, b"message number %d" % i) for i in range(3)]
        parity.record("answers", answers)
        assert answers == [b"message number %d\n" % i for i in range(3)]
    finally:
        conn.close()
