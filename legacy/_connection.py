"""``Connection``: a buffered TCP stream on the legacy scheduler.

Theory of operation
-------------------
Reading is always on while the connection is open: the socket stays
registered for reading and each readiness event moves what the kernel holds
into ``_rbuf`` (one ``recv_into`` per event). So the peer's FIN (a 0-byte
``recv``, as in Tornado's IOStream) or RST is noticed even when no read is
pending, and ``closed()`` becomes True without anybody reading. ``closed()``
also peeks at the socket (``MSG_PEEK``) when nothing is known yet, so it is
right even before the loop has had a turn. When ``_rbuf`` reaches
``_HIGH_WATER`` with no reader waiting, reading pauses (the kernel's window
then pushes back on the peer) and resumes once a read consumes data.

A read takes what it needs from ``_rbuf`` without suspending if it is there;
otherwise it parks one future (``_read_waiter``) that the reader callback
completes once ``_read_need`` bytes are buffered, or at EOF/error/close. A
read that times out consumes nothing.

A write first tries ``send`` directly; only what the kernel did not take is
written from the writer callback while the task waits, so the task (never
the scheduler) is suspended until the kernel took every byte. Concurrent
writers queue in FIFO order and their bytes never interleave. One deadline
covers the whole call; on expiry the rest of that write is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import socket
import struct
import termios
from collections import deque
from typing import Any

from ._errors import ConnectionClosedError, LimitExceededError, PeerClosedError, PeerResetError
from ._errors import Timeout as Timeout
from ._scheduler import Future, Scheduler, monotonic

__all__ = ["Connection"]

_HIGH_WATER = 1 << 20  # stop reading from the kernel past this many unread bytes
_RECV_SIZE = 256 * 1024
_scratch = bytearray(_RECV_SIZE)  # the scheduler is single-threaded: one shared receive buffer
_scratch_view = memoryview(_scratch)
_RESET_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN}


def _set_timed_out(fut: Future[Any], message: str) -> None:
    if not fut.done():
        fut.set_exception(Timeout(message))


def _wake(fut: Future[Any] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class Connection:
    """A TCP connection: buffered reads, writes that wait for the kernel, half-close.

    ``socket`` is the underlying non-blocking socket; ``peer`` is ``"host:port"``;
    ``initiated_by`` is ``"local"`` (from ``connect``) or ``"peer"`` (accepted).
    """

    def __init__(self, sock: socket.socket, scheduler: Scheduler, *, initiated_by: str) -> None:
        self.socket = sock
        self.initiated_by = initiated_by
        self._sched = scheduler
        self._fd = sock.fileno()
        try:
            host, port = sock.getpeername()[:2]
            self.peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        except OSError:
            self.peer = "?"
        self._rbuf = bytearray()
        self._eof = False
        self._error: OSError | None = None  # the reset/error that ended the stream
        self._closed = False
        self._write_shut = False
        self._reading = False
        self._read_waiter: Future[None] | None = None
        self._read_need = 0
        self._writing = False
        self._wview: memoryview | None = None
        self._write_waiter: Future[None] | None = None
        self._write_queue: deque[Future[None]] = deque()
        scheduler._resources.add(self)
        self._resume_reading()

    # -- reader side ------------------------------------------------------

    def _resume_reading(self) -> None:
        if not (self._reading or self._eof or self._closed or self._error):
            self._reading = True
            self._sched.add_reader(self._fd, self._on_readable)

    def _pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            if not self._sched._closed:
                self._sched.remove_reader(self._fd)

    def _on_readable(self) -> None:
        try:
            n = self.socket.recv_into(_scratch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        rbuf = self._rbuf
        if n:
            rbuf += _scratch_view[:n]
            waiter = self._read_waiter
            if waiter is not None:
                if len(rbuf) >= self._read_need:
                    self._read_waiter = None
                    _wake(waiter)
            elif len(rbuf) >= _HIGH_WATER:
                self._pause_reading()
        else:
            self._eof = True
            self._pause_reading()
            self._wake_all()

    def _fail(self, exc: OSError) -> None:
        """Record that the stream broke (RST or socket error) and wake every waiter."""
        if self._error is None:
            self._error = exc
        self._pause_reading()
        self._wake_all()

    def _wake_all(self) -> None:
        waiter, self._read_waiter = self._read_waiter, None
        _wake(waiter)
        _wake(self._write_waiter)

    def _broken(self, action: str, partial: bytes = b"") -> OSError:
        if self._closed:
            return ConnectionClosedError(
                f"cannot {action}: the connection to {self.peer} was closed locally"
            )
        error = self._error
        if error is not None and (
            isinstance(error, ConnectionResetError) or error.errno in _RESET_ERRNOS
        ):
            exc: OSError = PeerResetError(
                f"cannot {action}: {self.peer} reset the connection", partial=partial
            )
        elif error is not None:
            exc = PeerClosedError(f"cannot {action}: {self.peer}: {error}", partial=partial)
        else:
            got = f" after {len(partial)} bytes" if partial else ""
            exc = PeerClosedError(
                f"cannot {action}: {self.peer} closed the connection{got}", partial=partial
            )
        exc.__cause__ = error
        return exc

    async def _wait_data(self, need: int, limit_s: float | None, action: str) -> None:
        """Wait until ``need`` bytes are buffered, or EOF, error or close."""
        if self._closed:
            raise self._broken(action)
        if self._eof or self._error is not None:
            return
        if self._read_waiter is not None:
            raise RuntimeError(f"cannot {action}: another task is already reading from {self!r}")
        sched = self._sched
        fut: Future[None] = Future(sched)
        self._read_waiter = fut
        self._read_need = need
        self._resume_reading()
        timer = None
        if limit_s is not None:
            message = (
                f"{action} from {self.peer} timed out after {limit_s!r} s "
                f"({len(self._rbuf)} bytes buffered, nothing consumed)"
            )
            timer = sched.call_later(limit_s, _set_timed_out, fut, message)
        try:
            await fut
        finally:
            if self._read_waiter is fut:
                self._read_waiter = None
            if timer is not None:
                timer.cancel()
        if self._closed:
            raise self._broken(action)

    def _take(self, n: int) -> bytes:
        rbuf = self._rbuf
        data = bytes(rbuf[:n])
        del rbuf[:n]
        if not self._reading and len(rbuf) < _HIGH_WATER:
            self._resume_reading()
        return data

    async def read_exactly(self, n: int, *, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Read exactly ``n`` bytes.

        Raises ``PeerClosedError`` (an ``EOFError``; ``PeerResetError`` on RST)
        if the stream ends first, with the bytes received in ``.partial``;
        ``Timeout`` after ``timeout`` seconds (nothing consumed);
        ``ConnectionClosedError`` once closed locally.
        """
        if n < 0:
            raise ValueError(f"read_exactly() needs n >= 0, got {n!r}")
        if len(self._rbuf) < n:
            await self._wait_data(n, timeout, f"read {n} bytes")
            if len(self._rbuf) < n:
                raise self._broken(f"read {n} bytes", self._take(len(self._rbuf)))
        return self._take(n)

    async def read_until(
        self,
        separator: bytes = b"\n",
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        limit: int = 65536,
    ) -> bytes:
        """Read up to and including ``separator``.

        Raises ``LimitExceededError`` if ``limit`` bytes arrive without it
        (nothing consumed), ``PeerClosedError`` at EOF (``.partial`` holds what
        came), ``Timeout`` (nothing consumed), ``ConnectionClosedError``.
        """
        if not separator:
            raise ValueError("read_until() needs a non-empty separator")
        sep = bytes(separator)
        deadline = None if timeout is None else monotonic() + timeout
        rbuf = self._rbuf
        start = 0
        while True:
            index = rbuf.find(sep, start)
            if index >= 0:
                end = index + len(sep)
                if end > limit:
                    break
                return self._take(end)
            if len(rbuf) >= limit:
                break
            if self._eof or self._error is not None or self._closed:
                raise self._broken(f"read until {sep!r}", self._take(len(rbuf)))
            start = max(0, len(rbuf) - len(sep) + 1)
            remaining = None if deadline is None else max(0.0, deadline - monotonic())
            await self._wait_data(len(rbuf) + 1, remaining, f"read until {sep!r}")
        raise LimitExceededError(
            f"read_until({sep!r}) found no separator within limit={limit!r} bytes from "
            f"{self.peer}; nothing consumed (raise the limit or check the protocol)"
        )

    async def read_some(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Read what is available (at least 1 byte, at most ``max_bytes``); ``b""`` at EOF.

        Raises ``PeerResetError`` after RST, ``Timeout``, ``ConnectionClosedError``.
        """
        if max_bytes <= 0:
            raise ValueError(f"read_some() needs max_bytes > 0, got {max_bytes!r}")
        if not self._rbuf:
            await self._wait_data(1, timeout, "read")
            if not self._rbuf:
                if self._error is not None:
                    raise self._broken("read")
                return b""
        return self._take(max_bytes)

    def unread_bytes(self) -> int:
        """Return how many received bytes no read has consumed yet (buffer plus kernel queue)."""
        pending = len(self._rbuf)
        if not self._closed and self._error is None and not self._eof:
            try:
                raw = fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0")
                pending += struct.unpack("i", raw)[0]
            except OSError:
                pass
        return pending

    # -- writer side ------------------------------------------------------

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

    # -- state --------------------------------------------------------------

    def close(self) -> None:
        """Close the socket now (unsent data is dropped); idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        sched = self._sched
        if not sched._closed:
            sched.remove_reader(self._fd)
            sched.remove_writer(self._fd)
        self._reading = False
        with contextlib.suppress(OSError):
            self.socket.close()
        sched._resources.discard(self)
        self._wake_all()
        for turn in self._write_queue:
            _wake(turn)

    def closed(self) -> bool:
        """Return True once the connection cannot carry a new request.

        True after ``close()``, the peer's FIN or RST, even if it arrived
        while no read was pending (checked with a ``MSG_PEEK`` if unknown).
        """
        if self._closed or self._eof or self._error is not None:
            return True
        try:
            peeked = self.socket.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._fail(exc)
            return True
        if peeked:
            return False
        self._eof = True
        self._pause_reading()
        self._wake_all()
        return True

    def is_connected(self) -> bool:
        """Return ``not closed()``, always."""
        return not self.closed()

    def _state_name(self) -> str:
        if self._closed:
            return "closed"
        if self._error is not None:
            return "reset"
        if self._eof:
            return "peer-closed"
        return "write-shut" if self._write_shut else "open"

    def __repr__(self) -> str:
        return f"<Connection {self.peer} {self._state_name()} {self.initiated_by}>"
