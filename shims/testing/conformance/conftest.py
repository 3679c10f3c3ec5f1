"""Fixtures of the conformance suite: threaded peers and fault proxies (backend-independent)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shims.testing import FaultProxy
from shims.testing.conformance._peers import EchoServer, RawPeer


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    """A threaded line-echo server."""
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def peer() -> Iterator[RawPeer]:
    """A raw listening socket; accept and drive each connection by hand."""
    raw = RawPeer()
    yield raw
    raw.close()


@pytest.fixture
def echo_proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the echo server."""
    with FaultProxy(echo.host, echo.port) as proxy:
        yield proxy


@pytest.fixture
def peer_proxy(peer: RawPeer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the raw peer."""
    with FaultProxy(peer.host, peer.port) as proxy:
        yield proxy


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()
