"""Fixtures of the conformance suite: transports, threaded peers and fault proxies.

Every scenario that takes ``transport`` (directly or through a peer or
proxy fixture) runs over ``tcp``, ``tls`` and ``unix``; ids read
``test_x[tls-uvloop]``. ``tls`` needs ``trustme`` (the test extra) and
skips with that reason without it; ``unix`` skips where there are no Unix
sockets.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator

import pytest

from shims.testing import FaultProxy
from shims.testing.conformance._peers import EchoServer, RawPeer
from shims.testing.conformance._transports import Refused, Transport, certificates

TRANSPORTS = ("tcp", "tls", "unix")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """How the scenario reaches its peers: plain TCP, TLS over TCP, or a Unix socket."""
    name: str = request.param
    certs = None
    if name == "tls":
        certs = certificates()
        if certs is None:
            pytest.skip("the tls transport needs trustme: pip install 'migrate-toolkit[test]'")
    if name == "unix" and not hasattr(socket, "AF_UNIX"):
        pytest.skip("this platform has no Unix sockets")
    directory = tempfile.mkdtemp(prefix="shims-") if name == "unix" else None
    yield Transport(name, certs, directory)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def echo(transport: Transport) -> Iterator[EchoServer]:
    """A threaded line-echo server."""
    server = EchoServer(transport)
    yield server
    server.close()


@pytest.fixture
def peer(transport: Transport) -> Iterator[RawPeer]:
    """A raw listening socket; accept and drive each connection by hand."""
    raw = RawPeer(transport)
    yield raw
    raw.close()


def _proxy(transport: Transport, host: str, port: int) -> FaultProxy:
    path = transport.unix_path() if transport.name == "unix" else None
    return FaultProxy(host, port, path=path)


@pytest.fixture
def echo_proxy(transport: Transport, echo: EchoServer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the echo server."""
    with _proxy(transport, echo.host, echo.port) as proxy:
        yield proxy


@pytest.fixture
def peer_proxy(transport: Transport, peer: RawPeer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the raw peer."""
    with _proxy(transport, peer.host, peer.port) as proxy:
        yield proxy


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def refused(transport: Transport) -> Iterator[Refused]:
    """An address on ``transport`` that refuses connections."""
    target = Refused(transport)
    yield target
    target.close()


@pytest.fixture
def tls() -> Iterator[Transport]:
    """The TLS transport alone, for the TLS-only scenarios (test_tls.py)."""
    certs = certificates()
    if certs is None:
        pytest.skip("the TLS scenarios need trustme: pip install 'migrate-toolkit[test]'")
    yield Transport("tls", certs, None)


@pytest.fixture
def tls_peer(tls: Transport) -> Iterator[RawPeer]:
    """A raw TLS peer: each accepted connection has completed its handshake."""
    raw = RawPeer(tls)
    yield raw
    raw.close()


@pytest.fixture
def tls_peer_proxy(tls: Transport, tls_peer: RawPeer) -> Iterator[FaultProxy]:
    """A FaultProxy (TCP level, below TLS) in front of the raw TLS peer."""
    with FaultProxy(tls_peer.host, tls_peer.port) as proxy:
        yield proxy


@pytest.fixture
def tcp_peer() -> Iterator[RawPeer]:
    """A plain TCP peer (for handshakes that stall, garbage, and in-band upgrades)."""
    raw = RawPeer()
    yield raw
    raw.close()
