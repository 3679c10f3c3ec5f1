"""Task synchronisation: ``Lock``, ``Event`` and the bounded ``Channel``.

Theory of operation
-------------------
Each primitive keeps a FIFO of waiter futures. ``Lock.release()`` hands the
lock straight to the first live waiter (the lock stays locked), so a task
arriving later cannot barge ahead of one that waited; a waiter cancelled
after being handed the lock passes it on. ``Channel`` wakes one getter per
item put and one putter per item taken; a waiter cancelled right after being
woken passes the wake-up on, so no item or free slot is ever lost.
"""

from __future__ import annotations

import contextlib
from collections import deque
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._errors import Cancelled
from ._futures import Future
from ._scheduler import get_scheduler

__all__ = ["Channel", "ChannelEmpty", "ChannelFull", "Event", "Lock"]

T = TypeVar("T")


class ChannelFull(Exception):
    """``put_nowait`` on a channel holding ``capacity`` items."""


class ChannelEmpty(Exception):
    """``get_nowait`` on an empty channel."""


def _wake_first(waiters: deque[Future[None]]) -> None:
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class Lock:
    """A mutual-exclusion lock for tasks, fair (FIFO); use ``async with lock:``."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[Future[None]] = deque()

    def locked(self) -> bool:
        """Return True while some task holds the lock."""
        return self._locked

    async def acquire(self) -> bool:
        """Wait until the lock is free and take it; return True."""
        if not self._locked:
            self._locked = True
            return True
        fut: Future[None] = Future(get_scheduler())
        self._waiters.append(fut)
        try:
            await fut
        except Cancelled:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed the lock but will not use it
            raise
        finally:
            if not fut.done() or fut.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
        return True

    def release(self) -> None:
        """Release the lock, handing it to the longest waiter if any.

        Raises ``RuntimeError`` if the lock is not held.
        """
        if not self._locked:
            raise RuntimeError("Lock.release() called on an unlocked lock; acquire it first")
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # ownership passes to that waiter; stays locked
                return
        self._locked = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return f"<Lock {state} waiters={len(self._waiters)}>"


class Event:
    """A flag tasks can wait for; ``set()`` wakes every waiter."""

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[Future[None]] = []

    def is_set(self) -> bool:
        """Return True once ``set()`` was called (and ``clear()`` was not called since)."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiting task."""
        if not self._flag:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def clear(self) -> None:
        """Reset the flag; later ``wait()`` calls block again."""
        self._flag = False

    async def wait(self) -> bool:
        """Wait until the flag is set; return True."""
        if self._flag:
            return True
        fut: Future[None] = Future(get_scheduler())
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)
        return True

    def __repr__(self) -> str:
        return f"<Event {'set' if self._flag else 'unset'} waiters={len(self._waiters)}>"


class Channel(Generic[T]):
    """A FIFO channel between tasks holding at most ``capacity`` items.

    ``put`` waits while the channel is full (backpressure), ``get`` while it
    is empty. ``capacity=0`` means unbounded, as ``shims.Queue(0)`` and
    ``asyncio.Queue(0)`` (so the legacy-to-shim rewrite keeps the behaviour).
    Raises ``ValueError`` for a negative capacity.
    """

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be >= 0 (0 = unbounded), got {capacity!r}")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._getters: deque[Future[None]] = deque()
        self._putters: deque[Future[None]] = deque()

    def qsize(self) -> int:
        """Return the number of items waiting in the channel."""
        return len(self._items)

    def empty(self) -> bool:
        """Return True if no item is waiting."""
        return not self._items

    def full(self) -> bool:
        """Return True if ``put`` would wait."""
        return 0 < self.capacity <= len(self._items)

    async def put(self, item: T) -> None:
        """Add ``item``, waiting while the channel is full."""
        while self.full():
            await self._wait(self._putters, lambda: not self.full())
        self.put_nowait(item)

    def put_nowait(self, item: T) -> None:
        """Add ``item`` now; raise ``ChannelFull`` if the channel is full."""
        if self.full():
            raise ChannelFull(f"channel is full ({self.capacity} items); use `await put()`")
        self._items.append(item)
        _wake_first(self._getters)

    async def get(self) -> T:
        """Remove and return the oldest item, waiting while the channel is empty."""
        while not self._items:
            await self._wait(self._getters, lambda: bool(self._items))
        return self.get_nowait()

    def get_nowait(self) -> T:
        """Remove and return the oldest item; raise ``ChannelEmpty`` if there is none."""
        if not self._items:
            raise ChannelEmpty("channel is empty; use `await get()` to wait for an item")
        item = self._items.popleft()
        _wake_first(self._putters)
        return item

    async def _wait(self, waiters: deque[Future[None]], can_go: Any) -> None:
        fut: Future[None] = Future(get_scheduler())
        waiters.append(fut)
        try:
            await fut
        except Cancelled:
            if not fut.done() or fut.cancelled():
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
            elif can_go():
                _wake_first(waiters)  # we were woken but leave: pass the wake-up on
            raise

    def __repr__(self) -> str:
        cap = self.capacity or "unbounded"
        return f"<Channel {len(self._items)}/{cap} getters={len(self._getters)}>"
