"""``ConnectionPool``: hands out connections that are usable right now, on every backend.

Theory of operation: a slot is one connection the pool owns, in one of the
states of ``_SLOT_TRANSITIONS`` (a table, like the connection's). Checkout
takes the most recently used idle slot (LIFO keeps the warm ones warm and
lets the rest expire) and checks it: state (no system call), age
(``max_lifetime``), idle time (``max_idle``), unread bytes when the
connection is not ``duplex``, then ``Connection._probe()``: one zero-timeout
``poll`` that sees a FIN or RST the loop has not read yet. A slot that fails
a check is closed (its ``on_close`` callbacks run) and counted, and the next
one is tried. An exception inside ``async with pool.acquire()`` discards the
connection: it may be mid-message.

Opening a connection takes the slot first and gives it back on failure, so a
failing ``connect`` never shrinks the pool for good; the error is a
``ConnectError`` with the native error as ``__cause__``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from time import monotonic
from types import TracebackType
from typing import Final

from ._connection import Connection
from ._contract import Waiter
from ._errors import ConnectError, ConnectionClosedError, ConnectTimeout
from ._runtime import clock, wait_for

__all__ = ["ConnectionPool"]

_SLOT_TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("connecting", "opened"): "in_use",
    ("idle", "checkout"): "in_use",
    ("in_use", "release"): "idle",
    ("idle", "discard"): "closed",
    ("in_use", "discard"): "closed",
}

_COUNTERS = (
    "opened",
    "reused",
    "discarded_dead",
    "discarded_expired",
    "discarded_unread",
    "discarded_error",
    "discarded_closed",
    "connect_errors",
    "waits",
    "wait_timeouts",
)


class _Slot:
    __slots__ = ("conn", "created", "idle_since", "state")

    def __init__(self, conn: Connection, now: float) -> None:
        self.conn = conn
        self.created = now
        self.idle_since = now
        self.state = "connecting"

    def fire(self, event: str) -> None:
        try:
            self.state = _SLOT_TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(
                f"illegal pool slot transition: event {event!r} in state {self.state!r} "
                f"for {self.conn!r}"
            ) from None


class _Checkout:
    __slots__ = ("_pool", "_slot", "_timeout")

    def __init__(self, pool: ConnectionPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._slot: _Slot | None = None

    async def __aenter__(self) -> Connection:
        slot = self._slot = await self._pool._checkout(self._timeout)
        return slot.conn

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            self._pool._release(slot, failed=et is not None)


class ConnectionPool:
    """A bounded pool of connections made by ``connect()``; see ``acquire`` and ``stats``."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        max_size: int = 10,
        max_idle: float | None = None,
        max_lifetime: float | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"ConnectionPool(max_size={max_size!r}): need at least 1")
        for name, value in (("max_idle", max_idle), ("max_lifetime", max_lifetime)):
            if value is not None and value <= 0:
                raise ValueError(f"ConnectionPool({name}={value!r}): must be positive or None")
        self._connect = connect
        self._max_size = max_size
        self._max_idle = max_idle
        self._max_lifetime = max_lifetime
        self._idle: deque[_Slot] = deque()
        self._size = 0  # slots taken: idle + in use + connecting
        self._waiters: deque[Waiter] = deque()
        self._closed = False
        self._stats = dict.fromkeys(_COUNTERS, 0)

    def acquire(self, timeout: float | None = None) -> _Checkout:
        """Return ``async with pool.acquire() as conn:`` giving a connection usable right now.

        ``timeout`` bounds waiting for a free slot plus opening a connection.
        Raises ``ConnectError`` when a new connection cannot be opened,
        ``ConnectTimeout`` when ``timeout`` passes first,
        ``ConnectionClosedError`` after ``close()``.
        """
        return _Checkout(self, timeout)

    def stats(self) -> dict[str, int]:
        """Return the counters (see ``_COUNTERS``) plus ``size``, ``idle`` and ``in_use`` now."""
        result = dict(self._stats)
        result["size"] = self._size
        result["idle"] = len(self._idle)
        result["in_use"] = self._size - len(self._idle)
        return result

    def _unfit(self, slot: _Slot, now: float) -> str | None:
        conn = slot.conn
        if conn.closed():
            return "discarded_dead"
        if self._max_lifetime is not None and now - slot.created >= self._max_lifetime:
            return "discarded_expired"
        if self._max_idle is not None and now - slot.idle_since >= self._max_idle:
            return "discarded_expired"
        if not conn.duplex and conn.unread_bytes():
            return "discarded_unread"
        if not conn._probe():
            return "discarded_dead" if conn.closed() else "discarded_unread"
        return None

    def _discard(self, slot: _Slot, counter: str) -> None:
        slot.fire("discard")
        self._stats[counter] += 1
        self._size -= 1
        slot.conn.close()
        self._wake_one()

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                return

    async def _checkout(self, timeout: float | None) -> _Slot:  # noqa: ASYNC109
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            if self._closed:
                raise ConnectionClosedError("acquire() on a closed ConnectionPool; make a new pool")
            now = monotonic()
            idle = self._idle
            while idle:
                slot = idle.pop()
                counter = self._unfit(slot, now)
                if counter is None:
                    slot.fire("checkout")
                    self._stats["reused"] += 1
                    return slot
                self._discard(slot, counter)
            if self._size < self._max_size:
                return await self._open(deadline)
            await self._wait_for_slot(deadline, timeout)

    async def _open(self, deadline: float | None) -> _Slot:
        self._size += 1
        try:
            if deadline is None:
                conn = await self._connect()
            else:
                conn = await wait_for(self._connect(), max(0.0, deadline - monotonic()))
        except BaseException as exc:
            self._size -= 1
            self._wake_one()
            if not isinstance(exc, Exception):
                raise
            self._stats["connect_errors"] += 1
            if isinstance(exc, ConnectError):
                raise
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout(
                    f"the pool could not open a connection before its acquire() deadline: {exc!r}"
                ) from exc
            raise ConnectError(f"the pool's connect() failed: {exc!r}") from exc
        slot = _Slot(conn, monotonic())
        slot.fire("opened")
        self._stats["opened"] += 1
        return slot

    async def _wait_for_slot(self, deadline: float | None, timeout: float | None) -> None:  # noqa: ASYNC109
        self._stats["waits"] += 1
        fut = clock().create_future()
        self._waiters.append(fut)
        timer = None
        if deadline is not None:

            def expire() -> None:
                if not fut.done():
                    fut.set_result(False)

            timer = clock().call_later(max(0.0, deadline - monotonic()), expire)
        try:
            woken = await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.result():
                self._wake_one()  # we were handed a free slot as we got cancelled: pass it on
            elif fut in self._waiters:
                self._waiters.remove(fut)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not woken:
            if fut in self._waiters:
                self._waiters.remove(fut)
            self._stats["wait_timeouts"] += 1
            raise ConnectTimeout(
                f"no pooled connection became free within timeout={timeout!r} s "
                f"(max_size={self._max_size} all in use); raise max_size or release sooner"
            )

    def _release(self, slot: _Slot, *, failed: bool) -> None:
        conn = slot.conn
        if self._closed or failed:
            self._discard(slot, "discarded_error" if failed else "discarded_closed")
            return
        now = monotonic()
        if conn.closed():
            self._discard(slot, "discarded_dead")
        elif not conn.duplex and conn.unread_bytes():
            self._discard(slot, "discarded_unread")
        elif self._max_lifetime is not None and now - slot.created >= self._max_lifetime:
            self._discard(slot, "discarded_expired")
        else:
            slot.fire("release")
            slot.idle_since = now
            self._idle.append(slot)
            self._wake_one()

    async def close(self) -> None:
        """Close idle connections now and the others when they are released; idempotent."""
        self._closed = True
        while self._idle:
            self._discard(self._idle.pop(), "discarded_closed")
        waiters, self._waiters = self._waiters, deque()
        for fut in waiters:
            if not fut.done():
                fut.set_result(True)

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"<ConnectionPool size={s['size']}/{self._max_size} idle={s['idle']} "
            f"{'closed' if self._closed else 'open'}>"
        )
