"""``Lock``, ``Event`` and ``Queue``, written once over the running backend's futures.

Theory of operation: each primitive keeps a FIFO of waiter futures created
with the current backend's ``create_future()`` (bound lazily, so a primitive
may be created at import time). Writing them once, instead of wrapping
``asyncio.Lock`` and ``runtime.Lock``, makes their behaviour identical on
every backend by construction (``legacy.runtime.Channel(0)`` and
``asyncio.Queue(0)`` do not even agree on what 0 means: here it is
unbounded, as in asyncio). A waiter that is cancelled after it was handed
the lock or an item passes it on, so cancellation never loses a wake-up.
"""

from __future__ import annotations

import contextlib
from collections import deque
from types import TracebackType
from typing import Generic, TypeVar

from ._contract import Waiter
from ._runtime import clock

__all__ = ["Event", "Lock", "Queue"]

T = TypeVar("T")


def _wake_first(waiters: deque[Waiter]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class Lock:
    """A mutual-exclusion lock: ``async with lock:``; FIFO fair."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[Waiter] = deque()

    def locked(self) -> bool:
        """Return True if the lock is held."""
        return self._locked

    async def acquire(self) -> bool:
        """Wait until the lock is free and take it; returns True."""
        if not self._locked and not self._waiters:
            self._locked = True
            return True
        fut = clock().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed the lock as we got cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise
        return True

    def release(self) -> None:
        """Release the lock, handing it to the first waiter.

        Raises ``RuntimeError`` if the lock is not held.
        """
        if not self._locked:
            raise RuntimeError("Lock.release() called on an unlocked Lock")
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # ownership moves to that waiter; stays locked
                return
        self._locked = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Event:
    """A flag tasks can wait for."""

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[Waiter] = []

    def is_set(self) -> bool:
        """Return True if the flag is set."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        if not self._flag:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def clear(self) -> None:
        """Reset the flag."""
        self._flag = False

    async def wait(self) -> bool:
        """Wait until the flag is set; returns True."""
        if self._flag:
            return True
        fut = clock().create_future()
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)
        return True


class Queue(Generic[T]):
    """A FIFO queue; ``maxsize`` 0 means unbounded, else ``put`` waits while it is full."""

    def __init__(self, maxsize: int = 0) -> None:
        if maxsize < 0:
            raise ValueError(f"Queue(maxsize={maxsize!r}): maxsize must be 0 (unbounded) or more")
        self._maxsize = maxsize
        self._items: deque[T] = deque()
        self._getters: deque[Waiter] = deque()
        self._putters: deque[Waiter] = deque()

    @property
    def maxsize(self) -> int:
        """The capacity (0: unbounded)."""
        return self._maxsize

    def qsize(self) -> int:
        """Return the number of items queued."""
        return len(self._items)

    def empty(self) -> bool:
        """Return True if no item is queued."""
        return not self._items

    def full(self) -> bool:
        """Return True if ``put`` would wait."""
        return 0 < self._maxsize <= len(self._items)

    async def put(self, item: T) -> None:
        """Queue ``item``, waiting while the queue is full."""
        while self.full():
            await self._wait(self._putters)
        self._items.append(item)
        _wake_first(self._getters)

    async def get(self) -> T:
        """Remove and return the first item, waiting while the queue is empty."""
        while not self._items:
            await self._wait(self._getters)
        item = self._items.popleft()
        _wake_first(self._putters)
        return item

    async def _wait(self, waiters: deque[Waiter]) -> None:
        fut = clock().create_future()
        waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                _wake_first(waiters)  # woken as we got cancelled: wake the next one instead
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
            raise
