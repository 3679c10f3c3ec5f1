"""The scheduler: a ready queue, a timer heap and a selector, plus ``Future``.

Theory of operation
-------------------
One ``Scheduler`` exists per ``run()``; ``get_scheduler()`` returns it. Each
turn of the loop (``_run_once``):

1. waits on the selector: no wait if callbacks are ready, until the earliest
   timer if there is one, otherwise until a socket is ready. If nothing is
   ready, no timer is pending and no socket is registered, nothing can ever
   wake the main task, so the loop raises ``RuntimeError`` instead of hanging.
2. calls the reader/writer callbacks of the ready sockets directly (they only
   move bytes and complete futures, so they never block);
3. moves due timers (a ``heapq`` of ``(when, seq, handle)``) to the ready
   queue; cancelled timers are skipped lazily and the heap is rebuilt when
   they outnumber the live ones;
4. runs the callbacks that were ready at the start of the step (a ``deque``),
   so a callback that schedules another one cannot starve I/O.

A ``Future`` completes once; its done callbacks are then scheduled with
``call_soon(fn, future)``. Awaiting a pending ``Future`` yields the future
itself to the ``Task`` driving the coroutine (see ``_tasks``), which resumes
when it completes. An exception escaping a callback goes to the exception
handler (default: log to the ``legacy.runtime`` logger) and the loop goes on.
"""

from __future__ import annotations

import heapq
import logging
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._errors import Cancelled

if TYPE_CHECKING:
    from ._tasks import Task

__all__ = ["Future", "Handle", "Scheduler", "get_scheduler", "monotonic"]

T = TypeVar("T")
ExceptionHandler = Callable[[BaseException, "Task[Any] | None"], None]

logger = logging.getLogger("legacy.runtime")
monotonic = time.monotonic

_PENDING, _FINISHED, _CANCELLED = 0, 1, 2
_EVENT_READ, _EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_current: Scheduler | None = None


def get_scheduler() -> Scheduler:
    """Return the scheduler of the running ``run()``.

    Raises ``RuntimeError`` outside ``run()``.
    """
    if _current is None:
        raise RuntimeError(
            "no legacy scheduler is running; call this from code started by runtime.run(main)"
        )
    return _current


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
        self._sched = scheduler if scheduler is not None else _current
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
            self._sched = get_scheduler()
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


class Scheduler:
    """The event loop behind ``run()``; see the module docstring."""

    def __init__(self) -> None:
        self._ready: deque[Handle] = deque()
        self._timers: list[tuple[float, int, Handle]] = []
        self._timer_seq = 0
        self._ncancelled = 0
        self._selector = selectors.DefaultSelector()
        self._fds: dict[int, list[Any]] = {}  # fd -> [mask, reader, writer]
        self._tasks: set[Task[Any]] = set()
        self._resources: set[Any] = set()  # open sockets' owners, closed at shutdown
        self._handler: ExceptionHandler = _default_handler
        self._closed = False

    def time(self) -> float:
        """Return the scheduler's clock (``time.monotonic``)."""
        return monotonic()

    def call_soon(self, fn: Callable[..., object], *args: Any) -> Handle:
        """Run ``fn(*args)`` on the next turn of the loop, after already-ready callbacks."""
        handle = Handle(fn, args)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> Handle:
        """Run ``fn(*args)`` once ``delay`` seconds have passed (at the earliest)."""
        return self.call_at(monotonic() + max(0.0, delay), fn, *args)

    def call_at(self, when: float, fn: Callable[..., object], *args: Any) -> Handle:
        """Run ``fn(*args)`` once the clock reaches ``when`` (see ``time()``)."""
        handle = Handle(fn, args)
        handle._sched = self
        handle.when = when
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, handle))
        return handle

    def create_future(self) -> Future[Any]:
        """Return a new pending ``Future`` bound to this scheduler."""
        return Future(self)

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        """Route failures nobody retrieved to ``handler(exc, task)`` (None: log them).

        ``task`` is the failed ``Task`` whose exception nobody retrieved, or None
        for an exception raised by a plain callback.
        """
        self._handler = handler if handler is not None else _default_handler

    def add_reader(self, sock: socket.socket | int, callback: Callable[[], object]) -> None:
        """Call ``callback()`` whenever ``sock`` is readable (replaces a previous reader)."""
        self._register(sock, 1, callback)

    def add_writer(self, sock: socket.socket | int, callback: Callable[[], object]) -> None:
        """Call ``callback()`` whenever ``sock`` is writable (replaces a previous writer)."""
        self._register(sock, 2, callback)

    def remove_reader(self, sock: socket.socket | int) -> bool:
        """Stop watching ``sock`` for reading; return False if it was not watched."""
        return self._unregister(sock, 1)

    def remove_writer(self, sock: socket.socket | int) -> bool:
        """Stop watching ``sock`` for writing; return False if it was not watched."""
        return self._unregister(sock, 2)

    def _register(
        self, sock: socket.socket | int, slot: int, callback: Callable[[], object]
    ) -> None:
        fd = sock if isinstance(sock, int) else sock.fileno()
        if fd < 0:
            raise ValueError(f"cannot watch a closed socket ({sock!r})")
        entry = self._fds.get(fd)
        if entry is None:
            entry = [slot, None, None]
            entry[slot] = callback
            self._selector.register(fd, slot, entry)
            self._fds[fd] = entry
        else:
            entry[slot] = callback
            if not entry[0] & slot:
                entry[0] |= slot
                self._selector.modify(fd, entry[0], entry)

    def _unregister(self, sock: socket.socket | int, slot: int) -> bool:
        fd = sock if isinstance(sock, int) else sock.fileno()
        entry = self._fds.get(fd)
        if entry is None or not entry[0] & slot:
            return False
        entry[slot] = None
        entry[0] &= ~slot
        if entry[0]:
            self._selector.modify(fd, entry[0], entry)
        else:
            del self._fds[fd]
            self._selector.unregister(fd)
        return True

    def _timer_cancelled(self) -> None:
        self._ncancelled += 1
        if self._ncancelled > 256 and self._ncancelled * 2 > len(self._timers):
            self._timers = [t for t in self._timers if not t[2]._cancelled]
            heapq.heapify(self._timers)
            self._ncancelled = 0

    def _report(self, exc: BaseException, task: Task[Any] | None) -> None:
        try:
            self._handler(exc, task)
        except Exception:
            logger.exception("the legacy exception handler itself failed on %r", exc)

    def _run_once(self) -> None:
        ready, timers = self._ready, self._timers
        if ready:
            timeout: float | None = 0.0
        elif timers:
            timeout = max(0.0, timers[0][0] - monotonic())
        elif self._fds:
            timeout = None
        else:
            raise RuntimeError(
                "deadlock: every task is waiting, but no timer is pending and no socket is "
                "watched, so nothing can wake them (a Future nobody completes?)"
            )
        for key, mask in self._selector.select(timeout):
            entry = key.data
            try:
                if mask & _EVENT_READ and entry[1] is not None:
                    entry[1]()
                if mask & _EVENT_WRITE and entry[2] is not None:
                    entry[2]()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                self._report(exc, None)
        if timers:
            now = monotonic()
            while timers and timers[0][0] <= now:
                handle = heapq.heappop(timers)[2]
                if handle._cancelled:
                    self._ncancelled -= 1
                else:
                    handle._sched = None
                    ready.append(handle)
        popleft = ready.popleft
        for _ in range(len(ready)):
            handle = popleft()
            if handle._cancelled:
                continue
            try:
                handle._fn(*handle._args)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                self._report(exc, None)


def _default_handler(exc: BaseException, task: Task[Any] | None) -> None:
    where = f"task {task!r}" if task is not None else "a scheduled callback"
    logger.error("unhandled exception in %s", where, exc_info=(type(exc), exc, exc.__traceback__))


def _set_current(scheduler: Scheduler | None) -> None:
    global _current
    _current = scheduler
