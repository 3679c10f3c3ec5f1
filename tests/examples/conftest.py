"""Fixtures for the fleet tests: a converted copy of examples/fleet, importable in-process."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from fleet_support import Conversion, convert, copy_fleet


@pytest.fixture(scope="session")
def converted_fleet(tmp_path_factory: pytest.TempPathFactory) -> Conversion:
    """The fleet converted to the shim, in a scratch directory (once per session)."""
    return convert(copy_fleet(tmp_path_factory.mktemp("converted") / "fleet"))


@dataclass
class Fleet:
    """The converted fleet's modules, imported in this process."""

    pool: ModuleType
    mysql: ModuleType
    docs: ModuleType
    cache: ModuleType
    client: ModuleType
    renderer: ModuleType
    http: ModuleType
    realtime: ModuleType
    realtime_client: ModuleType
    websocket: ModuleType
    nginx: ModuleType
    ws_peers: ModuleType


@pytest.fixture(scope="session")
def fleet(converted_fleet: Conversion) -> Iterator[Fleet]:
    """Import the converted fleet (package ``fleet``) from its scratch directory."""
    if "fleet" in sys.modules:
        pytest.fail(
            "a package named 'fleet' is already imported; the converted fleet needs the name"
        )
    sys.path.insert(0, str(converted_fleet.root))
    try:
        yield Fleet(
            pool=importlib.import_module("fleet.pool"),
            mysql=importlib.import_module("fleet.docs.mysql"),
            docs=importlib.import_module("fleet.docs.service"),
            cache=importlib.import_module("fleet.cache.service"),
            client=importlib.import_module("fleet.pdf_export.client"),
            renderer=importlib.import_module("fleet.pdf_export.renderer"),
            http=importlib.import_module("fleet.http.client"),
            realtime=importlib.import_module("fleet.realtime.server"),
            realtime_client=importlib.import_module("fleet.realtime.client"),
            websocket=importlib.import_module("fleet.realtime.websocket"),
            nginx=importlib.import_module("fleet.peers.nginx"),
            ws_peers=importlib.import_module("fleet.peers.ws"),
        )
    finally:
        sys.path.remove(str(converted_fleet.root))
        for name in [m for m in sys.modules if m == "fleet" or m.startswith("fleet.")]:
            del sys.modules[name]


@pytest.fixture(scope="session")
def nginx(fleet: Fleet) -> Iterator[Any]:
    """The fleet's local nginx (keepalive_timeout 1 s, keepalive_requests 5) and its upstream."""
    if fleet.nginx.find_nginx() is None:
        reason = "nginx is not installed (apt-get install nginx-light); the http tests need it"
        if os.environ.get("MIGRATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (MIGRATE_REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(reason)
    with fleet.nginx.Nginx(keepalive_timeout=1, keepalive_requests=5) as server:
        yield server
