"""The fleet's test fixtures: where the real servers are, skipping when they are not there."""

from __future__ import annotations

import os
import socket

import pytest
from legacy import runtime

from fleet import config
from fleet.peers import nginx as nginx_peer


def _unavailable(reason):
    if os.environ.get("MIGRATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (MIGRATE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def _require(name, host, port):
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return
    except OSError:
        pass
    _unavailable(
        f"{name} is not reachable at {host}:{port}; start it or set MIGRATE_{name.upper()}_HOST/_PORT"
    )


@pytest.fixture(scope="session")
def mariadb():
    """The docs database settings, once the server answers."""
    settings = config.mariadb()
    _require("mariadb", settings.host, settings.port)
    return settings


@pytest.fixture(scope="session")
def redis():
    """The cache settings, once the server answers."""
    settings = config.redis()
    _require("redis", settings.host, settings.port)
    return settings


@pytest.fixture(scope="session")
def nginx(request):
    """A local nginx (keepalive_timeout 1 s, keepalive_requests 5) in front of a small upstream."""
    if nginx_peer.find_nginx() is None:
        _unavailable("nginx is not installed (apt-get install nginx-light); the http tests need it")
    server = nginx_peer.Nginx(keepalive_timeout=1, keepalive_requests=5).start()
    request.addfinalizer(server.stop)  # a finalizer keeps generators out of the converted code
    return server


async def _wait_until(predicate, within=5.0):
    """Wait until ``predicate()`` holds, polling; fail after ``within`` seconds."""
    deadline = runtime.monotonic() + within
    while not predicate():
        assert runtime.monotonic() < deadline, f"{predicate!r} still false after {within} s"
        await runtime.sleep(0.01)


@pytest.fixture
def wait_until():
    """``await wait_until(predicate)``: wait for a condition the test cannot be told about."""
    return _wait_until
