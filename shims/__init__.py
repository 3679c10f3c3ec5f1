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
"""

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
from ._errors import TLSError as TLSError
from ._errors import TLSTruncatedError as TLSTruncatedError
from ._errors import WriteTimeout as WriteTimeout
from ._flags import VALID_BACKENDS as VALID_BACKENDS
from ._flags import BackendDecision as BackendDecision
from ._flags import MigrateConfig as MigrateConfig
from ._flags import ServiceConfig as ServiceConfig
from ._flags import find_config as find_config
from ._flags import in_rollout as in_rollout
from ._flags import instance_id as instance_id
from ._flags import load_config as load_config
from ._flags import resolve_backend as resolve_backend
from ._flags import service_env_var as service_env_var
from ._net import Server as Server
from ._net import connect as connect
from ._net import connect_unix as connect_unix
from ._net import serve as serve
from ._net import serve_unix as serve_unix
from ._pool import ConnectionPool as ConnectionPool
from ._runtime import CANCELLED as CANCELLED
from ._runtime import Task as Task
from ._runtime import call_later as call_later
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
    "VALID_BACKENDS",
    "BackendDecision",
    "ConnectError",
    "ConnectTimeout",
    "Connection",
    "ConnectionClosedError",
    "ConnectionPool",
    "ConnectionState",
    "Event",
    "FlagError",
    "Lock",
    "MigrateConfig",
    "PeerClosedError",
    "Queue",
    "ReadLimitError",
    "ReadTimeout",
    "Server",
    "ServiceConfig",
    "ShimError",
    "ShimTimeout",
    "TLSError",
    "TLSTruncatedError",
    "Task",
    "WriteTimeout",
    "call_later",
    "connect",
    "connect_unix",
    "current_backend",
    "find_config",
    "gather",
    "in_rollout",
    "instance_id",
    "load_config",
    "monotonic",
    "resolve_backend",
    "run",
    "serve",
    "serve_unix",
    "service_env_var",
    "sleep",
    "spawn",
    "timeout",
    "wait_for",
]
