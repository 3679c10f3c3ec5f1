"""The core of the backend-neutral connection: state, facts, callbacks, liveness, errors.

Theory of operation: a backend pushes facts in (``_on_data``, ``_on_eof``,
``_on_lost``, ``_on_pause_writing``, ``_on_resume_writing``) as soon as its
loop sees them, whether or not a read is pending, so a FIN that arrives while
the connection sits idle flips ``state`` and runs ``on_close`` callbacks right
away (post-mortem bug 1: ``closed()`` from ``is_closing()`` stayed False in
CLOSE_WAIT). ``closed()`` reads one attribute: no system call.

Every state change goes through ``_state.transition`` (one table); facts that
arrive after ``CLOSED`` (the transport's own ``connection_lost`` after our
``close()``) are dropped before they reach the table. Native errors are turned
into the shim's error tree in one place, ``_lost_event`` and ``_end_error``,
keeping the native error as ``__cause__``. Reads and writes live in
``_connection.Connection``, built on this class.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any, Literal

from . import _diagnostics, _telemetry
from ._backends._base import Clock, Transport, Waiter
from ._errors import ConnectionClosedError, PeerClosedError
from ._state import CLOSE_REASON, ConnectionState, Event, transition

__all__ = ["ConnectionCore"]

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED

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


class ConnectionCore:
    """State, facts and callbacks of a connection; ``Connection`` adds reads and writes."""

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
        _telemetry.opened(self)

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
        _telemetry.fired(self, old, new)
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
        _telemetry.eof(self)
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
