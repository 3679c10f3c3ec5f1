"""TCP on loopback with legacy.runtime: payloads, concurrency, FIN, RST, refusal, half-close."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from legacy import runtime

DEADLINE = 10.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Let the scheduler run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = runtime.monotonic() + timeout
    while not predicate():
        if runtime.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await runtime.sleep(0.002)


async def raw_pair() -> tuple[runtime.Connection, socket.socket]:
    """Return a legacy client connection and the blocking raw socket at the other end."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        conn = await runtime.connect("127.0.0.1", server.getsockname()[1], timeout=DEADLINE)
        peer, _ = server.accept()
    peer.settimeout(DEADLINE)
    return conn, peer


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    async def guarded() -> Any:
        return await runtime.with_timeout(30.0, main())

    return runtime.run(guarded)


async def echo(conn: runtime.Connection) -> None:
    while data := await conn.read_some():
        await conn.write(data)


def test_echo_with_read_until_read_exactly_and_read_some() -> None:
    async def main() -> None:
        listener = await runtime.listen("127.0.0.1", 0, echo)
        conn = await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)
        assert conn.initiated_by == "local" and conn.is_connected()
        await conn.write(b"GET /a\r\nrest")
        assert await conn.read_until(b"\r\n") == b"GET /a\r\n"
        assert await conn.read_exactly(4) == b"rest"
        await conn.write(b"x")
        assert await conn.read_some() == b"x"
        conn.close()
        listener.close()

    run(main)


def test_8_mib_payloads_in_both_directions_at_once() -> None:
    payload = os.urandom(8 << 20)

    async def main() -> None:
        listener = await runtime.listen("127.0.0.1", 0, echo)
        conn = await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)

        async def send() -> None:
            await conn.write(payload)
            await conn.shutdown_write()

        sender = runtime.spawn(send())
        received = await conn.read_exactly(len(payload))
        await sender
        assert received == payload
        assert await conn.read_some() == b""  # the server echoed our FIN back
        assert conn.closed()
        conn.close()
        listener.close()

    run(main)


def test_200_concurrent_connections() -> None:
    served: list[runtime.Connection] = []

    async def handler(conn: runtime.Connection) -> None:
        served.append(conn)
        assert conn.initiated_by == "peer" and conn.is_connected()
        request = await conn.read_until(b"\n")
        await conn.write(request.upper())

    async def client(port: int, i: int) -> bytes:
        conn = await runtime.connect("127.0.0.1", port, timeout=DEADLINE)
        try:
            await conn.write(f"hello {i}\n".encode())
            return await conn.read_until(b"\n")
        finally:
            conn.close()

    async def main() -> list[bytes]:
        listener = await runtime.listen("127.0.0.1", 0, handler)
        try:
            return await runtime.wait_all([client(listener.port, i) for i in range(200)])
        finally:
            listener.close()

    before = open_fds()
    results = run(main)
    assert results == [f"HELLO {i}\n".encode() for i in range(200)]
    assert len(served) == 200 and all(c.closed() for c in served)
    assert open_fds() == before


def test_peer_fin_while_idle_makes_closed_true_without_a_read() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        peer.sendall(b"partial")
        peer.close()
        # Leave the connection idle: the scheduler's reader notices the FIN itself.
        await until(lambda: conn._eof, "the scheduler to see the FIN")
        assert conn.closed() and not conn.is_connected()
        assert conn.unread_bytes() == 7
        with pytest.raises(runtime.PeerClosedError, match="closed the connection") as info:
            await conn.read_exactly(100)
        assert isinstance(info.value, EOFError)
        assert info.value.partial == b"partial" and info.value.reason == "peer"
        assert await conn.read_some() == b""
        conn.close()

    run(main)


def test_closed_peeks_at_the_socket_before_the_loop_had_a_turn() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        assert not conn.closed()
        peer.shutdown(socket.SHUT_WR)
        # No await in between: only a peek at the socket can know about the FIN.
        deadline = runtime.monotonic() + DEADLINE
        while not conn.closed():
            assert runtime.monotonic() < deadline, "closed() never saw the FIN"
        conn.close()
        peer.close()

    run(main)


def test_peer_reset_is_seen_while_idle_and_fails_reads_and_writes() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # linger 0: RST instead of FIN
        await until(conn.closed, "closed() after RST")
        with pytest.raises(runtime.PeerResetError, match="reset") as info:
            await conn.read_some()
        assert isinstance(info.value, ConnectionResetError)
        assert isinstance(info.value, EOFError) and info.value.reason == "reset"
        with pytest.raises(runtime.PeerResetError):
            await conn.write(b"after reset")
        conn.close()

    run(main)


def test_connection_refused_is_clear_and_leaks_no_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed: nothing listens there

    async def main() -> None:
        for _ in range(50):
            with pytest.raises(runtime.ConnectRefusedError, match=f"127.0.0.1:{port}") as info:
                await runtime.connect("127.0.0.1", port, timeout=DEADLINE)
            assert isinstance(info.value, ConnectionRefusedError)
            assert info.value.port == port

    before = open_fds()
    run(main)
    assert open_fds() == before


def test_unresolvable_host_raises_connect_error() -> None:
    async def main() -> None:
        with pytest.raises(runtime.ConnectError, match="cannot resolve"):
            await runtime.connect("no-such-host.invalid", 80, timeout=DEADLINE)

    run(main)


def test_connect_timeout_when_the_backlog_is_full() -> None:
    async def main() -> None:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(0)
            port = server.getsockname()[1]
            fillers: list[runtime.Connection] = []
            try:
                with pytest.raises(runtime.Timeout, match=f"127.0.0.1:{port}"):
                    for _ in range(8):  # the accept queue fills; later SYNs are dropped
                        fillers.append(await runtime.connect("127.0.0.1", port, timeout=0.3))
            finally:
                for filler in fillers:
                    filler.close()

    before = open_fds()
    run(main)
    assert open_fds() == before


def test_half_close_from_our_side_keeps_reading_possible() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        await conn.write(b"request")
        await conn.shutdown_write()
        assert peer.recv(100) == b"request"
        assert peer.recv(100) == b""  # our FIN arrived
        with pytest.raises(runtime.ConnectionClosedError, match="shutdown_write"):
            await conn.write(b"more")
        peer.sendall(b"response")
        assert await conn.read_exactly(8) == b"response"
        assert not conn.closed()
        peer.close()
        conn.close()

    run(main)


def test_half_close_from_the_peer_still_lets_us_write() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        peer.sendall(b"last request")
        peer.shutdown(socket.SHUT_WR)
        assert await conn.read_exactly(12) == b"last request"
        assert await conn.read_some() == b""
        assert conn.closed()  # it cannot carry a new request
        await conn.write(b"the answer")  # but the half-closed peer still reads
        assert peer.recv(100) == b"the answer"
        conn.close()
        assert peer.recv(100) == b""
        peer.close()

    run(main)


def test_write_to_a_peer_that_stopped_reading_times_out() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        start = runtime.monotonic()
        with pytest.raises(runtime.Timeout, match="is it still reading") as info:
            await conn.write(b"x" * (64 << 20), timeout=0.3)
        assert isinstance(info.value, TimeoutError)
        assert 0.29 <= runtime.monotonic() - start < DEADLINE
        # Scheduler still responsive, registrations cleaned up.
        assert conn.socket.fileno() not in runtime.get_scheduler()._fds or not (
            runtime.get_scheduler()._fds[conn.socket.fileno()][0] & 2
        )
        conn.close()
        peer.close()

    run(main)


def test_concurrent_writes_do_not_interleave() -> None:
    chunk = 1 << 20

    async def main() -> None:
        conn, peer = await raw_pair()
        writers = [runtime.spawn(conn.write(bytes([65 + i]) * chunk)) for i in range(4)]
        received = bytearray()
        peer.setblocking(False)
        while len(received) < 4 * chunk:
            try:
                received += peer.recv(1 << 20)
            except BlockingIOError:
                await runtime.sleep(0.001)
        await runtime.wait_all(writers)
        blocks = [bytes(received[i * chunk : (i + 1) * chunk]) for i in range(4)]
        assert blocks == [bytes([65 + i]) * chunk for i in range(4)]
        conn.close()
        peer.close()

    run(main)


def test_read_timeout_consumes_nothing_and_limit_is_enforced() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        peer.sendall(b"12345")
        with pytest.raises(runtime.Timeout, match="nothing consumed"):
            await conn.read_exactly(10, timeout=0.05)
        peer.sendall(b"67890")
        assert await conn.read_exactly(10, timeout=DEADLINE) == b"1234567890"
        peer.sendall(b"y" * 100)
        with pytest.raises(runtime.LimitExceededError, match="limit=50"):
            await conn.read_until(b"\n", limit=50)
        await until(lambda: conn.unread_bytes() == 100, "100 unread bytes")
        peer.sendall(b"\n")
        assert await conn.read_until(b"\n", limit=200) == b"y" * 100 + b"\n"
        conn.close()
        peer.close()

    run(main)


def test_close_is_idempotent_wakes_readers_and_unregisters() -> None:
    async def main() -> None:
        conn, peer = await raw_pair()
        fd = conn.socket.fileno()
        reader = runtime.spawn(conn.read_some())
        await runtime.sleep(0.01)
        conn.close()
        conn.close()
        with pytest.raises(runtime.ConnectionClosedError, match="closed locally"):
            await reader
        assert conn.closed() and fd not in runtime.get_scheduler()._fds
        with pytest.raises(runtime.ConnectionClosedError):
            await conn.write(b"x")
        with pytest.raises(runtime.ConnectionClosedError):
            await conn.read_exactly(1)
        assert peer.recv(10) == b""
        peer.close()

    run(main)


def test_listener_closes_connections_when_handlers_end_and_on_close() -> None:
    gate = runtime.Event()
    second_started = runtime.Event()

    async def handler(conn: runtime.Connection) -> None:
        if await conn.read_exactly(1) == b"q":
            return  # returning closes the connection
        second_started.set()
        await gate.wait()

    async def main() -> None:
        listener = await runtime.listen("127.0.0.1", 0, handler)
        quick = await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)
        await quick.write(b"q")
        assert await quick.read_some(timeout=DEADLINE) == b""
        stays = await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)
        await stays.write(b"s")
        await runtime.with_timeout(DEADLINE, second_started.wait())
        assert len(listener._connections) == 1
        listener.close()
        assert await stays.read_some(timeout=DEADLINE) == b""
        with pytest.raises(runtime.ConnectRefusedError):
            await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)
        gate.set()
        await listener.wait_closed()
        quick.close()
        stays.close()

    before = open_fds()
    run(main)
    assert open_fds() == before


def test_run_closes_connections_left_open() -> None:
    async def main() -> None:
        listener = await runtime.listen("127.0.0.1", 0, echo)
        for _ in range(5):
            await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)

    before = open_fds()
    run(main)
    assert open_fds() == before


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")

    async def main() -> None:
        listener = await runtime.listen("::1", 0, echo)
        conn = await runtime.connect("::1", listener.port, timeout=DEADLINE)
        assert conn.peer == f"[::1]:{listener.port}"
        await conn.write(b"six")
        assert await conn.read_exactly(3) == b"six"
        conn.close()
        listener.close()

    run(main)


def test_a_peer_flooding_an_idle_connection_is_pushed_back() -> None:
    from legacy import _connection

    async def main() -> None:
        conn, peer = await raw_pair()
        peer.setblocking(False)
        sent = 0
        chunk = b"f" * 65536
        stalled_since = None
        deadline = runtime.monotonic() + DEADLINE
        while runtime.monotonic() < deadline:
            try:
                sent += peer.send(chunk)
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or runtime.monotonic()
                if runtime.monotonic() - stalled_since > 0.3:
                    break  # the peer cannot send any more: kernel buffers are full
            await runtime.sleep(0.001)
        else:
            raise AssertionError("the peer was never pushed back")
        assert len(conn._rbuf) <= _connection._HIGH_WATER + 256 * 1024
        assert sent > len(conn._rbuf)  # the rest waits in the kernel
        # Reading everything resumes reading from the kernel.
        got = 0
        while got < sent:
            got += len(await conn.read_some(1 << 20, timeout=DEADLINE))
        assert got == sent
        conn.close()
        peer.close()

    run(main)


def test_unreachable_errors_name_the_address() -> None:
    import errno

    from legacy import _net

    # Only loopback may be dialled here, so the errno mapping is checked directly.
    for code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        exc = _net._connect_error("10.0.0.1", 5432, OSError(code, os.strerror(code)))
        assert type(exc) is runtime.ConnectError
        assert "10.0.0.1:5432" in str(exc) and "unreachable" in str(exc)
    refused = _net._connect_error("db", 1, OSError(errno.ECONNREFUSED, "refused"))
    assert isinstance(refused, ConnectionRefusedError) and "db:1" in str(refused)


def test_peer_fin_during_a_pending_write_does_not_abort_it() -> None:
    payload = os.urandom(16 << 20)

    async def main() -> None:
        conn, peer = await raw_pair()
        writer = runtime.spawn(conn.write(payload, timeout=DEADLINE))
        await until(lambda: conn._wview is not None, "the write to wait for the kernel")
        peer.shutdown(socket.SHUT_WR)  # the peer half-closes while our write is pending
        await until(lambda: conn._eof, "the FIN to arrive")
        assert conn.closed() and not writer.done()
        peer.setblocking(False)
        received = bytearray()
        while len(received) < len(payload):
            try:
                received += peer.recv(1 << 20)
            except BlockingIOError:
                await runtime.sleep(0.001)
        await writer
        assert received == payload
        conn.close()
        peer.close()

    run(main)


def test_connection_churn_leaves_no_fd_or_registration_behind() -> None:
    async def main() -> None:
        sched = runtime.get_scheduler()
        listener = await runtime.listen("127.0.0.1", 0, echo)
        baseline = len(sched._fds)
        for i in range(300):
            conn = await runtime.connect("127.0.0.1", listener.port, timeout=DEADLINE)
            await conn.write(b"%d" % i)
            assert await conn.read_some(timeout=DEADLINE) == b"%d" % i
            if i % 2:
                await conn.shutdown_write()
                assert await conn.read_some(timeout=DEADLINE) == b""
            conn.close()
        await until(lambda: not listener._connections, "every handler to finish")
        assert len(sched._fds) == baseline
        listener.close()
        assert not sched._fds

    before = open_fds()
    run(main)
    assert open_fds() == before


EMFILE_SCRIPT = r"""
import os, resource, socket, sys, time
from legacy import runtime

errors = []
served = []

async def handler(conn):
    served.append(conn)

async def main():
    runtime.get_scheduler().set_exception_handler(lambda exc, task: errors.append(exc))
    listener = await runtime.listen("127.0.0.1", 0, handler)
    clients = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(5)]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
    fillers = []
    try:
        while True:  # take the free fd numbers below the limit too
            fillers.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    cpu = time.process_time()
    await runtime.sleep(0.5)
    spent = time.process_time() - cpu
    for fd in fillers:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    deadline = runtime.monotonic() + 10
    while len(served) < 5 and runtime.monotonic() < deadline:
        await runtime.sleep(0.01)
    for c in clients:
        c.close()
    listener.close()
    return spent

spent = runtime.run(main)
print(f"cpu={spent:.3f} served={len(served)} emfile={sum(1 for e in errors if getattr(e, 'errno', None) == 24)}")
"""


def test_out_of_file_descriptors_pauses_accepting_instead_of_spinning() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", EMFILE_SCRIPT], capture_output=True, text=True, timeout=50
    )
    assert proc.returncode == 0, proc.stderr
    fields = dict(item.split("=") for item in proc.stdout.split())
    assert float(fields["cpu"]) < 0.2, proc.stdout  # a spinning accept loop burns ~0.5 s
    assert 1 <= int(fields["emfile"]) <= 3, proc.stdout  # reported, then retried each second
    assert fields["served"] == "5", proc.stdout  # accepting resumed once fds were available
