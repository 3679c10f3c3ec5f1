"""Process-wide diagnostics the parity plugin reads at test teardown.

- ``live_connections()``: every shim ``Connection`` created in this process
  that still holds its socket (state not ``CLOSED``). Held through weak
  references, so a collected connection vanishes from the list.
- ``UNHANDLED``: exceptions nobody retrieved: a spawned task that failed with
  nobody awaiting it (asyncio: the loop exception handler ``shims.run``
  installs; legacy: the scheduler's exception handler), a server handler that
  raised, an ``on_close`` callback that raised. Tests clear it themselves.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from . import _telemetry

if TYPE_CHECKING:
    from ._connection import Connection
    from ._connection_core import ConnectionCore

__all__ = ["UNHANDLED", "live_connections", "note_unhandled", "record_unhandled"]

logger = logging.getLogger("shims")

UNHANDLED: list[BaseException] = []

_LIVE: weakref.WeakSet[ConnectionCore] = weakref.WeakSet()


def live_connections() -> list[Connection]:
    """Return every shim connection that has not reached ``CLOSED`` yet (a leak if a test ended)."""
    return list(_LIVE)  # type: ignore[arg-type]  # every ConnectionCore is a Connection


def track(conn: ConnectionCore) -> None:
    """Start tracking ``conn`` (called once by the connection's constructor)."""
    _LIVE.add(conn)


def untrack(conn: ConnectionCore) -> None:
    """Stop tracking ``conn`` (called when it reaches ``CLOSED``)."""
    _LIVE.discard(conn)


def note_unhandled(exc: BaseException) -> None:
    """Append ``exc`` to ``UNHANDLED`` and count it (``shims_unhandled_errors_total``)."""
    UNHANDLED.append(exc)
    _telemetry.unhandled(exc)


def record_unhandled(exc: BaseException, what: str, *args: Any) -> None:
    """Note ``exc`` (``note_unhandled``) and log it on the ``shims`` logger with ``what % args``."""
    note_unhandled(exc)
    logger.error(what, *args, exc_info=(type(exc), exc, exc.__traceback__))
