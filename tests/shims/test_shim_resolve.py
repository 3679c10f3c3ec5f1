"""Name resolution in connect: numeric addresses need no lookup; a lookup never stalls other tasks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import shims

DEADLINE = 10.0
_real_getaddrinfo = socket.getaddrinfo


def _python_resolver(backend: str) -> None:
    if backend == "uvloop":
        pytest.skip("uvloop resolves names in libuv, never through socket.getaddrinfo")


class GatedResolver:
    """A ``socket.getaddrinfo`` that holds each lookup until ``gate`` is set (or 5 s pass)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[tuple[Any, int, bool]] = []  # (host, thread id, gate was opened)

    def __call__(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        opened = self.gate.wait(5.0)
        self.calls.append((host, threading.get_ident(), opened))
        return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedResolver]:
    resolver = GatedResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    yield resolver
    resolver.gate.set()  # let an abandoned lookup thread finish


def test_numeric_address_connects_without_a_lookup(
    run: Any, backend: str, raw_peer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _python_resolver(backend)
    peer = raw_peer()
    lookups: list[Any] = []

    def no_lookup(*args: Any, **kwargs: Any) -> Any:
        lookups.append(args)
        raise AssertionError("getaddrinfo called for a numeric address")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)

    async def main() -> None:
        conn = await shims.connect("127.0.0.1", peer.port, timeout=DEADLINE)
        sock = peer.accept()
        await conn.write(b"ping", timeout=DEADLINE)
        assert peer.recv_exactly(4) == b"ping"
        sock.sendall(b"pong")
        assert await conn.read_exactly(4, timeout=DEADLINE) == b"pong"
        assert conn.peer == ("127.0.0.1", peer.port)
        conn.close()

    run(main)
    assert lookups == []


def test_localhost_lookup_runs_off_the_loop_thread(
    run: Any, backend: str, raw_peer: Any, gated: GatedResolver
) -> None:
    # A ticker task opens the gate: if the lookup ran on the loop's thread, the
    # ticker could not run until the lookup gave up (opened is False then).
    _python_resolver(backend)
    peer = raw_peer()
    loop_thread = threading.get_ident()

    async def ticker() -> None:
        await shims.sleep(0.01)
        gated.gate.set()

    async def main() -> None:
        task = shims.spawn(ticker())
        conn = await shims.connect("localhost", peer.port, timeout=DEADLINE)
        await task
        peer.accept()
        assert conn.is_connected()
        assert conn.peer == ("127.0.0.1", peer.port)
        conn.close()

    run(main)
    assert [(host, opened) for host, _, opened in gated.calls] == [("localhost", True)]
    assert gated.calls[0][1] != loop_thread


def test_connect_deadline_covers_the_lookup(
    run: Any, backend: str, raw_peer: Any, gated: GatedResolver
) -> None:
    _python_resolver(backend)
    peer = raw_peer()

    async def main() -> float:
        start = time.monotonic()
        with pytest.raises(shims.ConnectTimeout):
            await shims.connect("localhost", peer.port, timeout=0.2)
        return time.monotonic() - start

    elapsed = run(main)
    assert elapsed < 4.0  # the held lookup would take 5 s


def test_failed_lookup_is_a_connect_error(
    run: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _python_resolver(backend)  # (a real failing lookup would ask a DNS server: loopback only)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)

    async def main() -> None:
        with pytest.raises(shims.ConnectError) as info:
            await shims.connect("db.example", 3306, timeout=DEADLINE)
        assert "'db.example'" in str(info.value)
        assert isinstance(info.value.__cause__, socket.gaierror)

    run(main)
