"""The public surface: ``__all__`` matches what ``shims`` exports, and the contract's names exist."""

from __future__ import annotations

import types

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
    "VALID_BACKENDS",
    "BackendDecision",
    "resolve_backend",
    "find_config",
    "load_config",
    "MigrateConfig",
    "ServiceConfig",
    "ReadLimitError",
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
