"""The public surface: ``__all__`` matches what ``shims`` exports, and the contract's names exist."""

from __future__ import annotations

import types

import pytest

import shims

CONTRACT = {
    "run",
    "current_backend",
    "sleep",
    "monotonic",
    "spawn",
    "Task",
    "gather",
    "wait_for",
    "timeout",
    "call_later",
    "Lock",
    "Event",
    "Queue",
    "connect",
    "serve",
    "Server",
    "Connection",
    "ConnectionState",
    "ConnectionPool",
    "ShimError",
    "ConnectError",
    "PeerClosedError",
    "ConnectionClosedError",
    "ReadTimeout",
    "WriteTimeout",
    "ConnectTimeout",
    "ShimTimeout",
    "FlagError",
    "ReadLimitError",
}

CONFIG_NAMES = {
    "BackendDecision",
    "resolve_backend",
    "find_config",
    "load_config",
    "MigrateConfig",
    "ServiceConfig",
    "in_rollout",
    "instance_id",
    "service_env_var",
}


def test_all_matches_public_names() -> None:
    public = {
        name
        for name, value in vars(shims).items()
        if not name.startswith(("_", "@")) and not isinstance(value, types.ModuleType)
    }
    assert set(shims.__all__) == public
    assert len(shims.__all__) == len(set(shims.__all__))


def test_contract_names_are_exported() -> None:
    assert set(shims.__all__) >= CONTRACT, CONTRACT - set(shims.__all__)


def test_config_names_live_in_shims_config() -> None:
    assert set(shims.config.__all__) >= CONFIG_NAMES
    assert not CONFIG_NAMES & set(shims.__all__)


@pytest.mark.parametrize("name", sorted(CONFIG_NAMES))
def test_old_top_level_config_names_warn_and_work(name: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"shims\.{name} moved to shims\.config\.{name}"):
        value = getattr(shims, name)
    assert value is getattr(shims.config, name)


def test_valid_backends_is_deprecated_and_comes_from_the_registry() -> None:
    with pytest.warns(DeprecationWarning, match=r"shims\.backends\.names\(\)"):
        valid = shims.VALID_BACKENDS
    assert valid == tuple(shims.backends.names(available=False))


def test_backends_and_testing_export_their_all() -> None:
    import shims.testing

    for module in (shims.backends, shims.testing, shims.config):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_connection_api_matches_contract() -> None:
    for name in (
        "read_exactly",
        "read_until",
        "read_some",
        "write",
        "shutdown_write",
        "close",
        "closed",
        "is_connected",
        "state",
        "close_reason",
        "initiated_by",
        "unread_bytes",
        "on_close",
        "duplex",
    ):
        assert hasattr(shims.Connection, name), name
    assert [s.name for s in shims.ConnectionState] == [
        "OPEN",
        "PEER_CLOSED",
        "WRITE_SHUT",
        "CLOSED",
    ]
