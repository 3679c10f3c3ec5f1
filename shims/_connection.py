"""The backend-neutral TCP connection: reads and writes with deadlines, on top of the core.

Theory of operation: data is appended to one ``bytearray`` by the backend's
data fact; a read takes what it needs from the front, or waits on one backend
future that every fact wakes. Deadlines: a read arms one timer for the whole
call; when it fires the read raises ``ReadTimeout`` having consumed nothing
(bytes stay buffered, the state is unchanged). Reading from the socket stops
above ``HIGH_WATER`` unread bytes and resumes once a read drains below
``LOW_WATER`` or needs more. A write hands the bytes to the transport at once;
if the kernel did not take them all, the transport pauses us (write buffer
limit 0) and the write waits for ``_on_resume_writing`` under one deadline,
raising ``WriteTimeout`` instead of hanging like ``drain()`` (post-mortem bug
8). After the peer's FIN a write is still attempted; after a reset, or once
we closed, it fails at once.
"""

from __future__ import annotations

import socket

from . import _diagnostics, _telemetry
from ._backends._base import Handle
from ._connection_core import ConnectionCore
from ._errors import (
    ConnectionClosedError,
    PeerClosedError,
    ReadLimitError,
    ReadTimeout,
    ShimError,
    WriteTimeout,
)
from ._state import ConnectionState

__all__ = ["Connection"]


def _shutdown_fd(fd: int) -> None:
    """``shutdown(SHUT_WR)`` the socket behind ``fd`` now, without taking ownership of it."""
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_WR)
    finally:
        sock.detach()  # the transport owns the descriptor


_OPEN = ConnectionState.OPEN
_PEER_CLOSED = ConnectionState.PEER_CLOSED
_CLOSED = ConnectionState.CLOSED
_LOW_WATER = 64 * 1024


class Connection(ConnectionCore):
    """A TCP connection, identical on every backend (``shims.connect``, ``shims.serve``).

    ``closed()`` is True once it cannot carry a new request (we closed it, we
    sent FIN, or the peer closed or reset it), right even while idle;
    ``is_connected()`` is ``not closed()``. ``state``, ``close_reason``,
    ``initiated_by``, ``duplex``, ``unread_bytes()`` and ``on_close()`` come
    from ``ConnectionCore``.
    """

    __slots__ = ()

    # -- reads ---------------------------------------------------------------

    async def _wait_readable(self) -> None:
        if self._waiter is not None:
            raise ShimError(f"two tasks read from {self!r} at once; read from one task only")
        if self._reading_paused:
            self._reading_paused = False
            self._t.resume_reading()
        w = self._waiter = self._clock.create_future()
        try:
            await w
        finally:
            self._waiter = None

    def _on_read_deadline(self) -> None:
        self._read_timed_out = True
        self._wake_reader()

    def _arm_read_timer(self, timeout: float) -> Handle:
        self._read_timed_out = False
        return self._clock.call_later(timeout, self._on_read_deadline)

    def _consumed(self) -> None:
        if self._reading_paused and len(self._buf) <= _LOW_WATER:
            self._reading_paused = False
            self._t.resume_reading()

    def _timeout_error(self, what: str, timeout: float | None) -> ReadTimeout:
        _telemetry.read_timeout(self)
        return ReadTimeout(
            f"{what} on {self!r} got no complete answer within timeout={timeout!r} s; "
            f"nothing was consumed ({len(self._buf)} bytes buffered), the connection is still open"
        )

    async def read_exactly(self, n: int, *, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Read exactly ``n`` bytes.

        Raises ``PeerClosedError`` (``.partial`` holds what arrived) if the peer
        closes or resets first, ``ReadTimeout`` at the deadline (nothing
        consumed), ``ConnectionClosedError`` after ``close()``.
        """
        buf = self._buf
        if self._closed_locally:
            raise self._end_error(f"read_exactly({n})")
        if len(buf) < n:
            # The hot path of a request/response: _wait_readable inlined (one frame less).
            if self._waiter is not None:
                raise ShimError(f"two tasks read from {self!r} at once; read from one task only")
            timer = None if timeout is None else self._arm_read_timer(timeout)
            create_future = self._clock.create_future
            try:
                while len(buf) < n:
                    if self._eof or self._fatal is not None or self._closed_locally:
                        if self._closed_locally:
                            raise self._end_error(f"read_exactly({n})")
                        raise self._end_error(f"read_exactly({n})", self._take_all())
                    if self._reading_paused:
                        self._reading_paused = False
                        self._t.resume_reading()
                    w = self._waiter = create_future()
                    await w
                    self._waiter = None
                    if self._read_timed_out and len(buf) < n:
                        raise self._timeout_error(f"read_exactly({n})", timeout)
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
                    self._read_timed_out = False
            if len(buf) == n:  # the usual case: the whole buffer is the answer
                data = bytes(buf)
                buf.clear()
                if self._reading_paused:
                    self._consumed()
                return data
        data = bytes(buf[:n])
        del buf[:n]
        if self._reading_paused:
            self._consumed()
        return data

    async def read_until(
        self,
        separator: bytes,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        limit: int = 65536,
    ) -> bytes:
        """Read up to and including ``separator``.

        Raises ``ReadLimitError`` if ``limit`` bytes arrive without the separator
        (nothing consumed), else as ``read_exactly``.
        """
        if not separator:
            raise ValueError("read_until() needs a non-empty separator")
        buf = self._buf
        what = f"read_until({separator!r})"
        timer = None
        start = 0
        try:
            while True:
                if self._closed_locally:
                    raise self._end_error(what)
                end = buf.find(separator, start)
                if end >= 0:
                    end += len(separator)
                    if end <= limit:
                        break
                if end > limit or len(buf) >= limit:
                    raise ReadLimitError(
                        f"{what} on {self!r}: separator not found within limit={limit} bytes; "
                        "pass a larger limit= or read with read_some()"
                    )
                if self._eof or self._fatal is not None:
                    raise self._end_error(what, self._take_all())
                start = max(0, len(buf) - len(separator) + 1)
                if timer is None and timeout is not None:
                    timer = self._arm_read_timer(timeout)
                await self._wait_readable()
                if self._read_timed_out and buf.find(separator, start) < 0:
                    raise self._timeout_error(what, timeout)
        finally:
            if timer is not None:
                timer.cancel()
                self._read_timed_out = False
        data = bytes(buf[:end])
        del buf[:end]
        if self._reading_paused:
            self._consumed()
        return data

    async def read_some(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Read what is there (at least one byte, at most ``max_bytes``); ``b""`` at the peer's FIN.

        Raises ``PeerClosedError(reason="reset")`` after a reset, ``ReadTimeout``
        at the deadline, ``ConnectionClosedError`` after ``close()``.
        """
        buf = self._buf
        if not buf:
            timer = None if timeout is None else self._arm_read_timer(timeout)
            try:
                while not buf:
                    if self._closed_locally or self._fatal is not None:
                        raise self._end_error(f"read_some({max_bytes})")
                    if self._eof:
                        return b""
                    await self._wait_readable()
                    if self._read_timed_out and not buf:
                        raise self._timeout_error(f"read_some({max_bytes})", timeout)
            finally:
                if timer is not None:
                    timer.cancel()
                    self._read_timed_out = False
        elif self._closed_locally:
            raise self._end_error(f"read_some({max_bytes})")
        data = bytes(buf[:max_bytes])
        del buf[:max_bytes]
        if self._reading_paused:
            self._consumed()
        return data

    # -- writes and closing --------------------------------------------------

    def _transport_gone(self, what: str, exc: BaseException) -> PeerClosedError:
        # The transport failed (and closed) in this very turn; its connection_lost fact
        # is still queued. uvloop raises RuntimeError from write() in that window.
        _telemetry.eof(self)
        return PeerClosedError(
            f"{what} on {self!r}: the connection broke underneath ({exc!r})", reason="reset"
        )

    def _write_error(self, what: str) -> BaseException:
        if self._write_shut and self._fatal is None:
            return ConnectionClosedError(
                f"{what} on {self!r} after shutdown_write(); the sending side is closed"
            )
        return self._end_error(what)

    async def write(
        self,
        data: bytes | bytearray | memoryview,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Hand ``data`` to the kernel; one deadline (``timeout``) covers the whole call.

        Raises ``WriteTimeout`` if the peer does not take the bytes in time (the
        rest stays queued; close the connection), ``PeerClosedError`` once the
        peer reset or fully went away (after a mere FIN the write is still
        attempted), ``ConnectionClosedError`` after ``close()`` or
        ``shutdown_write()``.
        """
        state = self._state
        if state is not _OPEN and state is not _PEER_CLOSED:
            raise self._write_error("write")
        try:
            self._t.write(data)
        except (RuntimeError, OSError) as exc:
            raise self._transport_gone("write", exc) from exc
        if self._write_paused:
            await self._drain(timeout)

    async def _drain(self, timeout: float | None) -> None:  # noqa: ASYNC109
        clock = self._clock
        expired = False

        def on_deadline() -> None:
            nonlocal expired
            expired = True
            self._wake_writers()

        timer = None if timeout is None else clock.call_later(timeout, on_deadline)
        try:
            while self._write_paused:
                state = self._state
                if state is not _OPEN and state is not _PEER_CLOSED:
                    raise self._write_error("write")
                if expired:
                    _telemetry.write_timeout(self)
                    raise WriteTimeout(
                        f"write on {self!r}: the peer did not take the data within "
                        f"timeout={timeout!r} s (it stopped reading?); close the connection"
                    )
                w = clock.create_future()
                self._drain_waiters.append(w)
                await w
        finally:
            if timer is not None:
                timer.cancel()

    async def shutdown_write(self) -> None:
        """Send FIN (half-close); reading stays possible. Idempotent.

        When it returns the FIN is in the kernel on every backend (uvloop's own
        ``write_eof`` would send it on the loop's next turn), unless an earlier
        write timed out with bytes still queued: then the FIN follows them.

        Raises ``ConnectionClosedError`` after ``close()``, ``PeerClosedError``
        after a reset.
        """
        if self._write_shut:
            return
        state = self._state
        if state is not _OPEN and state is not _PEER_CLOSED:
            raise self._write_error("shutdown_write")
        try:
            t = self._t
            # is_closing() only tells whether the transport still owns the descriptor
            # (never used as liveness): a closing transport may have closed the fd.
            if self._write_paused or self._fd < 0 or t.is_closing():
                t.write_eof()  # bytes still queued: the FIN follows them
            else:
                _shutdown_fd(self._fd)
        except (RuntimeError, OSError) as exc:
            raise self._transport_gone("shutdown_write", exc) from exc
        self._write_shut = True
        self._fire("shutdown_write")

    def close(self) -> None:
        """Close the connection; idempotent, never raises. ``on_close`` callbacks run now."""
        if self._state is _CLOSED:
            self._closed_locally = True
            return
        self._closed_locally = True
        try:
            self._fire("close")
        except Exception as exc:  # a broken transport must not make close() raise
            _diagnostics.record_unhandled(exc, "closing %r failed", self)
