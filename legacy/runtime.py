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

from ._errors import (
    Cancelled as Cancelled,
)
from ._errors import (
    ConnectError as ConnectError,
)
from ._errors import (
    ConnectionClosedError as ConnectionClosedError,
)
from ._errors import (
    ConnectRefusedError as ConnectRefusedError,
)
from ._errors import (
    LimitExceededError as LimitExceededError,
)
from ._errors import (
    PeerClosedError as PeerClosedError,
)
from ._errors import (
    PeerResetError as PeerResetError,
)
from ._errors import (
    Timeout as Timeout,
)
from ._scheduler import Future as Future
from ._scheduler import Handle as Handle
from ._scheduler import Scheduler as Scheduler
from ._scheduler import get_scheduler as get_scheduler
from ._scheduler import monotonic as monotonic
from ._sync import Channel as Channel
from ._sync import ChannelEmpty as ChannelEmpty
from ._sync import ChannelFull as ChannelFull
from ._sync import Event as Event
from ._sync import Lock as Lock
from ._tasks import Task as Task
from ._tasks import call_later as call_later
from ._tasks import coroutine as coroutine
from ._tasks import run as run
from ._tasks import sleep as sleep
from ._tasks import spawn as spawn
from ._tasks import wait_all as wait_all
from ._tasks import with_timeout as with_timeout

__all__ = [
    "Cancelled",
    "Channel",
    "ChannelEmpty",
    "ChannelFull",
    "ConnectError",
    "ConnectRefusedError",
    "ConnectionClosedError",
    "Future",
    "Handle",
    "LimitExceededError",
    "PeerClosedError",
    "PeerResetError",
    "Scheduler",
    "Task",
    "Timeout",
    "call_later",
    "coroutine",
    "get_scheduler",
    "monotonic",
    "run",
    "sleep",
    "spawn",
    "wait_all",
    "with_timeout",
]
