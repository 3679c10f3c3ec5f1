"""Runtime guardrails: the legacy tripwire and fork safety.

Theory of operation:

- Tripwire. Once ``shims.run`` has resolved this process's service to a
  backend other than ``legacy``, entering the legacy runtime (a leftover
  ``runtime.run(main)`` entry point, a library still starting its own
  scheduler) means part of the service did not flip. Every legacy scheduler
  is created through ``legacy.runtime.Scheduler``, so its constructor is
  wrapped, once, when such a process starts: the entry is logged on the
  ``shims`` logger and counted (``shims_legacy_entered_total``); with
  ``MIGRATE_STRICT_BACKEND=1`` it raises ``ShimError`` instead of letting the
  scheduler start. ``legacy`` itself imports nothing of ours.
- Fork safety (as redis-py does it). A child process must never read, write
  or close its parent's sockets: a byte read by the child is lost to the
  parent, a close or shutdown from the child can end the parent's
  connection, and an inherited event loop's selector is shared with the
  parent. Right after ``os.fork()`` every live shim connection is marked
  closed in the child without touching its socket (``CLOSED``,
  ``close_reason == "local"``; any call raises ``ConnectionClosedError``),
  and each pool remembers the pid that filled it: a pool used in another
  process forgets its inherited connections and opens new ones. The
  inherited objects are kept referenced so that no finalizer closes them.
  The parent's running scheduler is forgotten in the child (asyncio does
  that by pid), so the child can start its own ``shims.run``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from . import _diagnostics, _telemetry, _telemetry_state
from ._errors import ShimError
from ._state import ConnectionState

__all__ = ["STRICT_ENV", "arm_tripwire", "forget_inherited"]

logger = logging.getLogger("shims")

STRICT_ENV = "MIGRATE_STRICT_BACKEND"
_INHERITED: list[Any] = []  # a child's copies of its parent's connections, never closed
_armed = False


def arm_tripwire(service: str | None, backend: str) -> None:
    """Watch for the legacy runtime being entered once ``service`` runs on another backend."""
    global _armed
    if _armed or service is None or backend == "legacy":
        return
    try:
        from legacy import runtime
    except ImportError:  # pragma: no cover - legacy ships with the toolkit
        return
    scheduler = runtime.Scheduler
    original = scheduler.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _legacy_entered()
        original(self, *args, **kwargs)

    scheduler.__init__ = __init__  # type: ignore[method-assign]
    _armed = True


def _legacy_entered() -> None:
    state = _telemetry_state.S
    if state.backend == "legacy" or state.service == "-":
        return  # this process's latest shims.run chose legacy: nothing is left behind
    message = (
        f"legacy.runtime entered in service {state.service!r}, whose backend resolved to "
        f"{state.backend!r} ({state.decided_by}); convert this entry point "
        "(migrate codemod legacy-to-shim) or set the service's flag back to legacy"
    )
    _telemetry.legacy_entered()
    if os.environ.get(STRICT_ENV, "").strip() == "1":
        raise ShimError(f"{message} ({STRICT_ENV}=1 forbids it)")
    logger.error("%s", message)


def _after_fork_in_child() -> None:
    # asyncio forgets a running loop in a child by pid; the legacy scheduler's per-thread
    # marker must be forgotten too, or the child could never start its own shims.run().
    scheduler = sys.modules.get("legacy._scheduler")
    if scheduler is not None:
        scheduler._set_current(None)
    runtime = sys.modules.get("shims._runtime")
    if runtime is not None:
        runtime._local.sel = None  # the backend shims.run selected in the parent
    for conn in _diagnostics.live_connections():
        conn._state = ConnectionState.CLOSED  # no transition: nothing may touch the socket
        conn._closed_locally = True
        conn.close_reason = conn.close_reason or "local"
        conn._callbacks = []
        _diagnostics.untrack(conn)
        _INHERITED.append(conn)


def forget_inherited(objects: list[Any]) -> None:
    """Keep a child's copies of its parent's connections (or slots) alive, untouched."""
    _INHERITED.extend(objects)


os.register_at_fork(after_in_child=_after_fork_in_child)
