"""The writing half of ``Connection``: writes that wait for the kernel, FIFO writers, half-close.

Theory of operation: a write first tries ``send`` directly; only what the
kernel did not take is written from the writer callback while the task waits,
so the task (never the scheduler) is suspended until the kernel took every
byte. Concurrent writers queue in FIFO order (``_write_queue``), so their bytes
never interleave. One deadline covers the whole call, including the wait for
an earlier writer; on expiry the rest of that write is dropped.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any

from ._errors import ConnectionClosedError, Timeout
from ._futures import Future
from ._scheduler import Scheduler, monotonic


def _set_timed_out(fut: Future[Any], message: str) -> None:
    if not fut.done():
        fut.set_exception(Timeout(message))


def _wake(fut: Future[Any] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class _Writer:
    """Mixin: the write side of ``Connection`` (which supplies the state and ``_fail``)."""

    socket: socket.socket
    peer: str
    _sched: Scheduler
    _fd: int
    _closed: bool
    _error: OSError | None
    _write_shut: bool
    _writing: bool
    _wview: memoryview | None
    _write_waiter: Future[None] | None
    _write_queue: deque[Future[None]]

    def _fail(self, exc: OSError) -> None:
        raise NotImplementedError

    def _broken(self, action: str, partial: bytes = b"") -> OSError:
        raise NotImplementedError

    async def write(
        self,
        data: bytes | bytearray | memoryview,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Send all of ``data``; return once the kernel took every byte.

        Still attempted after the peer's FIN (it may only have half-closed).
        Raises ``Timeout`` if the peer does not take the data within ``timeout``
        seconds (one deadline for the whole call; the unsent rest is dropped),
        ``PeerResetError`` once the peer reset, ``ConnectionClosedError`` after
        ``close()`` or ``shutdown_write()``.
        """
        if self._closed or self._error is not None or self._write_shut:
            raise self._write_refused()
        if not self._writing:
            try:
                sent = self.socket.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail(exc)
                raise self._broken("write") from exc
            if sent == len(data):
                return
            view = memoryview(data).cast("B")[sent:]
        else:
            view = memoryview(data).cast("B")
        await self._write_slow(view, len(data), timeout)

    def _write_refused(self) -> OSError:
        if self._write_shut and not self._closed:
            return ConnectionClosedError(
                f"cannot write to {self.peer}: shutdown_write() already sent our FIN"
            )
        return self._broken("write")

    async def _take_turn(self, deadline: float | None) -> None:
        if not self._writing:
            self._writing = True
            return
        turn: Future[None] = Future(self._sched)
        self._write_queue.append(turn)
        timer = None
        if deadline is not None:
            message = f"write to {self.peer} timed out waiting for an earlier write to finish"
            timer = self._sched.call_at(deadline, _set_timed_out, turn, message)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._next_writer()  # handed the turn but leaving: pass it on
            elif turn in self._write_queue:
                self._write_queue.remove(turn)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _next_writer(self) -> None:
        queue = self._write_queue
        while queue:
            turn = queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._writing = False

    async def _write_slow(self, view: memoryview, total: int, limit_s: float | None) -> None:
        sched = self._sched
        deadline = None if limit_s is None else monotonic() + limit_s
        await self._take_turn(deadline)
        timer = None
        try:
            if self._closed or self._error is not None or self._write_shut:
                raise self._write_refused()
            fut: Future[None] = Future(sched)
            self._wview = view
            self._write_waiter = fut
            sched.add_writer(self._fd, self._on_writable)
            if deadline is not None:
                timer = sched.call_at(deadline, self._write_timed_out, fut, limit_s, total)
            await fut
            if self._wview is not None:
                raise self._write_refused()
        finally:
            if timer is not None:
                timer.cancel()
            self._wview = None
            self._write_waiter = None
            if not self._closed and not sched._closed:
                sched.remove_writer(self._fd)
            self._next_writer()

    def _write_timed_out(self, fut: Future[None], timeout: float, total: int) -> None:
        left = len(self._wview) if self._wview is not None else 0
        _set_timed_out(
            fut,
            f"write to {self.peer} timed out after {timeout!r} s: the peer took "
            f"{total - left} of {total} bytes (is it still reading?)",
        )

    def _on_writable(self) -> None:
        view = self._wview
        if view is None:
            return
        try:
            sent = self.socket.send(view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if sent == len(view):
            self._wview = None
            _wake(self._write_waiter)
        else:
            self._wview = view[sent:]

    async def shutdown_write(self) -> None:
        """Send our FIN once earlier writes are done (half-close); reading stays possible.

        Idempotent. Raises ``PeerResetError`` after RST, ``ConnectionClosedError``
        after ``close()``.
        """
        if self._write_shut and not self._closed:
            return
        if self._closed or self._error is not None:
            raise self._broken("shut down writing")
        await self._take_turn(None)
        try:
            if self._closed or self._error is not None:
                raise self._broken("shut down writing")
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError as exc:
                self._fail(exc)
                raise self._broken("shut down writing") from exc
            self._write_shut = True
        finally:
            self._next_writer()
