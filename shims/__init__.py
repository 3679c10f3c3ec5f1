"""One backend-neutral runtime and connection API over legacy, asyncio and uvloop.

Public names only; the implementation lives in private modules::

    import shims

    async def main() -> bytes:
        conn = await shims.connect("127.0.0.1", 6379, timeout=5)
        try:
            await conn.write(b"PING\\r\\n", timeout=5)
            return await conn.read_until(b"\\r\\n", timeout=5)
        finally:
            conn.close()

    shims.run(main, service="pdf-export")   # backend from the per-service flag

The per-service flag's plumbing lives in ``shims.config``, the backend
contract and registry in ``shims.backends``, the test kit in ``shims.testing``.
"""

import warnings as _warnings
from typing import Any as _Any

from . import backends as backends
from . import config as config
from ._connection import Connection as Connection
from ._errors import ConnectError as ConnectError
from ._errors import ConnectionClosedError as ConnectionClosedError
from ._errors import ConnectTimeout as ConnectTimeout
from ._errors import FlagError as FlagError
from ._errors import PeerClosedError as PeerClosedError
from ._errors import ReadLimitError as ReadLimitError
from ._errors import ReadTimeout as ReadTimeout
from ._errors import ShimError as ShimError
from ._errors import ShimTimeout as ShimTimeout
from ._errors import WriteTimeout as WriteTimeout
from ._net import Server as Server
from ._net import connect as connect
from ._net import serve as serve
from ._pool import ConnectionPool as ConnectionPool
from ._runtime import Task as Task
from ._runtime import call_later as call_later
from ._runtime import cancelled_types as _cancelled_types
from ._runtime import current_backend as current_backend
from ._runtime import gather as gather
from ._runtime import monotonic as monotonic
from ._runtime import run as run
from ._runtime import sleep as sleep
from ._runtime import spawn as spawn
from ._runtime import timeout as timeout
from ._runtime import wait_for as wait_for
from ._state import ConnectionState as ConnectionState
from ._sync import Event as Event
from ._sync import Lock as Lock
from ._sync import Queue as Queue

__all__ = [
    "CANCELLED",
    "ConnectError",
    "ConnectTimeout",
    "Connection",
    "ConnectionClosedError",
    "ConnectionPool",
    "ConnectionState",
    "Event",
    "FlagError",
    "Lock",
    "PeerClosedError",
    "Queue",
    "ReadLimitError",
    "ReadTimeout",
    "Server",
    "ShimError",
    "ShimTimeout",
    "Task",
    "WriteTimeout",
    "call_later",
    "connect",
    "current_backend",
    "gather",
    "monotonic",
    "run",
    "serve",
    "sleep",
    "spawn",
    "timeout",
    "wait_for",
]

#: The exception types a cancelled task sees at its await point, one per bundled backend.
CANCELLED: tuple[type[BaseException], ...] = _cancelled_types()


def __getattr__(name: str) -> _Any:
    if name in config.__all__:  # moved there; still importable here, with a warning
        _warnings.warn(
            f"shims.{name} moved to shims.config.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(config, name)
    if name == "VALID_BACKENDS":
        _warnings.warn(
            "shims.VALID_BACKENDS is deprecated: the registered backends are "
            "shims.backends.names() (a list that includes backends other packages add)",
            DeprecationWarning,
            stacklevel=2,
        )
        return tuple(backends.names(available=False))
    raise AttributeError(f"module 'shims' has no attribute {name!r}")
