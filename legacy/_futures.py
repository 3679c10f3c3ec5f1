"""``Future`` (a result that arrives later) and ``Handle`` (a scheduled callback).

A ``Future`` completes once; its done callbacks are then scheduled on its
scheduler's ready queue as ``fn(future)``, never called synchronously from
``set_result``. Awaiting a pending ``Future`` yields the future itself to the
``Task`` driving the coroutine, which resumes when it completes; ``__await__``
then returns the result or raises the exception (``Cancelled`` if cancelled).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._errors import Cancelled

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = ["Future", "Handle"]

T = TypeVar("T")

_PENDING, _FINISHED, _CANCELLED = 0, 1, 2


class Handle:
    """A scheduled callback; ``cancel()`` stops it from running if it has not run yet."""

    __slots__ = ("_args", "_cancelled", "_fn", "_sched", "when")

    def __init__(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._cancelled = False
        self._sched: Scheduler | None = None
        self.when = 0.0

    def cancel(self) -> None:
        """Stop the callback from running; idempotent, harmless after it ran."""
        if not self._cancelled:
            self._cancelled = True
            if self._sched is not None:
                self._sched._timer_cancelled()

    def cancelled(self) -> bool:
        """Return True if ``cancel()`` was called."""
        return self._cancelled

    def __repr__(self) -> str:
        state = " cancelled" if self._cancelled else ""
        return f"<Handle {getattr(self._fn, '__qualname__', self._fn)!s}{state}>"


class Future(Generic[T]):
    """A result that arrives later; awaitable from ``async def`` and ``@coroutine`` generators.

    Done callbacks are called as ``fn(future)`` through the scheduler, never
    synchronously from ``set_result``.
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_exception",
        "_log_exc",
        "_result",
        "_sched",
        "_state",
    )

    def __init__(self, scheduler: Scheduler | None = None) -> None:
        self._sched = scheduler if scheduler is not None else _sched_mod._current.scheduler
        self._state = _PENDING
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Future[T]], object]] = []
        self._log_exc = False

    def done(self) -> bool:
        """Return True once a result, an exception or a cancellation is set."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """Return True if the future was cancelled."""
        return self._state == _CANCELLED

    def result(self) -> T:
        """Return the result; raise the exception, ``Cancelled``, or ``RuntimeError`` if pending."""
        state = self._state
        if state == _FINISHED:
            self._log_exc = False
            if self._exception is not None:
                raise self._exception
            return self._result  # type: ignore[return-value]
        if state == _CANCELLED:
            raise Cancelled(f"{self!r} was cancelled")
        raise RuntimeError(f"{self!r} has no result yet; await it first")

    def exception(self) -> BaseException | None:
        """Return the exception (None on success); raise ``Cancelled`` or ``RuntimeError``."""
        if self._state == _CANCELLED:
            raise Cancelled(f"{self!r} was cancelled")
        if self._state == _PENDING:
            raise RuntimeError(f"{self!r} has no exception yet; await it first")
        self._log_exc = False
        return self._exception

    def add_done_callback(self, fn: Callable[[Future[T]], object]) -> None:
        """Call ``fn(future)`` once done (scheduled with ``call_soon`` if already done)."""
        if self._state == _PENDING:
            self._callbacks.append(fn)
        else:
            self._scheduler().call_soon(fn, self)

    def remove_done_callback(self, fn: Callable[[Future[T]], object]) -> int:
        """Remove every registration of ``fn``; return how many were removed."""
        before = len(self._callbacks)
        self._callbacks = [cb for cb in self._callbacks if cb != fn]
        return before - len(self._callbacks)

    def set_result(self, result: T) -> None:
        """Complete with ``result``; raises ``RuntimeError`` if already done."""
        if self._state != _PENDING:
            raise RuntimeError(f"{self!r} is already done; set_result({result!r}) is not allowed")
        self._result = result
        self._state = _FINISHED
        if self._callbacks:
            self._schedule_callbacks()

    def set_exception(self, exception: BaseException) -> None:
        """Fail with ``exception`` (an instance); raises ``RuntimeError`` if already done."""
        if self._state != _PENDING:
            raise RuntimeError(f"{self!r} is already done; set_exception({exception!r}) failed")
        if isinstance(exception, Cancelled):
            raise TypeError("use cancel() instead of set_exception(Cancelled())")
        self._exception = exception
        self._state = _FINISHED
        self._log_exc = True
        if self._callbacks:
            self._schedule_callbacks()

    def cancel(self) -> bool:
        """Cancel the future; return False if it was already done."""
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        if self._callbacks:
            self._schedule_callbacks()
        return True

    def _scheduler(self) -> Scheduler:
        if self._sched is None:
            self._sched = _sched_mod.get_scheduler()
        return self._sched

    def _schedule_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        ready = self._scheduler()._ready
        for fn in callbacks:
            ready.append(Handle(fn, (self,)))

    def __await__(self) -> Generator[Any, None, T]:
        if self._state == _PENDING:
            yield self
        return self.result()

    __iter__ = __await__  # `yield from fut` in plain generators

    def __repr__(self) -> str:
        state = ("pending", "finished", "cancelled")[self._state]
        return f"<{type(self).__name__} {state} at {id(self):#x}>"


# Bottom import: ``_scheduler`` imports this module's classes, this module only
# reads ``_scheduler._current`` at call time, so either may be imported first.
from . import _scheduler as _sched_mod  # noqa: E402
