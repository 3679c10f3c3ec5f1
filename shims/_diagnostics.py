"""The process-wide registry of live connections and servers, and the unhandled errors.

- ``live_connections()``: every shim ``Connection`` created in this process
  that still holds its socket (state not ``CLOSED``). Held through weak
  references, so a collected connection vanishes from the list.
- servers: every ``shims.Server`` still listening, so ``shims.run`` can close
  what its main left open (``close_leftovers``).
- ``UNHANDLED``: exceptions nobody retrieved: a spawned task that failed with
  nobody awaiting it (the ``on_unhandled`` callback ``shims.run`` gives every
  backend), a server handler that raised, an ``on_close`` callback that
  raised. Tests clear it themselves.

Public through ``shims.testing`` (``live_connections``, ``UNHANDLED``,
``record_unhandled``). This module imports nothing of ``shims``: the runtime,
the connection and the server all report here, so none of them needs another.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = [
    "UNHANDLED",
    "close_leftovers",
    "live_connections",
    "record_unhandled",
    "track",
    "track_server",
    "untrack",
]

logger = logging.getLogger("shims")

UNHANDLED: list[BaseException] = []


class _Closable(Protocol):
    _clock: object

    def close(self) -> None: ...


_LIVE: weakref.WeakSet[Connection] = weakref.WeakSet()
_SERVERS: weakref.WeakSet[Any] = weakref.WeakSet()


def live_connections() -> list[Connection]:
    """Return every shim connection that has not reached ``CLOSED`` yet (a leak if a test ended)."""
    return list(_LIVE)


def track(conn: Connection) -> None:
    """Start tracking ``conn`` (called once by the connection's constructor)."""
    _LIVE.add(conn)


def untrack(conn: Connection) -> None:
    """Stop tracking ``conn`` (called when it reaches ``CLOSED``)."""
    _LIVE.discard(conn)


def track_server(server: _Closable) -> None:
    """Remember a listening ``shims.Server`` until it is collected."""
    _SERVERS.add(server)


def close_leftovers(clock: object) -> None:
    """Close the servers and connections of the run whose clock is ``clock`` (end of ``shims.run``)."""
    for server in list(_SERVERS):
        if server._clock is clock:
            server.close()
    for conn in list(_LIVE):
        if conn._clock is clock:
            conn.close()


def record_unhandled(exc: BaseException, what: str = "unhandled exception", *args: Any) -> None:
    """Append ``exc`` to ``UNHANDLED`` and log it on the ``shims`` logger with ``what % args``."""
    UNHANDLED.append(exc)
    logger.error(what, *args, exc_info=(type(exc), exc, exc.__traceback__))
