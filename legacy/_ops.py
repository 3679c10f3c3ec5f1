"""Task-level operations: ``call_later``, ``sleep``, ``wait_all``, ``with_timeout``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ._coroutines import _as_coroutine, _YieldOnce
from ._errors import Cancelled, Timeout
from ._futures import Future, Handle
from ._scheduler import Scheduler, get_scheduler, monotonic
from ._tasks import Task

__all__ = ["call_later", "sleep", "wait_all", "with_timeout"]

T = TypeVar("T")


def _ensure_future(obj: Any, sched: Scheduler) -> Future[Any]:
    if isinstance(obj, Future):
        return obj
    return Task(_as_coroutine(obj), sched)


def call_later(delay: float, fn: Callable[..., object], *args: Any) -> Handle:
    """Call ``fn(*args)`` after ``delay`` seconds; the returned handle has ``cancel()``."""
    return get_scheduler().call_later(delay, fn, *args)


def _resolve(fut: Future[Any], value: Any) -> None:
    if fut._state == 0:
        fut.set_result(value)


async def sleep(seconds: float, result: T | None = None) -> T | None:
    """Suspend the calling task for ``seconds`` (0: just let other tasks run)."""
    if seconds <= 0:
        await _YieldOnce()
        return result
    sched = get_scheduler()
    fut: Future[T | None] = Future(sched)
    handle = sched.call_at(monotonic() + seconds, _resolve, fut, result)
    try:
        return await fut
    finally:
        handle.cancel()


async def wait_all(aws: Iterable[Any]) -> list[Any]:
    """Wait for every awaitable; return their results in the order given.

    The first failure (in completion order) propagates and the others are
    cancelled (not waited for). Cancelling the caller cancels them all.
    """
    sched = get_scheduler()
    futures = [_ensure_future(aw, sched) for aw in aws]
    if not futures:
        return []
    waiter: Future[Future[Any] | None] = Future(sched)
    remaining = len(futures)

    def on_done(fut: Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        failed = fut.cancelled() or fut.exception() is not None
        if waiter._state == 0 and (failed or remaining == 0):
            waiter.set_result(fut if failed else None)

    for fut in futures:
        fut.add_done_callback(on_done)
    try:
        first_failed = await waiter
    except Cancelled:
        for fut in futures:
            fut.cancel()
        raise
    if first_failed is not None:
        for fut in futures:
            fut.cancel()
        first_failed.result()
    return [fut.result() for fut in futures]


async def with_timeout(seconds: float | None, aw: Any) -> Any:
    """Await ``aw`` for at most ``seconds`` (None: no limit); on expiry cancel it, raise ``Timeout``.

    The inner work has finished (its ``finally`` blocks ran) by the time
    ``Timeout`` is raised. Cancelling the caller cancels the inner work.
    """
    sched = get_scheduler()
    inner = _ensure_future(aw, sched)
    if inner._state != 0 or seconds is None:
        return await inner
    waiter: Future[None] = Future(sched)

    def on_done(_fut: Future[Any]) -> None:
        _resolve(waiter, None)

    inner.add_done_callback(on_done)
    timer = sched.call_later(seconds, _resolve, waiter, None)
    try:
        await waiter
    except Cancelled:
        inner.cancel()
        raise
    finally:
        timer.cancel()
    if inner._state != 0:
        return inner.result()
    inner.cancel()
    if isinstance(inner, Task):
        done: Future[None] = Future(sched)
        inner.add_done_callback(lambda _fut: _resolve(done, None))
        await done
    if inner.cancelled() or inner._state == 0:
        raise Timeout(f"operation did not finish within {seconds!r} seconds and was cancelled")
    return inner.result()
