"""Helpers for the shim tests: a raw-socket peer that behaves the same whatever backend runs.

The peer is a plain blocking ``socket`` used from the test's own task: a
connect completes in the kernel's backlog, so ``accept()`` after ``await
shims.connect(...)`` returns at once, and sends on loopback are delivered by
the kernel before ``send`` returns. Nothing here depends on a backend.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import shims
from shims import testing as _diagnostics

DEADLINE = 10.0  # generous: the machine is shared


class RawPeer:
    """A listening raw socket plus the accepted peer socket."""

    def __init__(self, *, rcvbuf: int | None = None) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # inherited by the accepted socket: small window, real backpressure
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(DEADLINE)
        self.port: int = self.listener.getsockname()[1]
        self.sock: socket.socket | None = None

    def accept(self) -> socket.socket:
        sock, _ = self.listener.accept()
        sock.settimeout(DEADLINE)
        self.sock = sock
        return sock

    def recv_exactly(self, n: int) -> bytes:
        assert self.sock is not None
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def eof_seen(self) -> bool:
        """Return True if our end's FIN reached the peer (no data pending), without blocking."""
        assert self.sock is not None
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(DEADLINE)

    async def wait_eof(self) -> None:
        """Wait (letting the loop run: uvloop sends FIN on its next turn) until the FIN arrived."""
        await wait_until(self.eof_seen, "our FIN at the raw peer")

    def reset(self) -> None:
        """Close the accepted socket with SO_LINGER 0: the kernel sends RST."""
        assert self.sock is not None
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


@pytest.fixture
def raw_peer() -> Iterator[Callable[..., RawPeer]]:
    """Make ``RawPeer`` objects that are closed after the test."""
    made: list[RawPeer] = []

    def make(**kwargs: Any) -> RawPeer:
        peer = RawPeer(**kwargs)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def run(backend: str) -> Callable[..., Any]:
    """Run ``main`` on the test's backend with ``shims.run(main, backend=backend)``."""

    def runner(main: Callable[[], Awaitable[Any]]) -> Any:
        return shims.run(main, backend=backend)

    return runner


@pytest.fixture(autouse=True)
def _no_unhandled() -> Iterator[None]:
    """Fail a test that left an exception nobody retrieved (tests expecting one clear it)."""
    _diagnostics.UNHANDLED.clear()
    yield
    leftover = list(_diagnostics.UNHANDLED)
    _diagnostics.UNHANDLED.clear()
    assert not leftover, f"unhandled exceptions: {leftover!r}"


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll ``predicate`` each turn of the loop (not a sleep-based race) until true, or fail."""
    deadline = shims.monotonic() + timeout
    while not predicate():
        if shims.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await shims.sleep(0.001)


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    """``await until(predicate, what)``: wait for a condition with a generous deadline."""
    return wait_until
