"""Tasks: ``Task``, ``run``, ``spawn``, ``current_task``.

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

A task that fails while nobody retrieves its exception (``result()``,
``exception()``, awaiting it) is reported to the scheduler's exception handler
when it is garbage collected or when ``run()`` ends, whichever comes first.
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine
from typing import Any, ParamSpec, TypeVar

from . import _scheduler
from ._coroutines import _as_coroutine
from ._errors import Cancelled
from ._futures import Future, Handle
from ._scheduler import Scheduler, get_scheduler, logger, monotonic

__all__ = ["Task", "current_task", "run", "spawn"]

_SHUTDOWN_GRACE = 5.0  # seconds run() gives cancelled leftover tasks to finish

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
        sched = self._sched
        sched._current_task = self  # type: ignore[union-attr]
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
        finally:
            sched._current_task = None  # type: ignore[union-attr]

    def _wakeup(self, _future: Future[Any]) -> None:
        self._step()

    def _finish(self) -> None:
        sched = self._sched
        assert sched is not None
        sched._tasks.discard(self)
        if self._log_exc:
            sched._failed.add(self)

    def __del__(self) -> None:
        if self._log_exc and self._exception is not None and self._sched is not None:
            self._log_exc = False
            self._sched._report(self._exception, self)

    def __repr__(self) -> str:
        state = ("pending", "finished", "cancelled")[self._state]
        if self._state == 1 and self._exception is not None:
            state = f"failed {self._exception!r}"
        return f"<Task {self.name!r} {state}>"


def run(main: Any, *args: Any) -> Any:
    """Run ``main`` (a coroutine function called with ``args``, or a coroutine) to completion.

    Returns its result or re-raises its exception. On the way out, tasks still
    running are cancelled and given the chance to finish, connections and
    listeners still open are closed, and failed tasks nobody retrieved are
    reported. Raises ``RuntimeError`` when called inside a running ``run()``.
    """
    if _scheduler._current.scheduler is not None:
        raise RuntimeError(
            "runtime.run() was called while a scheduler is already running in this thread; "
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
    """Cancel leftover tasks and let them finish, for at most ``_SHUTDOWN_GRACE`` seconds."""
    deadline = monotonic() + _SHUTDOWN_GRACE
    while sched._tasks and monotonic() < deadline:
        for task in list(sched._tasks):
            task.cancel()
        for _ in range(10):
            left = deadline - monotonic()
            if not sched._tasks or left <= 0 or not (sched._ready or sched._fds or sched._timers):
                break
            sched._run_once(max_wait=left)
        if sched._tasks and not (sched._ready or sched._fds or sched._timers):
            break  # what is left waits on something nothing can complete
    if sched._tasks:
        names = ", ".join(sorted(repr(t) for t in sched._tasks))
        logger.error("run() is returning, but these tasks did not finish when cancelled: %s", names)
    for resource in list(sched._resources):
        resource.close()
    sched._close()
    for task in list(sched._failed):
        if task._log_exc and task._exception is not None:
            task._log_exc = False
            sched._report(task._exception, task)


def current_task() -> Task[Any] | None:
    """Return the task running the caller (None in a plain callback).

    Raises ``RuntimeError`` outside ``run()``.
    """
    return get_scheduler()._current_task


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
