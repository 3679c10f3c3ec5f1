"""Tasks and the task-level API: ``run``, ``spawn``, ``sleep``, ``wait_all``, ``with_timeout``.

Theory of operation
-------------------
A ``Task`` drives one coroutine with ``send``/``throw``. The coroutine yields
either a pending ``Future`` (from ``Future.__await__``), to which the task adds
its ``_wakeup`` callback, or ``None`` (a bare yield: run again next turn).
When the future completes the task steps again and ``Future.__await__``
returns its result or raises its exception inside the coroutine.

``cancel()`` cancels the future the task waits on (so a cancelled inner
``Task`` is cancelled too, and the waiting task gets ``Cancelled`` raised at
its await point); if there is none it sets a flag and the next step throws
``Cancelled`` in. A coroutine may catch ``Cancelled`` and go on.

Generator coroutines (``@coroutine``) are wrapped: calling one returns a
native coroutine that drives the generator (``aw = gen.send(value)`` then
``value = await aw``), throwing exceptions, ``Cancelled`` included, back in.

A task that fails while nobody retrieves its exception (``result()``,
``exception()``, awaiting it) is reported to the scheduler's exception handler
when it is garbage collected or when ``run()`` ends, whichever comes first.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from types import GeneratorType
from typing import Any, ParamSpec, TypeVar

from . import _scheduler
from ._errors import Cancelled, Timeout
from ._scheduler import Future, Handle, Scheduler, get_scheduler, monotonic

__all__ = [
    "Task",
    "call_later",
    "coroutine",
    "run",
    "sleep",
    "spawn",
    "wait_all",
    "with_timeout",
]

T = TypeVar("T")
P = ParamSpec("P")


class Task(Future[T]):
    """A coroutine running on the scheduler; awaitable like a ``Future``."""

    __slots__ = ("_coro", "_must_cancel", "_waiter", "name")

    def __init__(self, coro: Coroutine[Any, Any, T], scheduler: Scheduler, name: str = "") -> None:
        super().__init__(scheduler)
        self._coro = coro
        self._waiter: Future[Any] | None = None
        self._must_cancel = False
        self.name = name or getattr(coro, "__qualname__", "task")
        scheduler._tasks.add(self)
        scheduler._ready.append(Handle(self._step, ()))

    def cancel(self) -> bool:
        """Request cancellation: ``Cancelled`` is raised at the task's await point.

        Returns False if the task is already done.
        """
        if self._state != 0:
            return False
        waiter = self._waiter
        if waiter is not None and waiter.cancel():
            return True
        self._must_cancel = True
        return True

    def _step(self, exc: BaseException | None = None) -> None:
        if self._state != 0:
            return
        if self._must_cancel:
            self._must_cancel = False
            exc = Cancelled(f"task {self.name!r} was cancelled")
        self._waiter = None
        try:
            yielded = self._coro.send(None) if exc is None else self._coro.throw(exc)
        except StopIteration as stop:
            if self._must_cancel:
                self._must_cancel = False
                super().cancel()
            else:
                super().set_result(stop.value)
            self._finish()
        except Cancelled:
            super().cancel()
            self._finish()
        except (KeyboardInterrupt, SystemExit) as error:
            super().set_exception(error)
            self._finish()
            raise
        except BaseException as error:
            super().set_exception(error)
            self._finish()
        else:
            if isinstance(yielded, Future):
                if yielded is self:
                    err = RuntimeError(f"task {self.name!r} awaited itself")
                    self._sched._ready.append(Handle(self._step, (err,)))  # type: ignore[union-attr]
                    return
                if yielded._state == 0:
                    yielded._callbacks.append(self._wakeup)
                else:
                    yielded.add_done_callback(self._wakeup)
                self._waiter = yielded
                if self._must_cancel and yielded.cancel():
                    self._must_cancel = False
            elif yielded is None:
                self._sched._ready.append(Handle(self._step, ()))  # type: ignore[union-attr]
            else:
                bad = TypeError(
                    f"task {self.name!r} yielded {yielded!r}; await a legacy Future, Task or "
                    "coroutine (asyncio futures do not work on the legacy runtime)"
                )
                self._sched._ready.append(Handle(self._step, (bad,)))  # type: ignore[union-attr]

    def _wakeup(self, _future: Future[Any]) -> None:
        self._step()

    def _finish(self) -> None:
        sched = self._sched
        assert sched is not None
        sched._tasks.discard(self)
        if self._log_exc:
            _failed.setdefault(sched, weakref.WeakSet()).add(self)

    def __del__(self) -> None:
        if self._log_exc and self._exception is not None and self._sched is not None:
            self._log_exc = False
            self._sched._report(self._exception, self)

    def __repr__(self) -> str:
        state = ("pending", "finished", "cancelled")[self._state]
        if self._state == 1 and self._exception is not None:
            state = f"failed {self._exception!r}"
        return f"<Task {self.name!r} {state}>"


# Failed tasks whose exception may still be unretrieved, per scheduler (for run()'s final report).
_failed: weakref.WeakKeyDictionary[Scheduler, weakref.WeakSet[Task[Any]]] = (
    weakref.WeakKeyDictionary()
)


def coroutine(fn: Callable[P, Any]) -> Callable[P, Coroutine[Any, Any, Any]]:
    """Turn a generator function (``x = yield aw``; ``return x``) into a coroutine function.

    Calling the result returns a native coroutine, so it can be awaited from
    ``async def``, passed to ``spawn``/``run``, or yielded from another
    generator. The generator may yield a ``Future``/``Task``, a coroutine, a
    list or tuple of awaitables (waited with ``wait_all``), or ``None`` (yield
    to other tasks once). A plain function is wrapped too; its return value
    becomes the coroutine's result.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        result = fn(*args, **kwargs)
        if isinstance(result, GeneratorType):
            return await _drive(result)
        return result

    wrapper.__legacy_coroutine__ = True  # type: ignore[attr-defined]
    return wrapper


async def _drive(gen: Generator[Any, Any, T]) -> T:
    """Run a generator coroutine: await what it yields, send results and throw errors back."""
    try:
        yielded = gen.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    while True:
        try:
            value = await _awaitable(yielded)
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:
            try:
                yielded = gen.throw(exc)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
        else:
            try:
                yielded = gen.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]


class _YieldOnce:
    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield None


def _awaitable(obj: Any) -> Awaitable[Any]:
    if isinstance(obj, Future) or inspect.isawaitable(obj):
        return obj
    if obj is None:
        return _YieldOnce()
    if isinstance(obj, GeneratorType):
        return _drive(obj)
    if isinstance(obj, list | tuple):
        return wait_all(obj)
    raise TypeError(f"a legacy coroutine yielded {obj!r}; yield a Future, Task or coroutine")


def _as_coroutine(obj: Any) -> Coroutine[Any, Any, Any]:
    if inspect.iscoroutine(obj):
        return obj
    if isinstance(obj, GeneratorType):
        return _drive(obj)
    if inspect.isawaitable(obj):

        async def await_it() -> Any:
            return await obj

        return await_it()
    raise TypeError(f"expected a coroutine, a generator or an awaitable, got {obj!r}")


def _ensure_future(obj: Any, sched: Scheduler) -> Future[Any]:
    if isinstance(obj, Future):
        return obj
    return Task(_as_coroutine(obj), sched)


def run(main: Any, *args: Any) -> Any:
    """Run ``main`` (a coroutine function called with ``args``, or a coroutine) to completion.

    Returns its result or re-raises its exception. On the way out, tasks still
    running are cancelled and given the chance to finish, connections and
    listeners still open are closed, and failed tasks nobody retrieved are
    reported. Raises ``RuntimeError`` when called inside a running ``run()``.
    """
    if _scheduler._current is not None:
        raise RuntimeError(
            "runtime.run() was called while a scheduler is already running; "
            "await the coroutine (or spawn it) instead of nesting run()"
        )
    if callable(main) and not isinstance(main, Future):
        main = main(*args)
    elif args:
        raise TypeError(f"run() got arguments {args!r} but {main!r} is not callable")
    coro = _as_coroutine(main)
    sched = Scheduler()
    _scheduler._set_current(sched)
    try:
        task: Task[Any] = Task(coro, sched, name="main")
        while task._state == 0:
            sched._run_once()
        return task.result()
    finally:
        try:
            _shutdown(sched)
        finally:
            _scheduler._set_current(None)


def _shutdown(sched: Scheduler) -> None:
    for _ in range(100):
        if not sched._tasks:
            break
        for task in list(sched._tasks):
            task.cancel()
        for _ in range(10):
            if not sched._tasks or not (sched._ready or sched._fds or sched._timers):
                break
            sched._run_once()
    for resource in list(sched._resources):
        resource.close()
    sched._selector.close()
    sched._closed = True
    for task in list(_failed.pop(sched, ())):
        if task._log_exc and task._exception is not None:
            task._log_exc = False
            sched._report(task._exception, task)


def spawn(coro: Any, *, name: str = "") -> Task[Any]:
    """Start ``coro`` (a coroutine or generator coroutine) as a task; return the ``Task``.

    Raises ``RuntimeError`` outside ``run()``.
    """
    try:
        sched = get_scheduler()
    except RuntimeError:
        if inspect.iscoroutine(coro):
            coro.close()  # no "never awaited" warning on top of the real error
        raise
    return Task(_as_coroutine(coro), sched, name=name)


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


async def with_timeout(seconds: float, aw: Any) -> Any:
    """Await ``aw`` for at most ``seconds``; on expiry cancel it and raise ``Timeout``.

    The inner work has finished (its ``finally`` blocks ran) by the time
    ``Timeout`` is raised. Cancelling the caller cancels the inner work.
    """
    sched = get_scheduler()
    inner = _ensure_future(aw, sched)
    if inner._state != 0:
        return inner.result()
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
