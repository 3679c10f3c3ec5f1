"""Servers, on_close on every path, the state machine driven through real connections."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest

import shims
from shims import ConnectionState
from shims import testing as _diagnostics
from shims._state import EVENTS, TRANSITIONS, IllegalTransition, transition

DEADLINE = 10.0


def test_server_close_closes_live_connections_and_runs_on_close(run: Any) -> None:
    async def main() -> None:
        started = shims.Event()
        reasons: list[str | None] = []
        conns: list[shims.Connection] = []

        async def handler(conn: shims.Connection) -> None:
            conn.on_close(lambda c: reasons.append(c.close_reason))
            conns.append(conn)
            if len(conns) == 2:
                started.set()
            await conn.read_some()  # blocks until the server shuts down

        server = await shims.serve(handler, "127.0.0.1", 0)
        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        try:
            await shims.wait_for(started.wait(), DEADLINE)
            assert len(server.connections()) == 2
            server.close()
            await shims.wait_for(server.wait_closed(), DEADLINE)
            assert reasons == ["local", "local"]
            assert all(c.state is ConnectionState.CLOSED for c in conns)
            for client in clients:
                client.settimeout(DEADLINE)
                assert client.recv(10) == b""  # the client saw the server's FIN
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE).close()
        finally:
            for client in clients:
                client.close()

    run(main)


def test_handler_return_closes_and_handler_error_is_recorded(run: Any) -> None:
    async def main() -> None:
        async def handler(conn: shims.Connection) -> None:
            line = await conn.read_until(b"\n", timeout=DEADLINE)
            if line == b"crash\n":
                raise ArithmeticError("handler bug")
            await conn.write(line, timeout=DEADLINE)

        async with await shims.serve(handler, "127.0.0.1", 0) as server:
            for msg in (b"hello\n", b"crash\n"):
                conn = await shims.connect("127.0.0.1", server.port, timeout=DEADLINE)
                await conn.write(msg, timeout=DEADLINE)
                data = await conn.read_some(timeout=DEADLINE)
                assert data == (msg if msg == b"hello\n" else b"")
                if data:
                    assert await conn.read_some(timeout=DEADLINE) == b""
                assert conn.state is ConnectionState.PEER_CLOSED
                conn.close()

    run(main)
    errors = list(_diagnostics.UNHANDLED)
    _diagnostics.UNHANDLED.clear()
    assert [type(e) for e in errors] == [ArithmeticError]


def test_serve_on_a_busy_port_raises_connect_error(run: Any) -> None:
    busy = socket.create_server(("127.0.0.1", 0))
    try:

        async def main() -> None:
            async def handler(conn: shims.Connection) -> None:
                return None

            with pytest.raises(shims.ConnectError) as info:
                await shims.serve(handler, "127.0.0.1", busy.getsockname()[1])
            assert isinstance(info.value.__cause__, OSError)
            assert info.value.__cause__.errno == errno.EADDRINUSE

        run(main)
    finally:
        busy.close()


def test_on_close_registered_after_close_runs_at_once_and_errors_are_contained(
    run: Any, raw_peer: Any
) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        calls: list[str] = []

        def broken(c: shims.Connection) -> None:
            raise RuntimeError("callback bug")

        conn.on_close(broken)
        conn.on_close(lambda c: calls.append("second"))
        conn.close()  # never raises, even with a broken callback
        conn.on_close(lambda c: calls.append("late"))
        assert calls == ["second", "late"]

    run(main)
    errors = list(_diagnostics.UNHANDLED)
    _diagnostics.UNHANDLED.clear()
    assert [str(e) for e in errors] == ["callback bug"]


def test_error_fact_closes_with_reason_error(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        reasons: list[str | None] = []
        conn.on_close(lambda c: reasons.append(c.close_reason))
        native = TimeoutError(errno.ETIMEDOUT, "keepalive gave up")
        conn._on_lost(native)  # the fact a backend reports for a dead link
        assert conn.state is ConnectionState.CLOSED and reasons == ["error"]
        with pytest.raises(shims.PeerClosedError) as info:
            await conn.read_some(timeout=DEADLINE)
        assert info.value.__cause__ is native
        conn._on_eof()  # late facts after CLOSED are dropped, never an illegal transition
        conn._on_lost(None)
        assert conn.state is ConnectionState.CLOSED and reasons == ["error"]

    run(main)


def test_live_connections_tracks_until_closed(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        assert conn in _diagnostics.live_connections()
        conn.close()
        assert conn not in _diagnostics.live_connections()

    run(main)


def test_run_closes_connections_left_open(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()
    leaked: list[shims.Connection] = []

    async def main() -> None:
        leaked.append(await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE))
        peer.accept()

    run(main)
    assert leaked[0].state is ConnectionState.CLOSED
    assert leaked[0] not in _diagnostics.live_connections()


# -- the table itself (pure: no backend involved) -----------------------------


def test_every_pair_outside_the_table_is_rejected_and_state_kept() -> None:
    rejected = 0
    for state in ConnectionState:
        for event in EVENTS:
            if (state, event) in TRANSITIONS:
                assert isinstance(transition(state, event), ConnectionState)
                continue
            with pytest.raises(IllegalTransition) as info:
                transition(state, event)
            assert info.value.state is state and info.value.event == event
            assert repr(event) in str(info.value) and state.name in str(info.value)
            rejected += 1
    # CLOSED rejects all 6 events, PEER_CLOSED a second FIN, WRITE_SHUT a second shutdown.
    assert rejected == 8


def test_both_directions_finished_is_closed() -> None:
    s = ConnectionState
    assert transition(s.WRITE_SHUT, "peer_fin") is s.CLOSED
    assert transition(s.PEER_CLOSED, "shutdown_write") is s.CLOSED
    assert transition(s.OPEN, "peer_fin") is s.PEER_CLOSED
    assert transition(s.OPEN, "shutdown_write") is s.WRITE_SHUT
    for event in ("close", "reset", "error", "lost"):
        for state in (s.OPEN, s.PEER_CLOSED, s.WRITE_SHUT):
            assert transition(state, event) is s.CLOSED


def test_ipv6_loopback(run: Any) -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")

    async def main() -> None:
        async def echo(conn: shims.Connection) -> None:
            await conn.write(await conn.read_exactly(2, timeout=DEADLINE), timeout=DEADLINE)

        async with await shims.serve(echo, "::1", 0) as server:
            conn = await shims.connect("::1", server.port, timeout=DEADLINE)
            await conn.write(b"v6", timeout=DEADLINE)
            assert await conn.read_exactly(2, timeout=DEADLINE) == b"v6"
            assert repr(conn).startswith(f"<Connection [::1]:{server.port} ")
            conn.close()

    run(main)


class _BrokenTransport:
    """A transport that already died, as uvloop's does between its error and connection_lost."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    def write_eof(self) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    def is_closing(self) -> bool:
        return True  # it failed and closed in this turn; connection_lost is still queued

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_native_write_errors_become_peer_closed(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        conn._t = _BrokenTransport(conn._t)  # type: ignore[assignment]
        for call in (conn.write(b"x", timeout=DEADLINE), conn.shutdown_write()):
            with pytest.raises(shims.PeerClosedError) as info:
                await call
            assert isinstance(info.value.__cause__, RuntimeError)
        assert conn.state is ConnectionState.OPEN  # the fact arrives through _on_lost
        conn._t = conn._t.real
        conn.close()

    run(main)
