"""The runtime half of the shim: ``run`` and the calls a task makes, dispatched to a backend.

Theory of operation: ``run`` resolves the backend name (the per-service
flag), takes the object registered under it (``shims.backends``) and hands it
the main coroutine; the first thing that coroutine does, on the thread the
backend runs it on, is bind ``(name, backend)`` to that thread. Every call a
task makes (``sleep``, ``spawn``, ``call_later``...) reads that binding (one
thread-local attribute) and calls the backend object: no branch per backend.
Code that runs on a scheduler ``shims.run`` did not start (pytest-asyncio, an
application's own ``asyncio.run``, a bare ``legacy.runtime.run``) finds no
binding; then the registered backends are asked which one is ``running()``
on this thread, an asyncio-based one for any other running asyncio loop.

Cancellation is delivered the backend's native way at the await point
(``asyncio.CancelledError``, ``legacy.runtime.Cancelled``...; all are in
``shims.CANCELLED``), because rewriting it would turn a cancelled task into a
failed one. Portable code uses ``finally``, ``task.cancelled()``, or
``except shims.CANCELLED:``. Timeouts are the builtin ``TimeoutError`` on
every backend.
"""

from __future__ import annotations

import logging
import threading
import time
from asyncio.events import _get_running_loop
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from . import _diagnostics, _guards, _registry, _telemetry
from ._contract import Backend, Clock, Handle, Task
from .config import resolve_backend

__all__ = [
    "Task",
    "call_later",
    "cancelled_types",
    "clock",
    "current_backend",
    "gather",
    "monotonic",
    "run",
    "sleep",
    "spawn",
    "timeout",
    "wait_for",
]

T = TypeVar("T")
logger = logging.getLogger("shims")

monotonic = time.monotonic
Selected = tuple[str, Backend]
_local = threading.local()


def _selected() -> Selected:
    sel: Selected | None = getattr(_local, "sel", None)
    if sel is not None:
        return sel
    found = _running_here()
    if found is None:
        raise RuntimeError(
            "no shims backend is running in this thread; call this from code started by "
            "shims.run(main) (or from a running asyncio loop or Twisted reactor)"
        )
    return found


def _running_here() -> Selected | None:
    """Return the backend running this thread though ``shims.run`` did not start it."""
    loop_runs = _get_running_loop() is not None
    fallback: Selected | None = None
    for name in _registry.names(available=False):
        backend = _registry.get(name)
        if loop_runs != backend.asyncio_based:
            continue  # a running asyncio loop is never a non-asyncio backend's, and vice versa
        if backend.running():
            return name, backend
        if fallback is None and loop_runs:
            fallback = name, backend  # an asyncio loop of a class nobody registered
    return fallback


def cancelled_types() -> tuple[type[BaseException], ...]:
    """Return the exception types a cancelled task sees on the bundled backends.

    A backend's ``cancelled`` must be one of them or a subclass (so that
    ``except shims.CANCELLED:`` stays portable): Twisted's, for instance,
    is a subclass of ``asyncio.CancelledError``.
    """
    return tuple(dict.fromkeys(b.cancelled for b in _registry.bundled()))


def current_backend() -> str:
    """Return the name of the backend running the caller (the name it was selected by).

    Raises ``RuntimeError`` when no backend runs (outside ``shims.run``).
    """
    return _selected()[0]


def clock() -> Clock:
    """Return the futures-and-timers object of the backend running the caller."""
    return _selected()[1].clock()


def sleep(seconds: float) -> Awaitable[None]:
    """Suspend the calling task for ``seconds`` (0: let other tasks run once)."""
    return _selected()[1].sleep(seconds)


def spawn(coro: Coroutine[Any, Any, T]) -> Task[T]:
    """Start ``coro`` as a task and return it (awaitable; ``cancel()``, ``done()``, ``result()``).

    The task is kept alive until it finishes even if the caller drops it.
    A task that fails with nobody retrieving its result lands in
    ``shims.testing.UNHANDLED`` under ``shims.run``.
    """
    return _selected()[1].spawn(coro)


def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> Awaitable[list[Any]]:
    """Wait for every awaitable and return their results in order (``asyncio.gather`` semantics).

    The first failure propagates and the others keep running (unless
    ``return_exceptions``, which puts exceptions in the result list).
    Cancelling the caller cancels them all.
    """
    return _selected()[1].gather(aws, return_exceptions)


def wait_for(aw: Awaitable[T], seconds: float | None) -> Awaitable[T]:
    """Await ``aw`` for at most ``seconds``; on expiry cancel it and raise ``TimeoutError``."""
    return _selected()[1].wait_for(aw, seconds)


def timeout(seconds: float | None) -> AbstractAsyncContextManager[Any]:
    """Return ``async with shims.timeout(s):``: cancel the block at the deadline, raise ``TimeoutError``."""
    return _selected()[1].timeout(seconds)


def call_later(seconds: float, fn: Callable[..., object], *args: Any) -> Handle:
    """Call ``fn(*args)`` after ``seconds``; the returned handle has ``cancel()``."""
    return _selected()[1].clock().call_later(seconds, fn, *args)


def run(
    main: Callable[..., Awaitable[T]] | Awaitable[T],
    *args: Any,
    service: str | None = None,
    backend: str | None = None,
) -> T:
    """Run ``main(*args)`` to completion on the backend chosen for ``service``; return its result.

    The backend comes from ``backend=``, else the per-service flag (see
    ``shims.config.resolve_backend``); the decision is logged once on the
    ``shims`` logger. Connections and servers still open when ``main``
    returns are closed on the way out. Raises ``FlagError`` for a bad flag
    (an unknown backend, a missing package) and ``RuntimeError`` when called
    from inside a running backend.
    """
    try:
        if getattr(_local, "sel", None) is not None or _running_here() is not None:
            raise RuntimeError(
                "shims.run() was called from inside a running backend; await the coroutine "
                "(or shims.spawn it) instead of nesting run()"
            )
        decision = resolve_backend(service, backend=backend)
        chosen = _registry.get(decision.backend)
    except BaseException:
        if not callable(main) and hasattr(main, "close"):
            main.close()  # no "never awaited" warning on top of the error
        raise
    logger.info(
        "backend=%s service=%s source=%s", decision.backend, service or "-", decision.source
    )
    _telemetry.configure(service, decision.backend, decision.source)
    _guards.arm_tripwire(service, decision.backend)
    try:
        return chosen.run(
            _main_coro(main, args, (decision.backend, chosen)),
            on_unhandled=_diagnostics.note_unhandled,
        )
    finally:
        _local.sel = None  # backends that run main on this very thread leave no binding behind


async def _main_coro(
    main: Callable[..., Awaitable[T]] | Awaitable[T], args: tuple[Any, ...], selected: Selected
) -> T:
    _local.sel = selected
    marker = selected[1].clock()
    monitor = _telemetry.loop_monitor(marker, selected[0])
    try:
        if callable(main):
            return await main(*args)
        if args:
            raise TypeError(f"shims.run() got arguments {args!r} but {main!r} is not callable")
        return await main
    finally:
        if monitor is not None:
            monitor.cancel()
        _diagnostics.close_leftovers(marker)
