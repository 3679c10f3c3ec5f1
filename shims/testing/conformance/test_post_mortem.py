"""The post-mortem's bug classes, one scenario each (README, "migrate-toolkit")."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import shims
from shims.testing import FaultProxy, ParityRecorder
from shims.testing.conformance._peers import (
    TIMEOUT,
    EchoServer,
    RawPeer,
    ask,
    eventually,
    open_fds,
    outcome,
    pool_counters,
    reset,
    unread_at_peer,
)
from shims.testing.conformance._transports import Refused, Transport

pytestmark = pytest.mark.parity


def facts(conn: shims.Connection) -> dict[str, Any]:
    """What a caller can observe about a connection without touching the socket."""
    return {
        "state": conn.state.name,
        "closed": conn.closed(),
        "is_connected": conn.is_connected(),
        "close_reason": conn.close_reason,
    }


async def test_idle_peer_fin_makes_closed_true(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy
) -> None:
    """Bug 1: a DB proxy closes an idle pooled connection; closed() must say so, no read pending."""
    conn = await transport.connect(echo_proxy, timeout=TIMEOUT)
    try:
        parity.record("answer", await ask(conn, b"select 1"))
        echo_proxy.close_all()  # FIN while nobody reads: the socket sits in CLOSE_WAIT
        seen = await eventually(conn.closed)
        parity.record("closed_while_idle", seen)
        parity.record("facts", facts(conn))
        parity.record("next_query", await outcome(ask(conn, b"select 2")))
        assert seen, f"closed() stayed False after the peer's FIN: {conn!r}"
        assert facts(conn) == {
            "state": "PEER_CLOSED",
            "closed": True,
            "is_connected": False,
            "close_reason": transport.fin_reason,  # the proxy's FIN: no close_notify on TLS
        }
    finally:
        conn.close()


async def test_accepted_connection_is_connected(
    parity: ParityRecorder, transport: Transport
) -> None:
    """Bug 2: a server-side (peer-initiated) connection is connected from the start."""
    seen: shims.Queue[dict[str, Any]] = shims.Queue()

    async def handler(conn: shims.Connection) -> None:
        await seen.put({"initiated_by": conn.initiated_by, **facts(conn)})
        await conn.read_some(timeout=TIMEOUT)  # until the client closes

    server = await transport.serve(handler)
    client = await transport.connect(server, timeout=TIMEOUT)
    try:
        accepted = await shims.wait_for(seen.get(), TIMEOUT)
        parity.record("accepted", accepted)
        parity.record("dialled", {"initiated_by": client.initiated_by, **facts(client)})
        assert accepted == {
            "initiated_by": "peer",
            "state": "OPEN",
            "closed": False,
            "is_connected": True,
            "close_reason": None,
        }
        assert client.is_connected() and client.initiated_by == "local"
    finally:
        client.close()
        server.close()
        await server.wait_closed()


async def test_is_connected_is_exactly_not_closed(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Bug 3: there is no second flag that can drift from closed(), in any state."""
    observed = []

    def check(label: str, conn: shims.Connection) -> None:
        observed.append((label, conn.state.name, conn.closed(), conn.is_connected()))
        assert conn.is_connected() is (not conn.closed()), f"{label}: {conn!r}"

    a = await transport.connect(peer, timeout=TIMEOUT)
    a_peer = peer.accept()
    b = await transport.connect(peer, timeout=TIMEOUT)
    b_peer = peer.accept()
    c = await transport.connect(peer, timeout=TIMEOUT)
    c_peer = peer.accept()
    try:
        check("open", a)
        await a.shutdown_write()
        check("after shutdown_write", a)
        a_peer.close()
        await eventually(lambda: a.state is shims.ConnectionState.CLOSED)
        check("write shut, then peer FIN", a)
        b_peer.shutdown(socket.SHUT_WR)
        await eventually(b.closed)
        check("peer FIN", b)
        b.close()
        check("peer FIN, then close", b)
        await unread_at_peer(c, c_peer)
        reset(c_peer)
        await eventually(c.closed)
        check("peer RST", c)
        parity.record("observed", observed)
    finally:
        for conn in (a, b, c):
            conn.close()


async def _pool_with_unsolicited_data(
    transport: Transport, peer: RawPeer, *, duplex: bool
) -> dict[str, Any]:
    async def connect() -> shims.Connection:
        return await transport.connect(peer, timeout=TIMEOUT, duplex=duplex)

    pool = shims.ConnectionPool(connect, max_size=1)
    try:
        async with pool.acquire(timeout=TIMEOUT) as first:
            peer.accept().sendall(b"server push\n")  # a message nobody asked for
            arrived = await eventually(lambda: first.unread_bytes() > 0)
        async with pool.acquire(timeout=TIMEOUT) as second:
            same = second is first
            if not same:
                peer.accept()
            unread = second.unread_bytes()
        return {
            "arrived": arrived,
            "same_connection": same,
            "unread_on_checkout": unread,
            "first": facts(first),
            "stats": pool_counters(pool),
        }
    finally:
        await pool.close()


async def test_duplex_connection_with_unread_data_is_reused(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Bug 4 (duplex side): a websocket-like connection with unread data is not dirty."""
    seen = await _pool_with_unsolicited_data(transport, peer, duplex=True)
    parity.record("seen", seen)
    assert seen["same_connection"], f"a duplex connection was discarded: {seen}"
    assert seen["stats"]["discarded_unread"] == 0
    assert seen["unread_on_checkout"] == len(b"server push\n")


async def test_request_response_connection_with_unread_data_is_discarded(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Bug 4 (request/response side): unread bytes mean a stale answer; never reuse that."""
    seen = await _pool_with_unsolicited_data(transport, peer, duplex=False)
    parity.record("seen", seen)
    assert not seen["same_connection"], f"a dirty connection was handed out again: {seen}"
    assert seen["stats"]["discarded_unread"] == 1
    assert seen["unread_on_checkout"] == 0


async def test_pool_never_hands_out_a_closed_connection(
    parity: ParityRecorder, transport: Transport, echo_proxy: FaultProxy
) -> None:
    """Bug 5: after the proxy closed the pooled connection, checkout gives a working one."""

    async def connect() -> shims.Connection:
        return await transport.connect(echo_proxy, timeout=TIMEOUT)

    pool = shims.ConnectionPool(connect, max_size=2)
    try:
        async with pool.acquire(timeout=TIMEOUT) as first:
            parity.record("first", await ask(first, b"one"))
        echo_proxy.close_all()
        await echo_proxy.until(lambda p: p.live_connections == 0)
        async with pool.acquire(timeout=TIMEOUT) as second:
            fresh = second is not first
            usable = second.is_connected()
            answer = await outcome(ask(second, b"two"))
        parity.record("fresh", fresh)
        parity.record("usable_on_checkout", usable)
        parity.record("second", answer)
        parity.record("stats", pool_counters(pool))
        assert fresh and usable, f"the pool handed out {second!r} after the proxy closed it"
        assert answer == ("ok", b"two\n")
    finally:
        await pool.close()


async def test_reconnect_errors_release_the_slot_and_the_socket(
    parity: ParityRecorder, transport: Transport, echo: EchoServer, refused: Refused
) -> None:
    """Bug 6: failed connects raise ConnectError, give the slot back and leak no socket."""
    target: dict[str, Any] = {"where": refused}

    async def connect() -> shims.Connection:
        return await transport.connect(target["where"], timeout=TIMEOUT)

    pool = shims.ConnectionPool(connect, max_size=2)
    errors: list[str] = []
    try:
        errors.append(str(await outcome(pool.acquire(timeout=1.0).__aenter__())))  # warm-up
        before = open_fds()
        for _ in range(20):
            try:
                async with pool.acquire(timeout=1.0):
                    pass
            except shims.ShimError as exc:
                errors.append(type(exc).__name__)
                if type(exc) is not shims.ConnectError:
                    break  # a leaked slot: every later acquire would wait for nothing
        after = open_fds()
        target["where"] = echo
        async with pool.acquire(timeout=TIMEOUT) as conn:
            answer = await outcome(ask(conn, b"back"))
        leaked = None if before is None or after is None else after - before
        parity.record("errors", errors)
        parity.record("leaked_fds", leaked)
        parity.record("answer", answer)
        parity.record("stats", pool_counters(pool))
        assert errors == ["ConnectError"] * 21
        assert leaked in (0, None), f"{leaked} file descriptors leaked over 20 failed connects"
        assert answer == ("ok", b"back\n")
    finally:
        await pool.close()


async def test_pool_recycles_expired_and_idle_connections(
    parity: ParityRecorder, transport: Transport, echo: EchoServer
) -> None:
    """Bug 7: a pool drops connections past max_lifetime or max_idle instead of reusing them."""

    async def connect() -> shims.Connection:
        return await transport.connect(echo, timeout=TIMEOUT)

    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("lifetime", {"max_lifetime": 0.2}),
        ("idle", {"max_idle": 0.2}),
    )
    for name, options in cases:
        pool = shims.ConnectionPool(connect, max_size=1, **options)
        try:
            async with pool.acquire(timeout=TIMEOUT) as first:
                await ask(first, b"a")
            async with pool.acquire(timeout=TIMEOUT) as again:
                reused = again is first
            await shims.sleep(0.3)  # the condition under test is time passing
            async with pool.acquire(timeout=TIMEOUT) as later:
                recycled = later is not first
                answer = await ask(later, b"b")
            parity.record(f"{name}", (reused, recycled, answer, first.close_reason))
            parity.record(f"{name}.stats", pool_counters(pool))
            assert reused and recycled, f"{name}: reused={reused} recycled={recycled}"
            assert pool.stats()["discarded_expired"] == 1
        finally:
            await pool.close()


async def _on_close_seen(conn: shims.Connection) -> list[str | None]:
    calls: list[str | None] = []
    conn.on_close(lambda c: calls.append(c.close_reason))
    return calls


async def test_on_close_runs_on_local_close(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Bug 8 (local path): on_close runs once when we close."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    peer.accept()
    calls = await _on_close_seen(conn)
    conn.close()
    conn.close()
    parity.record("calls", calls)
    assert calls == ["local"]


async def test_on_close_runs_on_peer_fin(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Bug 8 (peer path): Redis-style cleanup runs when the peer closes, not only on ours."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    try:
        calls = await _on_close_seen(conn)
        peer.accept().close()
        ran = await eventually(lambda: bool(calls))
        conn.close()
        parity.record("calls", calls)
        assert ran and calls == ["peer"], f"on_close calls after the peer's FIN: {calls}"
    finally:
        conn.close()


async def test_on_close_runs_on_peer_reset(
    parity: ParityRecorder, transport: Transport, peer: RawPeer
) -> None:
    """Bug 8 (reset path): on_close runs once with close_reason 'reset'."""
    conn = await transport.connect(peer, timeout=TIMEOUT)
    try:
        calls = await _on_close_seen(conn)
        upstream = peer.accept()
        await unread_at_peer(conn, upstream)
        reset(upstream)
        ran = await eventually(lambda: bool(calls))
        conn.close()
        parity.record("calls", calls)
        assert ran and calls == ["reset"], f"on_close calls after the peer's RST: {calls}"
    finally:
        conn.close()


async def test_on_close_runs_on_server_shutdown(
    parity: ParityRecorder, transport: Transport
) -> None:
    """Bug 8 (server path): closing a server runs on_close of its live connections."""
    calls: list[str | None] = []
    ready = shims.Event()

    async def handler(conn: shims.Connection) -> None:
        conn.on_close(lambda c: calls.append(c.close_reason))
        ready.set()
        await conn.read_some(timeout=TIMEOUT)

    server = await transport.serve(handler)
    client = await transport.connect(server, timeout=TIMEOUT)
    try:
        await shims.wait_for(ready.wait(), TIMEOUT)
        server.close()
        await server.wait_closed()
        client_saw_fin = await eventually(client.closed)
        parity.record("calls", calls)
        parity.record("client", facts(client))
        assert calls == ["local"] and client_saw_fin
    finally:
        client.close()
        server.close()


async def test_on_close_runs_on_pool_eviction(
    parity: ParityRecorder, transport: Transport, echo: EchoServer
) -> None:
    """Bug 8 (pool path): a connection the pool evicts runs its on_close hooks."""
    calls: list[str | None] = []

    async def connect() -> shims.Connection:
        conn = await transport.connect(echo, timeout=TIMEOUT)
        conn.on_close(lambda c: calls.append(c.close_reason))
        return conn

    pool = shims.ConnectionPool(connect, max_size=1, max_lifetime=0.1)
    try:
        async with pool.acquire(timeout=TIMEOUT) as conn:
            await ask(conn, b"x")
        await shims.sleep(0.15)  # past max_lifetime: the condition under test is time
        async with pool.acquire(timeout=TIMEOUT) as conn:
            await ask(conn, b"y")
            # Counted before the release: on a loaded machine the new connection
            # (a TLS handshake) may itself outlive max_lifetime by then.
            parity.record("calls_after_eviction", list(calls))
            assert calls == ["local"]
    finally:
        await pool.close()
    parity.record("calls_after_pool_close", calls)
    assert calls == ["local", "local"]


async def test_write_to_a_peer_that_stopped_reading_times_out(
    parity: ParityRecorder, transport: Transport, peer_proxy: FaultProxy, peer: RawPeer
) -> None:
    """Bug 9: a peer that stopped reading gives WriteTimeout at the deadline, never a hang."""
    conn = await transport.connect(peer_proxy, timeout=TIMEOUT)
    try:
        peer.accept()
        peer_proxy.stop_reading()  # real backpressure: kernel buffers fill up
        payload = b"x" * (16 * 1024 * 1024)
        start = shims.monotonic()
        result = await outcome(shims.wait_for(conn.write(payload, timeout=1.0), 4.0))
        elapsed = shims.monotonic() - start
        parity.record("write", result)
        parity.record("at_the_deadline", 0.9 <= elapsed < 3.5)
        parity.record("facts_after", facts(conn))
        assert result == "WriteTimeout", f"got {result!r} after {elapsed:.2f} s"
        assert 0.9 <= elapsed < 3.5, f"WriteTimeout after {elapsed:.2f} s, deadline 1.0 s"
    finally:
        conn.close()
