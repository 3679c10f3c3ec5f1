"""The backend-neutral TCP connection: state, facts, liveness, errors, reads and writes.

Theory of operation: a backend pushes facts in (``_on_data``, ``_on_eof``,
``_on_lost``, ``_on_pause_writing``, ``_on_resume_writing``; see
``shims.backends.Facts``) as soon as its loop sees them, whether or not a read
is pending, so a FIN that arrives while the connection sits idle flips
``state`` and runs ``on_close`` callbacks right away (post-mortem bug 1:
``closed()`` from ``is_closing()`` stayed False in CLOSE_WAIT). ``closed()``
reads one attribute: no system call.

Every state change goes through ``_state.transition`` (one table); facts that
arrive after ``CLOSED`` (the transport's own ``connection_lost`` after our
``close()``) are dropped before they reach the table. Native errors are turned
into the shim's error tree in one place, ``_lost_event`` and ``_end_error``,
keeping the native error as ``__cause__``.

Reads: data is appended to one ``bytearray`` by the data fact; a read takes
what it needs from the front, or waits on one backend future that every fact
wakes. A read arms one timer for the whole call; when it fires the read
raises ``ReadTimeout`` having consumed nothing. Reading from the socket stops
above ``HIGH_WATER`` unread bytes and resumes below ``_LOW_WATER``. Writes
hand the bytes to the transport at once; if the kernel did not take them all
the transport pauses us and the write waits for ``_on_resume_writing`` under
one deadline, raising ``WriteTimeout`` instead of hanging (post-mortem bug
8). After the peer's FIN a write is still attempted; after a reset, or once
we closed, it fails at once.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import Any, Literal

from . import _diagnostics
from ._contract import Clock, Handle, Transport, Waiter
from ._errors import (
    ConnectionClosedError,
    PeerClosedError,
    ReadLimitError,
    ReadTimeout,
    ShimError,
    WriteTimeout,
)
from ._state import CLOSE_REASON, ConnectionState, Event, transition

__all__ = ["HIGH_WATER", "Connection"]


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

# Stop reading from the socket above this many unread bytes (reads resume it).
HIGH_WATER = 256 * 1024
_POLLRDHUP: int = getattr(select, "POLLRDHUP", 0x2000)
_PROBE_MASK = select.POLLIN | select.POLLPRI | _POLLRDHUP


def _lost_event(exc: BaseException | None) -> Event:
    """Map how a transport went away to a state-machine event (the one error mapping)."""
    if exc is None:
        return "lost"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    return "error"


class Connection:
    """A TCP connection, identical on every backend (``shims.connect``, ``shims.serve``).

    ``closed()`` is True once it cannot carry a new request (we closed it, we
    sent FIN, or the peer closed or reset it), right even while idle;
    ``is_connected()`` is ``not closed()``.
    """

    __slots__ = (
        "__weakref__",
        "_buf",
        "_callbacks",
        "_clock",
        "_closed_locally",
        "_drain_waiters",
        "_eof",
        "_fatal",
        "_fd",
        "_poller",
        "_read_timed_out",
        "_reading_paused",
        "_state",
        "_t",
        "_waiter",
        "_write_paused",
        "_write_shut",
        "backend",
        "close_reason",
        "duplex",
        "initiated_by",
        "peer",
    )

    def __init__(
        self,
        transport: Transport,
        clock: Clock,
        *,
        backend: str,
        initiated_by: Literal["local", "peer"],
        peer: tuple[str, int],
        fd: int,
        duplex: bool = False,
    ) -> None:
        self._t = transport
        self._clock = clock
        self._buf = bytearray()
        self._state = _OPEN
        self._eof = False
        self._fatal: BaseException | None = None
        self._closed_locally = False
        self._write_shut = False
        self._write_paused = False
        self._reading_paused = False
        self._read_timed_out = False
        self._waiter: Waiter | None = None
        self._drain_waiters: list[Waiter] = []
        self._callbacks: list[Callable[[Any], object]] = []
        self._fd = fd
        self._poller: Any = None
        self.backend = backend
        self.initiated_by = initiated_by
        self.peer = peer
        self.duplex = duplex
        self.close_reason: str | None = None
        _diagnostics.track(self)

    # -- observation ---------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The current ``ConnectionState``."""
        return self._state

    def closed(self) -> bool:
        """Return True once the connection cannot carry a new request (no system call)."""
        return self._state is not _OPEN

    def is_connected(self) -> bool:
        """Return ``not closed()``; there is no second flag that could drift."""
        return self._state is _OPEN

    def unread_bytes(self) -> int:
        """Return how many received bytes have not been read yet."""
        return len(self._buf)

    def on_close(self, callback: Callable[[Any], object]) -> None:
        """Run ``callback(conn)`` once, when ``closed()`` becomes True (at once if it already is).

        A callback that raises is logged and recorded in ``shims`` diagnostics;
        it never stops the other callbacks or the close.
        """
        if self._state is _OPEN:
            self._callbacks.append(callback)
        else:
            self._run_callback(callback)

    def __repr__(self) -> str:
        host, port = self.peer[0], self.peer[1]
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"<Connection {where} {self.backend} {self._state.name} {self.initiated_by}>"

    # -- facts pushed by the backend -----------------------------------------

    def _on_data(self, data: bytes) -> None:
        if self._state is _CLOSED:
            return
        buf = self._buf
        buf += data
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)
        if len(buf) > HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self._t.pause_reading()

    def _on_eof(self) -> None:
        if self._eof or self._state is _CLOSED:
            return
        self._eof = True
        self._fire("peer_fin")
        self._wake_reader()

    def _on_lost(self, exc: BaseException | None) -> None:
        if self._state is _CLOSED:
            return
        event = _lost_event(exc)
        if event != "lost":
            self._fatal = exc
        elif not self._eof:
            self._eof = True
        self._fire(event)

    def _on_pause_writing(self) -> None:
        self._write_paused = True

    def _on_resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writers()

    # -- state ---------------------------------------------------------------

    def _fire(self, event: Event) -> None:
        old = self._state
        new = transition(old, event)
        self._state = new
        if old is _OPEN:
            self.close_reason = CLOSE_REASON[event]
        if new is _CLOSED:
            _diagnostics.untrack(self)
            if self._write_paused and event == "close":
                self._t.abort()  # unsent bytes to a peer that is not reading: drop them
            else:
                self._t.close()
            self._wake_reader()
            self._wake_writers()
        if old is _OPEN:
            callbacks, self._callbacks = self._callbacks, []
            for cb in callbacks:
                self._run_callback(cb)

    def _run_callback(self, cb: Callable[[Any], object]) -> None:
        try:
            cb(self)
        except Exception as exc:
            _diagnostics.record_unhandled(exc, "on_close callback %r of %r raised", cb, self)

    def _wake_reader(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _wake_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _probe(self) -> bool:
        """Return True if the connection is alive right now, without a round trip.

        Checks the state, then polls the socket with a zero timeout for an EOF
        or RST the loop has not read yet (and records it as a fact). Unsolicited
        bytes waiting in the kernel count as dead for a ``duplex=False``
        connection (they are an answer nobody asked for).
        """
        if self._state is not _OPEN:
            return False
        if self._fd < 0:
            return True
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(self._fd, _PROBE_MASK)
        events = poller.poll(0)
        if not events:
            return True
        mask = events[0][1]
        if mask & select.POLLERR:
            self._on_lost(ConnectionResetError("reset seen by the liveness probe"))
            return False
        if mask & (_POLLRDHUP | select.POLLHUP):
            self._on_eof()
            return False
        return self.duplex

    # -- errors --------------------------------------------------------------

    def _end_error(self, what: str, partial: bytes = b"") -> BaseException:
        """Return the error for a read or write that hit the end of the connection."""
        if self._closed_locally:
            return ConnectionClosedError(
                f"{what} on {self!r} after close(); open a new connection (or acquire one "
                "from the pool) instead"
            )
        fatal = self._fatal
        if fatal is not None:
            err = PeerClosedError(
                f"{what} on {self!r}: the peer reset the connection ({fatal!r})",
                partial=partial,
                reason="reset",
            )
            err.__cause__ = fatal
            return err
        return PeerClosedError(
            f"{what} on {self!r}: the peer closed the connection"
            + (f" after {len(partial)} bytes of a partial message" if partial else ""),
            partial=partial,
            reason="peer",
        )

    def _take_all(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data

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
