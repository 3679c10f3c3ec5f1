"""FaultProxy on plain blocking sockets: every fault, the events, clean shutdown."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from shims.testing import FaultProxy
from shims.testing.faults import Direction, Fault, Pair, register, registered

Ends = tuple[socket.socket, socket.socket]


@pytest.fixture
def upstream() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: socket.socket) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", upstream.getsockname()[1]) as p:
        yield p


def connect(proxy: FaultProxy, upstream: socket.socket) -> Ends:
    """Return (client end, server end) of one connection through the proxy."""
    client = socket.create_connection((proxy.host, proxy.port), timeout=10)
    server, _ = upstream.accept()
    server.settimeout(10)
    return client, server


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def assert_silent(sock: socket.socket, seconds: float = 0.3) -> None:
    """Nothing (neither data nor EOF) arrives within ``seconds``."""
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        sock.recv(1)
    sock.settimeout(10)


def test_forwards_both_ways_and_counts(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        client.sendall(b"ping")
        assert recv_exactly(server, 4) == b"ping"
        server.sendall(b"pong!")
        assert recv_exactly(client, 5) == b"pong!"
        proxy.wait_for(lambda p: p.bytes_to_client == 5)
        assert (proxy.live_connections, proxy.total_connections) == (1, 1)
        assert proxy.bytes_to_upstream == 4
    proxy.wait_for(lambda p: p.live_connections == 0)
    proxy.wait_for(lambda p: p.close_reasons == ["both_closed"])


def test_eight_mebibytes_each_way_arrive_intact(proxy: FaultProxy, upstream: socket.socket) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    client, server = connect(proxy, upstream)
    with client, server:
        sender = threading.Thread(target=client.sendall, args=(payload,))
        sender.start()
        got = recv_exactly(server, len(payload))
        sender.join(30)
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        server.sendall(got[:1024])
        assert recv_exactly(client, 1024) == payload[:1024]


def test_close_all_with_fin_gives_eof_on_both_sides(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.close_all()
        assert client.recv(10) == b""
        assert server.recv(10) == b""
        client.sendall(b"after the FIN")  # CLOSE_WAIT on our side: a write still succeeds
        assert proxy.live_connections == 0
        proxy.wait_for(lambda p: p.close_reasons == ["close_all"])


def test_close_all_with_rst_resets_both_sides(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.close_all(rst=True)
        with pytest.raises(ConnectionResetError):
            client.recv(10)
        with pytest.raises(ConnectionResetError):
            server.recv(10)


def test_kill_one_closes_exactly_one(proxy: FaultProxy, upstream: socket.socket) -> None:
    ends = [connect(proxy, upstream) for _ in range(3)]
    proxy.wait_for(lambda p: p.live_connections == 3)
    proxy.kill_one()
    assert proxy.live_connections == 2
    eofs = 0
    for client, _server in ends:
        client.sendall(b"x")
        client.settimeout(2)
        with contextlib.suppress(TimeoutError):  # alive: nothing to read
            eofs += client.recv(1) == b""
    assert eofs == 1
    for client, server in ends:
        client.close()
        server.close()
    proxy.wait_for(lambda p: p.live_connections == 0)
    with pytest.raises(LookupError, match="no live connection"):
        proxy.kill_one()


def test_half_close_to_client_keeps_the_other_way_open(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        server.sendall(b"last words")
        proxy.wait_for(lambda p: p.bytes_to_client == 10)
        proxy.half_close("to_client")
        assert recv_all(client) == b"last words"
        client.sendall(b"still talking")
        assert recv_exactly(server, 13) == b"still talking"
        assert proxy.live_connections == 1


def test_half_close_to_upstream_keeps_the_other_way_open(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.half_close("to_upstream")
        assert server.recv(10) == b""
        server.sendall(b"reply")
        assert recv_exactly(client, 5) == b"reply"
        client.sendall(b"dropped")
        client.shutdown(socket.SHUT_WR)
        server.close()
        assert recv_all(client) == b""
    proxy.wait_for(lambda p: p.live_connections == 0)
    assert proxy.bytes_to_upstream == 0
    with pytest.raises(ValueError, match="'sideways'"):
        proxy.half_close("sideways")


def test_stop_reading_makes_client_writes_stall(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.stop_reading()
        client.setblocking(False)
        sent, block = 0, b"x" * 65536
        while sent < 64 * 1024 * 1024:
            try:
                sent += client.send(block)
            except BlockingIOError:
                break
        else:
            pytest.fail(f"64 MiB written without backpressure: {proxy!r}")
        assert_silent(server)
        proxy.stop_reading(False)
        assert len(recv_exactly(server, sent)) == sent


def test_blackhole_forwards_nothing_and_closes_nothing(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.blackhole()
        client.sendall(b"hello?")
        server.sendall(b"anyone?")
        assert_silent(server)
        assert_silent(client)
        late = socket.create_connection((proxy.host, proxy.port), timeout=10)
        upstream.settimeout(0.3)
        with pytest.raises(TimeoutError):
            upstream.accept()  # not dialled while blackholed
        upstream.settimeout(10)
        proxy.blackhole(False)
        assert recv_exactly(server, 6) == b"hello?"
        assert recv_exactly(client, 7) == b"anyone?"
        late_server, _ = upstream.accept()
        late.close()
        late_server.close()


def test_latency_delays_each_chunk(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.latency(0.3)
        start = time.monotonic()
        client.sendall(b"slow")
        assert recv_exactly(server, 4) == b"slow"
        assert time.monotonic() - start >= 0.29
        with pytest.raises(ValueError, match="-1"):
            proxy.latency(-1)


def test_bandwidth_limits_throughput(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.bandwidth(100_000)
        start = time.monotonic()
        client.sendall(b"b" * 50_000)
        assert len(recv_exactly(server, 50_000)) == 50_000
        assert time.monotonic() - start >= 0.4


def test_slice_forwards_small_segments(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.slice(10, delay=0.05)
        client.sendall(bytes(range(100)))
        chunks = []
        while sum(map(len, chunks)) < 100:
            chunks.append(server.recv(100))
        assert b"".join(chunks) == bytes(range(100))
        assert len(chunks) >= 3  # ten segments 50 ms apart: never one read


def test_close_after_bytes_forwards_exactly_n(proxy: FaultProxy, upstream: socket.socket) -> None:
    proxy.close_after_bytes(10)
    client, server = connect(proxy, upstream)
    with client, server:
        client.sendall(bytes(range(100)))
        assert recv_all(server) == bytes(range(10))
        assert recv_all(client) == b""
        proxy.wait_for(lambda p: p.close_reasons == ["close_after_bytes"])


def test_max_lifetime_closes_old_connections(proxy: FaultProxy, upstream: socket.socket) -> None:
    proxy.max_lifetime(0.3)
    start = time.monotonic()
    client, server = connect(proxy, upstream)
    with client, server:
        assert recv_all(client) == b""
        assert time.monotonic() - start >= 0.29
        assert recv_all(server) == b""
        proxy.wait_for(lambda p: p.close_reasons == ["max_lifetime"])


def test_idle_timeout_closes_idle_connections(proxy: FaultProxy, upstream: socket.socket) -> None:
    proxy.idle_timeout(0.5)
    client, server = connect(proxy, upstream)
    with client, server:
        for _ in range(4):  # activity keeps it open past the timeout
            time.sleep(0.2)
            client.sendall(b"k")
            assert recv_exactly(server, 1) == b"k"
        assert proxy.live_connections == 1
        assert recv_all(client) == b""
        proxy.wait_for(lambda p: p.close_reasons == ["idle_timeout"])


@pytest.mark.parametrize(
    "hold",
    [
        pytest.param(lambda p: p.latency(1.0), id="latency"),
        pytest.param(lambda p: p.slice(1, delay=0.6), id="slice"),
    ],
)
def test_idle_timeout_spares_bytes_the_proxy_still_holds(
    proxy: FaultProxy, upstream: socket.socket, hold: Callable[[FaultProxy], None]
) -> None:
    """Bytes held back by latency or pacing are in flight: the connection is not idle."""
    hold(proxy)
    proxy.idle_timeout(0.5)
    client, server = connect(proxy, upstream)
    with client, server:
        client.sendall(b"abc")
        assert recv_exactly(server, 3) == b"abc"  # all of it, though it took over 0.5 s
        assert recv_all(server) == b""  # then idle: FIN
        proxy.wait_for(lambda p: p.close_reasons == ["idle_timeout"])


def test_inject_and_close_sends_bytes_then_fin(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.inject_and_close(b"\xff\x0f\x10server gone away")
        assert recv_all(client) == b"\xff\x0f\x10server gone away"
        assert recv_all(server) == b""
        proxy.wait_for(lambda p: p.close_reasons == ["inject_and_close"])


def test_peer_reset_is_forwarded_as_reset(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        server.close()
        with pytest.raises(ConnectionResetError):
            client.recv(10)


def test_refused_upstream_closes_the_client(upstream: socket.socket) -> None:
    port = upstream.getsockname()[1]
    upstream.close()
    with FaultProxy("127.0.0.1", port) as proxy:
        client = socket.create_connection((proxy.host, proxy.port), timeout=10)
        with client:
            assert recv_all(client) == b""
        proxy.wait_for(lambda p: p.close_reasons == ["upstream_refused"])


def test_clear_removes_every_fault(proxy: FaultProxy, upstream: socket.socket) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        proxy.latency(30)
        proxy.stop_reading()
        proxy.max_lifetime(0.5)
        client.sendall(b"queued")
        proxy.clear()
        assert recv_exactly(server, 6) == b"queued"
        time.sleep(0.6)
        client.sendall(b"alive")
        assert recv_exactly(server, 5) == b"alive"


def test_wait_for_times_out_naming_the_state(proxy: FaultProxy) -> None:
    with pytest.raises(TimeoutError, match="live=0"):
        proxy.wait_for(lambda p: p.live_connections == 5, timeout=0.2)


def test_until_waits_without_blocking_the_loop(
    backend: str, proxy: FaultProxy, upstream: socket.socket
) -> None:
    import shims

    async def main() -> int:
        conn = await shims.connect(proxy.host, proxy.port, timeout=10)
        await proxy.until(lambda p: p.live_connections == 1)
        with pytest.raises(TimeoutError, match="live=1"):
            await proxy.until(lambda p: p.live_connections == 2, timeout=0.1)
        conn.close()
        await proxy.until(lambda p: p.live_connections == 0)
        return proxy.closed_connections

    server_thread = threading.Thread(target=lambda: upstream.accept()[0].close())
    server_thread.start()
    assert shims.run(main, backend=backend) == 1
    server_thread.join(10)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_stop_closes_everything_and_leaks_no_fd(upstream: socket.socket) -> None:
    before = _open_fds()
    proxy = FaultProxy("127.0.0.1", upstream.getsockname()[1]).start()
    ends = [connect(proxy, upstream) for _ in range(5)]
    proxy.close_all()  # some lingering sockets too
    ends += [connect(proxy, upstream) for _ in range(5)]
    proxy.wait_for(lambda p: p.live_connections == 5)
    proxy.stop()
    proxy.stop()  # idempotent
    for client, server in ends:
        client.close()
        server.close()
    assert _open_fds() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("FaultProxy-")]
    with pytest.raises(RuntimeError, match="stopped"):
        proxy.latency(1)
    with pytest.raises(RuntimeError, match="already started"):
        proxy.start()


def test_a_crash_of_the_proxy_thread_is_reported_not_hung(
    proxy: FaultProxy, upstream: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, server = connect(proxy, upstream)
    with client, server:

        def broken(*args: object) -> None:
            raise ZeroDivisionError("injected bug")

        monkeypatch.setattr(proxy._loop, "_settle", broken)
        with pytest.raises(RuntimeError, match="crashed with ZeroDivisionError") as info:
            proxy.latency(0.1)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        with pytest.raises(RuntimeError, match="crashed"):
            proxy.wait_for(lambda p: False)
        with pytest.raises(ConnectionResetError):
            client.recv(10)  # the crashed proxy reset everything on its way out
        with pytest.raises(RuntimeError, match="crashed"):
            proxy.stop()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_loopback_both_sides() -> None:
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    server.settimeout(10)
    with server, FaultProxy("::1", server.getsockname()[1], host="::1") as proxy:
        client = socket.create_connection(("::1", proxy.port), timeout=10)
        accepted, _ = server.accept()
        with client, accepted:
            client.sendall(b"v6")
            assert recv_exactly(accepted, 2) == b"v6"


def test_two_hundred_concurrent_connections_through_the_proxy() -> None:
    from shims.testing.conformance._peers import EchoServer

    echo = EchoServer()
    try:
        with FaultProxy(echo.host, echo.port) as proxy:
            clients = [
                socket.create_connection((proxy.host, proxy.port), timeout=10) for _ in range(200)
            ]
            try:
                proxy.wait_for(lambda p: p.live_connections == 200)
                for i, client in enumerate(clients):
                    client.sendall(b"line %d\n" % i)
                for i, client in enumerate(clients):
                    expected = b"line %d\n" % i
                    assert recv_exactly(client, len(expected)) == expected
            finally:
                for client in clients:
                    client.close()
            proxy.wait_for(lambda p: p.live_connections == 0)
            assert proxy.total_connections == 200
    finally:
        echo.close()


def test_a_client_half_close_is_forwarded_as_a_half_close(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    client, server = connect(proxy, upstream)
    with client, server:
        client.sendall(b"request")
        client.shutdown(socket.SHUT_WR)
        assert recv_all(server) == b"request"  # EOF after the request, not a full close
        server.sendall(b"response")
        server.shutdown(socket.SHUT_WR)
        assert recv_all(client) == b"response"
    proxy.wait_for(lambda p: p.close_reasons == ["both_closed"])


# -- a fault written outside shims.testing: the "Add a proxy fault" recipe ----------


@register
class FlipByte(Fault):
    """Flip the bits of byte ``at`` of what each client sends."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_data(self, pair: Pair, d: Direction, release: float, data: bytes) -> tuple[float, bytes]:
        i = self.at - d.received
        if d is pair.up and 0 <= i < len(data):
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        return release, data


@register
class HoldFirstChunk(Fault):
    """Hold the first chunk each way of every connection for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_data(self, pair: Pair, d: Direction, release: float, data: bytes) -> tuple[float, bytes]:
        return (release + self.seconds if d.received == 0 else release), data


class Unregistered(Fault):
    pass


def test_a_registered_fault_corrupts_one_byte_of_the_stream(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    proxy.install(FlipByte(at=5))
    client, server = connect(proxy, upstream)
    with client, server:
        received = b""
        for chunk in (b"abc", b"def", b"ghi"):  # byte 5 is in the second chunk
            client.sendall(chunk)
            received += recv_exactly(server, 3)
        assert received == b"abcde" + bytes([ord("f") ^ 0xFF]) + b"ghi"
        server.sendall(b"untouched")  # the other direction is left alone
        assert recv_exactly(client, 9) == b"untouched"
        proxy.install(FlipByte(at=9))  # replaces the first: one per class
        client.sendall(b"jkl")
        assert recv_exactly(server, 3) == bytes([ord("j") ^ 0xFF]) + b"kl"
        proxy.clear()
        client.sendall(b"mno")
        assert recv_exactly(server, 3) == b"mno"


def test_a_registered_fault_holds_the_first_chunk_only(
    proxy: FaultProxy, upstream: socket.socket
) -> None:
    proxy.install(HoldFirstChunk(0.4))
    client, server = connect(proxy, upstream)
    with client, server:
        start = time.monotonic()
        client.sendall(b"first")
        assert recv_exactly(server, 5) == b"first"
        assert time.monotonic() - start >= 0.39
        start = time.monotonic()
        client.sendall(b"second")
        assert recv_exactly(server, 6) == b"second"
        assert time.monotonic() - start < 0.39


def test_an_unregistered_fault_is_refused_naming_the_fix(proxy: FaultProxy) -> None:
    with pytest.raises(TypeError, match=r"register\(Unregistered\)"):
        proxy.install(Unregistered())
    assert registered()[-2:] == [FlipByte, HoldFirstChunk]  # consulted after the built-ins
