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

Writing (``_writer._Writer``) tries ``send`` at once and only waits on the
selector for what the kernel did not take.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import socket
import ssl
import struct
import termios
from collections import deque

from ._errors import ConnectionClosedError, LimitExceededError, PeerClosedError, PeerResetError
from ._futures import Future
from ._scheduler import Scheduler, monotonic
from ._writer import _set_timed_out, _wake, _Writer

__all__ = ["Connection"]

_HIGH_WATER = 1 << 20  # stop reading from the kernel past this many unread bytes
_RESET_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN}


class Connection(_Writer):
    """A TCP connection: buffered reads, writes that wait for the kernel, half-close.

    ``socket`` is the underlying non-blocking socket; ``peer`` is ``"host:port"``;
    ``initiated_by`` is ``"local"`` (from ``connect``) or ``"peer"`` (accepted);
    ``duplex`` is the caller's word that unread data is normal on it (a
    full-duplex protocol), as the shim's ``Connection.duplex``.
    """

    def __init__(
        self, sock: socket.socket, scheduler: Scheduler, *, initiated_by: str, duplex: bool = False
    ) -> None:
        self.socket = sock
        self.initiated_by = initiated_by
        self.duplex = duplex
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
            n = self.socket.recv_into(self._sched._scratch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if n:
            self._received(self._sched._scratch_view[:n])
        else:
            self._end_of_stream()

    def _received(self, data: bytes | memoryview) -> None:
        rbuf = self._rbuf
        rbuf += data
        waiter = self._read_waiter
        if waiter is not None:
            if len(rbuf) >= self._read_need:
                self._read_waiter = None
                _wake(waiter)
        elif len(rbuf) >= _HIGH_WATER:
            self._pause_reading()

    def _end_of_stream(self) -> None:
        self._eof = True  # the peer's FIN: writing may go on (it may only half-close)
        self._pause_reading()
        self._wake_reader()

    def _fail(self, exc: OSError) -> None:
        """Record that the stream broke (RST or socket error) and wake every waiter."""
        if self._error is None:
            self._error = exc
        self._pause_reading()
        self._wake_all()

    def _wake_reader(self) -> None:
        waiter, self._read_waiter = self._read_waiter, None
        _wake(waiter)

    def _wake_all(self) -> None:
        self._wake_reader()
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

    # -- TLS ----------------------------------------------------------------

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        *,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Upgrade this connection to TLS in-band (e.g. MySQL's SSL request); see ``_tls``.

        Raises ``TLSError`` (handshake or certificate failure, already TLS,
        not a context) and ``Timeout`` at the deadline, both closing the
        connection; ``ConnectionClosedError``/``PeerClosedError`` if it ended.
        """
        from ._tls import start_tls

        await start_tls(self, ssl_context, server_hostname=server_hostname, timeout=timeout)

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
        self._wake_reader()
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
