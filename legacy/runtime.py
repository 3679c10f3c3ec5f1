"""The reference in-house runtime: a selector-based scheduler and its TCP connections.

This is the runtime services are migrated away from. Its API deliberately
differs from asyncio (``spawn``, ``wait_all``, ``with_timeout``, ``Channel``,
``@coroutine`` generators), as in-house runtimes do. Implementation lives in
the private modules; this module is the public surface::

    from legacy import runtime

    async def main() -> int:
        task = runtime.spawn(runtime.sleep(0.1, result=42))
        return await runtime.with_timeout(1.0, task)

    assert runtime.run(main) == 42
"""

from __future__ import annotations

from ._connection import Connection
from ._coroutines import coroutine
from ._errors import (
    Cancelled,
    ConnectError,
    ConnectionClosedError,
    ConnectRefusedError,
    LimitExceededError,
    PeerClosedError,
    PeerResetError,
    Timeout,
    TLSError,
)
from ._futures import Future, Handle
from ._net import Listener, connect, listen
from ._ops import call_later, sleep, wait_all, with_timeout
from ._scheduler import Scheduler, get_scheduler, monotonic
from ._sync import Channel, ChannelEmpty, ChannelFull, Event, Lock
from ._tasks import Task, current_task, run, spawn

__all__ = [
    "Cancelled",
    "Channel",
    "ChannelEmpty",
    "ChannelFull",
    "ConnectError",
    "ConnectRefusedError",
    "Connection",
    "ConnectionClosedError",
    "Event",
    "Future",
    "Handle",
    "LimitExceededError",
    "Listener",
    "Lock",
    "PeerClosedError",
    "PeerResetError",
    "Scheduler",
    "TLSError",
    "Task",
    "Timeout",
    "call_later",
    "connect",
    "coroutine",
    "current_task",
    "get_scheduler",
    "listen",
    "monotonic",
    "run",
    "sleep",
    "spawn",
    "wait_all",
    "with_timeout",
]
