"""Connection semantics on every backend, against a raw-socket peer (issue items 1-3, 7, 8)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

import shims
from shims import ConnectionState

DEADLINE = 10.0


def _closer(log: list[tuple[Any, str | None]], event: shims.Event) -> Any:
    def cb(conn: shims.Connection) -> None:
        log.append((conn, conn.close_reason))
        event.set()

    return cb


def test_idle_fin_flips_closed_without_a_read(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        log: list[tuple[Any, str | None]] = []
        closed = shims.Event()
        conn.on_close(_closer(log, closed))
        sock = peer.accept()
        assert conn.is_connected() and not conn.closed()
        sock.sendall(b"abc")
        sock.close()  # FIN while nobody reads
        await shims.wait_for(closed.wait(), DEADLINE)
        assert conn.closed() and not conn.is_connected()
        assert conn.state is ConnectionState.PEER_CLOSED
        assert conn.close_reason == "peer"
        assert conn.unread_bytes() == 3
        with pytest.raises(shims.PeerClosedError) as info:
            await conn.read_exactly(10, timeout=DEADLINE)
        assert isinstance(info.value, EOFError)
        assert info.value.partial == b"abc" and info.value.reason == "peer"
        conn.close()
        conn.close()
        assert conn.state is ConnectionState.CLOSED
        assert log == [(conn, "peer")]

    run(main)


def test_accepted_connection_is_connected_from_the_start(run: Any) -> None:
    seen: list[tuple[str, bool, bool, ConnectionState]] = []

    async def main() -> None:
        done = shims.Event()

        async def handler(conn: shims.Connection) -> None:
            seen.append((conn.initiated_by, conn.is_connected(), conn.closed(), conn.state))
            await conn.write(b"hi", timeout=DEADLINE)
            done.set()

        server = await shims.serve(handler, "127.0.0.1", 0)
        client = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
        try:
            await shims.wait_for(done.wait(), DEADLINE)
            assert client.recv(2) == b"hi"
        finally:
            client.close()
            server.close()
            await server.wait_closed()

    run(main)
    assert seen == [("peer", True, False, ConnectionState.OPEN)]


def test_is_connected_is_not_closed_in_every_state(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        states = []
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        states.append((conn.state, conn.is_connected(), conn.closed()))
        await conn.shutdown_write()
        states.append((conn.state, conn.is_connected(), conn.closed()))
        await peer.wait_eof()
        sock.close()
        assert await conn.read_some(timeout=DEADLINE) == b""
        states.append((conn.state, conn.is_connected(), conn.closed()))
        for _, connected, closed in states:
            assert connected is (not closed)
        assert [s for s, _, _ in states] == [
            ConnectionState.OPEN,
            ConnectionState.WRITE_SHUT,
            ConnectionState.CLOSED,
        ]
        assert conn.close_reason == "local"
        conn.close()

    run(main)


def test_rst_maps_to_peer_closed_reset_and_writes_fail_at_once(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        log: list[tuple[Any, str | None]] = []
        closed = shims.Event()
        conn.on_close(_closer(log, closed))
        peer.accept()
        peer.reset()
        await shims.wait_for(closed.wait(), DEADLINE)
        assert conn.state is ConnectionState.CLOSED and conn.close_reason == "reset"
        start = time.monotonic()
        with pytest.raises(shims.PeerClosedError) as info:
            await conn.write(b"x" * 100, timeout=DEADLINE)
        assert info.value.reason == "reset"
        assert time.monotonic() - start < 1.0
        with pytest.raises(shims.PeerClosedError) as read_info:
            await conn.read_some(timeout=DEADLINE)
        assert read_info.value.reason == "reset"
        assert isinstance(read_info.value.__cause__, ConnectionResetError)
        conn.close()
        assert log == [(conn, "reset")]

    run(main)


def test_operations_after_local_close_raise_connection_closed(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        reasons: list[str | None] = []
        conn.on_close(lambda c: reasons.append(c.close_reason))
        conn.close()
        assert conn.state is ConnectionState.CLOSED and conn.closed()
        calls = [
            conn.read_exactly(1),
            conn.read_until(b"\n"),
            conn.read_some(),
            conn.write(b"x"),
            conn.shutdown_write(),
        ]
        for call in calls:
            with pytest.raises(shims.ConnectionClosedError, match="after close"):
                await call
        conn.close()  # idempotent, never raises
        assert reasons == ["local"]
        await peer.wait_eof()

    run(main)


def test_read_timeout_consumes_nothing_and_leaves_open(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        sock.sendall(b"abc")
        for call in (
            lambda: conn.read_exactly(10, timeout=0.2),
            lambda: conn.read_until(b"\n", timeout=0.2),
        ):
            with pytest.raises(shims.ReadTimeout, match="nothing was consumed"):
                await call()
        assert conn.state is ConnectionState.OPEN and conn.is_connected()
        sock.sendall(b"defghij\n")
        assert await conn.read_exactly(10, timeout=DEADLINE) == b"abcdefghij"
        assert await conn.read_until(b"\n", timeout=DEADLINE) == b"\n"
        with pytest.raises(shims.ReadTimeout):
            await conn.read_some(timeout=0.1)
        conn.close()

    run(main)


def test_read_until_limit_and_partial_separator(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        sock.sendall(b"line one\r")
        task = shims.spawn(conn.read_until(b"\r\n", timeout=DEADLINE))
        await shims.sleep(0.05)
        sock.sendall(b"\nxxxxxxxxxx")
        assert await task == b"line one\r\n"
        with pytest.raises(shims.ReadLimitError, match="limit=5"):
            await conn.read_until(b"\n", limit=5, timeout=DEADLINE)
        assert conn.unread_bytes() == 10  # nothing consumed
        conn.close()

    run(main)


def test_write_to_peer_that_stopped_reading_times_out(run: Any, raw_peer: Any) -> None:
    peer = raw_peer(rcvbuf=4096)

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()  # never reads
        start = time.monotonic()
        with pytest.raises(shims.WriteTimeout) as info:
            await conn.write(b"x" * (32 * 1024 * 1024), timeout=0.5)
        elapsed = time.monotonic() - start
        assert isinstance(info.value, TimeoutError)
        assert 0.4 <= elapsed < 5.0, elapsed  # one deadline for the whole call
        assert conn.state is ConnectionState.OPEN
        closed = shims.Event()
        conn.on_close(lambda c: closed.set())
        peer.reset()
        await shims.wait_for(closed.wait(), DEADLINE)
        with pytest.raises(shims.PeerClosedError) as reset_info:
            await conn.write(b"more", timeout=DEADLINE)
        assert reset_info.value.reason == "reset"
        conn.close()

    run(main)


def test_write_after_peer_half_close_is_still_delivered(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        closed = shims.Event()
        conn.on_close(lambda c: closed.set())
        sock.shutdown(socket.SHUT_WR)
        await shims.wait_for(closed.wait(), DEADLINE)
        assert conn.state is ConnectionState.PEER_CLOSED
        await conn.write(b"still here", timeout=DEADLINE)
        assert peer.recv_exactly(10) == b"still here"
        assert await conn.read_some(timeout=DEADLINE) == b""
        await conn.shutdown_write()
        assert conn.state is ConnectionState.CLOSED and conn.close_reason == "peer"
        await peer.wait_eof()

    run(main)


def test_cancelled_read_consumes_nothing(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        sock.sendall(b"12")
        task = shims.spawn(conn.read_exactly(4))
        await shims.sleep(0.05)
        task.cancel()
        with pytest.raises(shims.CANCELLED):
            await task
        assert task.cancelled()
        assert conn.unread_bytes() == 2 and conn.is_connected()
        sock.sendall(b"34")
        assert await conn.read_exactly(4, timeout=DEADLINE) == b"1234"
        conn.close()

    run(main)


def test_large_payload_round_trip(run: Any) -> None:
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB

    async def main() -> None:
        async def echo(conn: shims.Connection) -> None:
            data = await conn.read_exactly(len(payload), timeout=DEADLINE)
            await conn.write(data, timeout=DEADLINE)

        async with await shims.serve(echo, "127.0.0.1", 0) as server:
            conn = await shims.connect("127.0.0.1", server.port, timeout=DEADLINE)
            writer = shims.spawn(conn.write(payload, timeout=DEADLINE))
            assert await conn.read_exactly(len(payload), timeout=DEADLINE) == payload
            await writer
            conn.close()

    run(main)


def test_repr_shows_address_backend_state_and_origin(run: Any, raw_peer: Any, backend: str) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        assert repr(conn) == f"<Connection 127.0.0.1:{peer.port} {backend} OPEN local>"
        conn.close()
        assert repr(conn) == f"<Connection 127.0.0.1:{peer.port} {backend} CLOSED local>"

    run(main)


def test_connect_refused_raises_connect_error_with_cause(run: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now

    async def main() -> None:
        with pytest.raises(shims.ConnectError, match=repr(port)) as info:
            await shims.connect("127.0.0.1", port, timeout=DEADLINE)
        assert isinstance(info.value.__cause__, ConnectionRefusedError)

    run(main)


class _Untouchable:
    """A transport stand-in that fails the test if anything touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"closed() touched the transport ({name})")


def test_closed_reads_state_only_no_system_call(
    run: Any, raw_peer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept()
        real = conn._t
        conn._t = _Untouchable()  # type: ignore[assignment]
        with monkeypatch.context() as m:
            m.setattr("select.poll", _Untouchable)
            m.setattr("socket.socket.recv", _Untouchable)
            assert conn.closed() is False and conn.is_connected() is True
        conn._t = real
        conn.close()

    run(main)


def test_write_after_peer_fully_gone_raises_peer_closed(run: Any, raw_peer: Any) -> None:
    peer = raw_peer()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        closed = shims.Event()
        conn.on_close(lambda c: closed.set())
        sock.close()  # full close: our next bytes are answered with RST
        await shims.wait_for(closed.wait(), DEADLINE)
        assert conn.state is ConnectionState.PEER_CLOSED
        await conn.write(b"attempted", timeout=DEADLINE)  # after a FIN the write is tried

        async def keep_writing() -> BaseException:
            while True:
                try:
                    await conn.write(b"again", timeout=DEADLINE)
                except shims.PeerClosedError as exc:
                    return exc
                await shims.sleep(0.01)

        exc = await shims.wait_for(keep_writing(), DEADLINE)
        assert isinstance(exc, shims.PeerClosedError) and exc.reason == "reset"
        assert conn.state is ConnectionState.CLOSED and conn.close_reason == "peer"
        conn.close()

    run(main)


def test_connect_timeout_leaks_no_socket(run: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept backlog: further SYNs are dropped, connects hang
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)

    async def main() -> None:
        with pytest.raises(shims.ConnectTimeout):  # warm up what the loop opens lazily
            await shims.connect("127.0.0.1", port, timeout=0.2)
        await shims.sleep(0.05)  # uvloop closes a cancelled handle on a later turn
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(shims.ConnectTimeout, match=r"timeout=0\.2") as info:
                await shims.connect("127.0.0.1", port, timeout=0.2)
            assert isinstance(info.value, shims.ConnectError)
            assert isinstance(info.value.__cause__, TimeoutError)
            assert time.monotonic() - start < 5.0
        await shims.sleep(0.05)
        assert len(os.listdir("/proc/self/fd")) == before

    try:
        run(main)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_shutdown_write_has_sent_the_fin_when_it_returns(run: Any, raw_peer: Any) -> None:
    # The task blocks the loop (a plain threading wait) right after shutdown_write(): the
    # FIN must already be in the kernel, not queued for the loop's next turn (uvloop did).
    peer = raw_peer()
    sock_ready = threading.Event()
    peer_saw: list[bytes | str] = []
    done = threading.Event()

    def peer_thread() -> None:
        try:
            sock_ready.wait(DEADLINE)
            assert peer.sock is not None
            peer_saw.append(peer.sock.recv(1))  # b"" once our FIN arrived
        except OSError as exc:  # socket.timeout: the FIN never came while we blocked
            peer_saw.append(repr(exc))
        finally:
            done.set()

    thread = threading.Thread(target=peer_thread, daemon=True)
    thread.start()

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        peer.accept().settimeout(3.0)
        sock_ready.set()
        await conn.shutdown_write()
        done.wait(DEADLINE)  # blocks the loop: nothing more can be sent from here
        assert peer_saw == [b""]
        assert conn.state is ConnectionState.WRITE_SHUT
        conn.close()

    try:
        run(main)
    finally:
        thread.join(DEADLINE)
