"""Fixtures shared by the whole suite: the backend matrix and the real servers."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import pytest

import shims

#: Every registered backend, installed or not (a missing one is skipped with its reason).
BACKENDS = tuple(shims.backends.names(available=False))


def _starts_the_reactor(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(v == "twisted" for v in params if isinstance(v, str)) or (
        item.nodeid.startswith("tests/shims/test_backend_twisted.py")
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that start Twisted's reactor last (their order is otherwise kept).

    Importing Twisted's reactor makes zope.interface give ``abc.ABC`` a
    ``__provides__`` descriptor that raises on instances, and libcst's
    ``MatcherDecoratableTransformer`` (every codemod command) reads every
    attribute of itself: in a process that imported the reactor, constructing
    a codemod fails. The CLI never imports Twisted; this suite runs both.
    """
    items.sort(key=_starts_the_reactor)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once per registered backend (ids legacy, asyncio...)."""
    name: str = request.param
    problem = shims._registry.problem(name)
    if problem is not None:
        pytest.skip(problem)
    return name


@dataclass(frozen=True)
class Service:
    """Where a real server listens, from the environment with the CI defaults."""

    name: str
    host: str
    port: int
    user: str = ""
    password: str = ""
    database: str = ""


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def _require(service: Service) -> Service:
    if _reachable(service.host, service.port):
        return service
    reason = (
        f"{service.name} is not reachable at {service.host}:{service.port}; "
        f"start it or set MIGRATE_{service.name.upper()}_HOST/_PORT"
    )
    if os.environ.get("MIGRATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (MIGRATE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb() -> Service:
    """The real MariaDB server (MIGRATE_MARIADB_HOST/PORT/USER/PASSWORD/DATABASE)."""
    env = os.environ.get
    return _require(
        Service(
            name="mariadb",
            host=env("MIGRATE_MARIADB_HOST", "127.0.0.1"),
            port=int(env("MIGRATE_MARIADB_PORT", "3306")),
            user=env("MIGRATE_MARIADB_USER", "root"),
            password=env("MIGRATE_MARIADB_PASSWORD", ""),
            database=env("MIGRATE_MARIADB_DATABASE", "test"),
        )
    )


@pytest.fixture(scope="session")
def redis() -> Service:
    """The real Redis server (MIGRATE_REDIS_HOST/PORT)."""
    env = os.environ.get
    return _require(
        Service(
            name="redis",
            host=env("MIGRATE_REDIS_HOST", "127.0.0.1"),
            port=int(env("MIGRATE_REDIS_PORT", "6379")),
        )
    )
