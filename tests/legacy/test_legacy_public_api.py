"""The public surface of legacy.runtime: exactly what __all__ says, each documented."""

from __future__ import annotations

import inspect

from legacy import runtime

# What the shim, the fleet and the codemod spec rely on (TEAM.md "legacy.runtime").
CONTRACT = {
    "run", "spawn", "sleep", "monotonic", "call_later", "wait_all", "with_timeout",
    "Lock", "Event", "Channel", "Timeout", "Cancelled", "coroutine", "connect", "listen",
    "Listener", "Connection", "Task", "Future", "get_scheduler",
}  # fmt: skip


def test_all_matches_the_public_names() -> None:
    public = {
        name
        for name, value in vars(runtime).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public == set(runtime.__all__)
    assert public >= CONTRACT


def test_every_public_name_is_documented() -> None:
    for name in runtime.__all__:
        doc = inspect.getdoc(getattr(runtime, name))
        assert doc and doc.strip(), f"runtime.{name} has no docstring"


def test_connection_and_scheduler_have_the_shared_interface() -> None:
    for method in (
        "read_exactly", "read_until", "read_some", "write", "shutdown_write",
        "close", "closed", "is_connected", "unread_bytes",
    ):  # fmt: skip
        assert callable(getattr(runtime.Connection, method)), method
    for method in (
        "time", "call_soon", "call_later", "add_reader", "remove_reader", "add_writer",
        "remove_writer", "create_future", "set_exception_handler",
    ):  # fmt: skip
        assert callable(getattr(runtime.Scheduler, method)), method
    assert issubclass(runtime.Timeout, TimeoutError)
    assert issubclass(runtime.Cancelled, BaseException)
    assert not issubclass(runtime.Cancelled, Exception)
    assert issubclass(runtime.PeerClosedError, EOFError)
