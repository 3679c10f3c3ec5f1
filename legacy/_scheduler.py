"""The scheduler: a ready queue, a timer heap and a selector.

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

An exception escaping a callback goes to the exception handler (default: log
to the ``legacy.runtime`` logger) and the loop goes on. The running scheduler
is per thread; other threads reach it only through ``call_soon_threadsafe``
(after ``enable_threads()``), which wakes the selector through a socket pair.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import selectors
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._futures import Future, Handle

if TYPE_CHECKING:
    from ._tasks import Task

__all__ = ["Future", "Handle", "Scheduler", "get_scheduler", "monotonic"]

ExceptionHandler = Callable[[BaseException, "Task[Any] | None"], None]

logger = logging.getLogger("legacy.runtime")
monotonic = time.monotonic

_EVENT_READ, _EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class _Current(threading.local):
    """The scheduler running in this thread (one ``run()`` per thread at a time)."""

    scheduler: Scheduler | None = None


_current = _Current()


def get_scheduler() -> Scheduler:
    """Return the scheduler of the running ``run()``.

    Raises ``RuntimeError`` outside ``run()``.
    """
    sched = _current.scheduler
    if sched is None:
        raise RuntimeError(
            "no legacy scheduler is running; call this from code started by runtime.run(main)"
        )
    return sched


class Scheduler:
    """The event loop behind ``run()``; see the module docstring."""

    def __init__(self) -> None:
        self._ready: deque[Handle] = deque()
        self._timers: list[tuple[float, int, Handle]] = []
        self._timer_seq = 0
        self._ncancelled = 0
        self._selector = selectors.DefaultSelector()
        self._fds: dict[int, list[Any]] = {}  # fd -> [mask, reader, writer, fileobj]
        self._tasks: set[Task[Any]] = set()
        self._resources: set[Any] = set()  # open sockets' owners, closed at shutdown
        self._handler: ExceptionHandler = _default_handler
        self._closed = False
        self._current_task: Task[Any] | None = None
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._failed: weakref.WeakSet[Task[Any]] = weakref.WeakSet()  # maybe unretrieved
        self._scratch = bytearray(256 * 1024)  # shared receive buffer of this thread's sockets
        self._scratch_view = memoryview(self._scratch)

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
        if self._closed:
            raise RuntimeError("the legacy scheduler has finished; its run() returned")
        fd = sock if isinstance(sock, int) else sock.fileno()
        if fd < 0:
            raise ValueError(f"cannot watch a closed socket ({sock!r})")
        entry = self._fds.get(fd)
        if entry is not None and _is_stale(entry[3], sock):
            self._drop(fd)  # a closed socket left registered; its fd number was reused
            entry = None
        if entry is None:
            entry = [slot, None, None, sock]
            entry[slot] = callback
            self._selector.register(fd, slot, entry)
            self._fds[fd] = entry
        else:
            entry[slot] = callback
            if not entry[0] & slot:
                entry[0] |= slot
                self._selector.modify(fd, entry[0], entry)

    def _unregister(self, sock: socket.socket | int, slot: int) -> bool:
        if self._closed:
            return False
        fd = sock if isinstance(sock, int) else sock.fileno()
        if fd < 0:  # closed already: find it by identity
            fd = next((f for f, e in self._fds.items() if e[3] is sock), -1)
        entry = self._fds.get(fd)
        if entry is None or not entry[0] & slot:
            return False
        entry[slot] = None
        entry[0] &= ~slot
        if entry[0]:
            try:
                self._selector.modify(fd, entry[0], entry)
            except OSError:  # the fd was closed under us: forget it entirely
                self._drop(fd)
        else:
            self._drop(fd)
        return True

    def _drop(self, fd: int) -> None:
        del self._fds[fd]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(fd)

    def enable_threads(self) -> None:
        """Prepare ``call_soon_threadsafe`` (a wake-up socket pair); idempotent."""
        if self._wakeup is None:
            pair = socket.socketpair()
            for end in pair:
                end.setblocking(False)
            self._wakeup = pair
            self.add_reader(pair[0], self._drain_wakeup)

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> Handle:
        """Like ``call_soon``, but callable from any thread; wakes the scheduler up.

        Raises ``RuntimeError`` unless ``enable_threads()`` was called first
        (from the scheduler's thread).
        """
        wakeup = self._wakeup
        if wakeup is None:
            raise RuntimeError(
                "call Scheduler.enable_threads() from the scheduler's thread before "
                "calling call_soon_threadsafe() from other threads"
            )
        handle = Handle(fn, args)
        self._ready.append(handle)  # deque.append is atomic
        with contextlib.suppress(OSError):  # full: the scheduler is awake anyway
            wakeup[1].send(b"\0")
        return handle

    def _drain_wakeup(self) -> None:
        assert self._wakeup is not None
        try:
            while self._wakeup[0].recv(4096):
                pass
        except OSError:
            pass

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

    def _close(self) -> None:
        if self._wakeup is not None:
            self.remove_reader(self._wakeup[0])
            for end in self._wakeup:
                end.close()
        self._selector.close()
        self._fds.clear()
        self._closed = True

    def _run_once(self, max_wait: float | None = None) -> None:
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
        if max_wait is not None and (timeout is None or timeout > max_wait):
            timeout = max_wait
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


def _is_stale(registered: object, sock: object) -> bool:
    return (
        registered is not sock and isinstance(registered, socket.socket) and registered.fileno() < 0
    )


def _default_handler(exc: BaseException, task: Task[Any] | None) -> None:
    where = f"task {task!r}" if task is not None else "a scheduled callback"
    logger.error("unhandled exception in %s", where, exc_info=(type(exc), exc, exc.__traceback__))


def _set_current(scheduler: Scheduler | None) -> None:
    _current.scheduler = scheduler
