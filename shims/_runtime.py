"""The runtime half of the shim: ``run`` and the calls a task makes.

Theory of operation: the backend of a call is the one running the calling
task. An asyncio (or uvloop) loop running in this thread wins; that check is
one C call, so the asyncio path adds next to nothing to ``asyncio.sleep`` and
friends, and ``shims`` works inside any running asyncio loop (pytest-asyncio,
an application's own ``asyncio.run``). Otherwise the legacy scheduler of the
running ``legacy.runtime.run()`` is used, so services half-way through the
migration can call ``shims`` from legacy code too.

Cancellation is delivered the backend's native way at the await point
(``asyncio.CancelledError`` or ``legacy.runtime.Cancelled``, both
``BaseException``), because rewriting it would turn a cancelled legacy task
into a failed one. Portable code uses ``finally``, ``task.cancelled()``, or
``except shims.CANCELLED:``. Timeouts are the builtin ``TimeoutError`` on
every backend.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from asyncio.events import _get_running_loop
from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any, Protocol, TypeVar

from . import _diagnostics, _guards, _telemetry
from ._backends import _asyncio
from ._backends._base import Clock, Handle

__all__ = [
    "CANCELLED",
    "Task",
    "call_later",
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
T_co = TypeVar("T_co", covariant=True)
logger = logging.getLogger("shims")

monotonic = time.monotonic
_legacy_mod: ModuleType | None = None
_asyncio_tasks: set[asyncio.Task[Any]] = set()


def _cancelled_types() -> tuple[type[BaseException], ...]:
    try:
        from legacy.runtime import Cancelled
    except ImportError:  # pragma: no cover - legacy ships with the toolkit
        return (asyncio.CancelledError,)
    return (asyncio.CancelledError, Cancelled)


#: The exception types a cancelled task sees at its await point, one per backend.
CANCELLED: tuple[type[BaseException], ...] = _cancelled_types()


class Task(Protocol[T_co]):
    """What ``spawn`` returns: an awaitable task (``asyncio.Task`` or the legacy ``Task``)."""

    def cancel(self) -> bool: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self) -> T_co: ...
    def exception(self) -> BaseException | None: ...
    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...
    def __await__(self) -> Generator[Any, None, T_co]: ...


def _legacy() -> ModuleType:
    """Return the legacy backend module if a legacy scheduler runs this thread's tasks."""
    global _legacy_mod
    if _legacy_mod is None:
        from ._backends import _legacy

        _legacy_mod = _legacy
    _legacy_mod.require_scheduler()
    return _legacy_mod


def current_backend() -> str:
    """Return ``"asyncio"``, ``"uvloop"`` or ``"legacy"``: the backend running the caller.

    Raises ``RuntimeError`` when no backend runs (outside ``shims.run``).
    """
    loop = _get_running_loop()
    if loop is not None:
        return _asyncio.backend_name(loop)
    _legacy()
    return "legacy"


def clock() -> Clock:
    """Return the futures-and-timers object of the backend running the caller."""
    loop = _get_running_loop()
    if loop is not None:
        return loop
    return _legacy().clock()  # type: ignore[no-any-return]


def sleep(seconds: float) -> Awaitable[None]:
    """Suspend the calling task for ``seconds`` (0: let other tasks run once)."""
    if _get_running_loop() is not None:
        return asyncio.sleep(seconds)
    return _legacy().sleep(seconds)  # type: ignore[no-any-return]


def spawn(coro: Awaitable[T]) -> Task[T]:
    """Start ``coro`` as a task and return it (awaitable; ``cancel()``, ``done()``, ``result()``).

    The task is kept alive until it finishes even if the caller drops it.
    A task that fails with nobody retrieving its result lands in
    ``shims._diagnostics.UNHANDLED`` under ``shims.run``.
    """
    loop = _get_running_loop()
    if loop is not None:
        task = asyncio.ensure_future(coro, loop=loop)
        _asyncio_tasks.add(task)
        task.add_done_callback(_asyncio_tasks.discard)
        return task
    return _legacy().spawn(coro)  # type: ignore[no-any-return]


def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> Awaitable[list[Any]]:
    """Wait for every awaitable and return their results in order (``asyncio.gather`` semantics).

    The first failure propagates and the others keep running (unless
    ``return_exceptions``, which puts exceptions in the result list).
    Cancelling the caller cancels them all.
    """
    if _get_running_loop() is not None:
        return asyncio.gather(*aws, return_exceptions=return_exceptions)
    return _legacy().gather(aws, return_exceptions)  # type: ignore[no-any-return]


def wait_for(aw: Awaitable[T], seconds: float | None) -> Awaitable[T]:
    """Await ``aw`` for at most ``seconds``; on expiry cancel it and raise ``TimeoutError``."""
    if _get_running_loop() is not None:
        return asyncio.wait_for(aw, seconds)
    return _legacy().wait_for(aw, seconds)  # type: ignore[no-any-return]


def timeout(seconds: float | None) -> AbstractAsyncContextManager[Any]:
    """Return ``async with shims.timeout(s):``: cancel the block at the deadline, raise ``TimeoutError``."""
    if _get_running_loop() is not None:
        return asyncio.timeout(seconds)
    return _legacy().Timeout(seconds)  # type: ignore[no-any-return]


def call_later(seconds: float, fn: Callable[..., object], *args: Any) -> Handle:
    """Call ``fn(*args)`` after ``seconds``; the returned handle has ``cancel()``."""
    loop = _get_running_loop()
    if loop is not None:
        return loop.call_later(seconds, fn, *args)
    return _legacy().clock().call_later(seconds, fn, *args)  # type: ignore[no-any-return]


def _resolve(service: str | None, backend: str | None) -> tuple[str, str]:
    from ._flags import resolve_backend

    decision = resolve_backend(service, backend=backend)
    return decision.backend, decision.source


def run(
    main: Callable[..., Awaitable[T]] | Awaitable[T],
    *args: Any,
    service: str | None = None,
    backend: str | None = None,
) -> T:
    """Run ``main(*args)`` to completion on the backend chosen for ``service``; return its result.

    The backend comes from ``backend=``, else the per-service flag (see
    ``shims.resolve_backend``); the decision is logged once on the ``shims``
    logger. Connections and servers still open when ``main`` returns are
    closed on the way out. Raises ``FlagError`` for a bad flag and
    ``RuntimeError`` when called from inside a running backend.
    """
    if _get_running_loop() is not None or ("legacy.runtime" in sys.modules and _legacy_running()):
        if not callable(main) and hasattr(main, "close"):
            main.close()
        raise RuntimeError(
            "shims.run() was called from inside a running backend; await the coroutine "
            "(or shims.spawn it) instead of nesting run()"
        )
    try:
        name, source = _resolve(service, backend)
    except BaseException:
        if not callable(main) and hasattr(main, "close"):
            main.close()  # no "never awaited" warning on top of the flag error
        raise
    logger.info("backend=%s service=%s source=%s", name, service or "-", source)
    _telemetry.configure(service, name, source)
    _guards.arm_tripwire(service, name)
    if name == "legacy":
        from ._backends import _legacy as legacy_backend

        return legacy_backend.run(_main_coro(main, args))  # type: ignore[no-any-return]
    return _asyncio.run(  # type: ignore[no-any-return]
        _main_coro(main, args),
        use_uvloop=name == "uvloop",
        on_unhandled=_diagnostics.note_unhandled,
    )


def _legacy_running() -> bool:
    from legacy import runtime

    try:
        runtime.get_scheduler()
    except RuntimeError:
        return False
    return True


async def _main_coro(main: Callable[..., Awaitable[T]] | Awaitable[T], args: tuple[Any, ...]) -> T:
    from ._net import close_leftovers

    marker = clock()
    monitor = _telemetry.loop_monitor(marker, current_backend())
    try:
        if callable(main):
            return await main(*args)
        if args:
            raise TypeError(f"shims.run() got arguments {args!r} but {main!r} is not callable")
        return await main
    finally:
        if monitor is not None:
            monitor.cancel()
        close_leftovers(marker)
