"""legacy backend: the shim's API on ``legacy.runtime``'s scheduler.

Theory of operation: connections are plain non-blocking sockets driven by the
scheduler's ``add_reader``/``add_writer`` (``_legacy_net``), feeding the same
neutral ``Connection`` the asyncio backend feeds. The reader stays registered
while the connection is idle, so the peer's FIN is seen (and ``closed()``
flips, ``on_close`` runs) without a pending read, as on asyncio.

Runtime calls map onto ``legacy.runtime``: ``sleep``, ``spawn`` and
``call_later`` directly; ``wait_for`` onto ``with_timeout`` with
``runtime.Timeout`` turned into a plain ``TimeoutError`` (cause kept);
``gather`` is written here with ``asyncio.gather``'s semantics (the first
failure propagates, the others keep running), since ``wait_all`` cancels them;
``timeout()`` cancels the current task (``runtime.current_task()``) at the
deadline and turns that cancellation into ``TimeoutError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from legacy import runtime

from .. import _diagnostics
from ._legacy_net import connect as connect
from ._legacy_net import connect_unix as connect_unix
from ._legacy_net import listen as listen
from ._legacy_net import listen_unix as listen_unix

__all__ = [
    "Timeout",
    "clock",
    "connect",
    "connect_unix",
    "gather",
    "listen",
    "listen_unix",
    "require_scheduler",
    "run",
    "sleep",
    "spawn",
    "wait_for",
]

sleep = runtime.sleep
spawn = runtime.spawn


def require_scheduler() -> runtime.Scheduler:
    """Return the running legacy scheduler.

    Raises ``RuntimeError`` (saying to use ``shims.run``) when none runs.
    """
    try:
        return runtime.get_scheduler()
    except RuntimeError:
        raise RuntimeError(
            "no shims backend is running in this thread; call this from code started by "
            "shims.run(main) (or from a running asyncio loop)"
        ) from None


clock = require_scheduler


async def gather(aws: Iterable[Awaitable[Any]], return_exceptions: bool) -> list[Any]:
    """``asyncio.gather`` semantics on the legacy scheduler."""
    sched = runtime.get_scheduler()
    futures: list[runtime.Future[Any]] = [
        aw if isinstance(aw, runtime.Future) else runtime.spawn(aw) for aw in aws
    ]
    if not futures:
        return []
    waiter: runtime.Future[runtime.Future[Any] | None] = sched.create_future()
    remaining = len(futures)

    def on_done(fut: runtime.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if waiter.done():
            return
        failed = fut.cancelled() or fut.exception() is not None
        if failed and not return_exceptions:
            waiter.set_result(fut)
        elif remaining == 0:
            waiter.set_result(None)

    for fut in futures:
        fut.add_done_callback(on_done)
    try:
        first_failed = await waiter
    except runtime.Cancelled:
        for fut in futures:
            fut.cancel()
        raise
    if first_failed is not None:
        first_failed.result()  # raises its exception (or Cancelled)
    results: list[Any] = []
    for fut in futures:
        if fut.cancelled():
            results.append(runtime.Cancelled("the awaitable was cancelled"))
        else:
            exc = fut.exception()
            results.append(exc if exc is not None else fut.result())
    return results


async def wait_for(aw: Awaitable[Any], seconds: float | None) -> Any:
    """``with_timeout`` with ``runtime.Timeout`` turned into the builtin ``TimeoutError``."""
    if seconds is None:
        return await aw
    try:
        return await runtime.with_timeout(seconds, aw)
    except runtime.Timeout as exc:
        raise TimeoutError(f"the operation did not finish within {seconds!r} s") from exc


class Timeout:
    """``async with shims.timeout(s):`` on the legacy scheduler."""

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._expired = False
        self._task: runtime.Task[Any] | None = None
        self._handle: runtime.Handle | None = None

    def _expire(self) -> None:
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    async def __aenter__(self) -> Timeout:
        if self._seconds is not None:
            sched = runtime.get_scheduler()
            self._task = runtime.current_task()
            if self._task is None:
                raise RuntimeError("shims.timeout() must be used inside a task")
            self._handle = sched.call_later(self._seconds, self._expire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._expired and isinstance(exc, runtime.Cancelled):
            raise TimeoutError(f"the block did not finish within {self._seconds!r} s") from exc

    def expired(self) -> bool:
        """Return True if the deadline passed."""
        return self._expired


def run(main: Awaitable[Any]) -> Any:
    """Run ``main`` on a new legacy scheduler, routing unretrieved task failures to diagnostics."""

    async def wrapper() -> Any:
        runtime.get_scheduler().set_exception_handler(_on_unhandled)
        return await main

    return runtime.run(wrapper)


def _on_unhandled(exc: BaseException, task: Any) -> None:
    where = f"task {task!r}" if task is not None else "a scheduled callback"
    _diagnostics.record_unhandled(exc, "unhandled exception in %s", where)


Callback = Callable[[], object]
