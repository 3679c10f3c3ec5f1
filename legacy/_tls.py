"""TLS for the legacy runtime's ``Connection``: non-blocking, over ``ssl.MemoryBIO``/``SSLObject``.

Theory of operation
-------------------
``start_tls`` turns a plain ``Connection`` into a ``TLSConnection`` in place
(the object a service holds carries on), as an in-house runtime without
``ssl.SSLSocket`` support would do it: the socket stays a plain
non-blocking socket driven by the scheduler; records read from it go into
an incoming ``MemoryBIO`` and the plaintext ``SSLObject.read`` yields goes
into the same read buffer as on a plain connection, so every read method is
unchanged. A write encrypts first and hands the records to the plain write
path (its FIFO turns keep records in the order they were encrypted).

Ends of stream, the same way the shim documents them: the peer's
``close_notify`` is an orderly end (reads see EOF); a FIN without it is a
truncation (``PeerClosedError`` with ``reason="truncated"``); ``close()``
sends ``close_notify`` best-effort and closes at once, never waiting for the
peer's. ``closed()`` and ``unread_bytes()`` first decrypt what the kernel
holds, so TLS 1.3 session tickets are not mistaken for unread data.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

from ._connection import Connection
from ._errors import PeerClosedError, Timeout, TLSError
from ._futures import Future
from ._writer import _set_timed_out

__all__ = ["TLSConnection", "start_tls"]


class TLSConnection(Connection):
    """A ``Connection`` after ``start_tls``: the same API, over TLS."""

    _tls_in: ssl.MemoryBIO
    _tls_out: ssl.MemoryBIO
    _tls_obj: ssl.SSLObject
    _tls_done: bool
    _tls_notified: bool
    _tls_shut: bool
    _tls_waiter: Future[None] | None

    # -- reading ------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            n = self.socket.recv_into(self._sched._scratch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._tls_finish(exc)
            self._fail(exc)
            return
        if not n:
            self._raw_eof()
            return
        self._tls_in.write(self._sched._scratch_view[:n])
        if self._tls_done:
            self._decrypt()
        else:
            self._step()

    def _decrypt(self) -> None:
        obj = self._tls_obj
        while True:
            try:
                chunk = obj.read(256 * 1024)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLError as exc:
                self._fail(exc)
                return
            if not chunk:  # the peer's close_notify
                self._tls_notified = True
                self._end_of_stream()
                return
            self._received(chunk)
            if not self._tls_in.pending and not obj.pending():
                break
        self._send_records()

    def _raw_eof(self) -> None:
        if not self._tls_done:
            self._tls_finish(ConnectionResetError("the peer closed during the TLS handshake"))
            self._end_of_stream()
        elif not self._tls_notified:
            self._fail(ssl.SSLEOFError(ssl.SSL_ERROR_EOF, "EOF occurred in violation of protocol"))
        else:
            self._end_of_stream()

    def _broken(self, action: str, partial: bytes = b"") -> OSError:
        if not self._closed and isinstance(self._error, ssl.SSLEOFError):
            got = f" after {len(partial)} bytes" if partial else ""
            exc = PeerClosedError(
                f"cannot {action}: {self.peer} closed the TLS connection without close_notify"
                f"{got}; what arrived may be cut short",
                partial=partial,
                reason="truncated",
            )
            exc.__cause__ = self._error
            return exc
        return super()._broken(action, partial)

    def _drain_kernel(self) -> None:
        """Read and decrypt what the kernel holds now (session tickets, close_notify, FIN)."""
        while not (self._closed or self._eof or self._error is not None):
            before = (len(self._rbuf), self._tls_in.pending)
            self._on_readable()
            if (len(self._rbuf), self._tls_in.pending) == before and not (self._eof or self._error):
                return

    def closed(self) -> bool:
        """Return True once the connection cannot carry a new request (kernel bytes decrypted first)."""
        self._drain_kernel()
        return self._closed or self._eof or self._error is not None

    def unread_bytes(self) -> int:
        """Return how many plaintext bytes no read has consumed (records in the kernel decrypted)."""
        self._drain_kernel()
        return len(self._rbuf)

    # -- writing and closing ------------------------------------------------

    def _send_records(self) -> None:
        """Send handshake or alert records now (small; what the kernel refuses is dropped)."""
        data = self._tls_out.read()
        with contextlib.suppress(OSError):
            while data:
                sent = self.socket.send(data)
                data = data[sent:]

    async def write(
        self,
        data: bytes | bytearray | memoryview,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Encrypt ``data`` and send the records (see ``Connection.write``)."""
        if self._closed or self._error is not None or self._write_shut:
            raise self._write_refused()
        self._tls_obj.write(data)
        await super().write(self._tls_out.read(), timeout=timeout)

    async def shutdown_write(self) -> None:
        """Send ``close_notify`` then FIN (TLS 1.3 half-close); reading stays possible."""
        if not self._tls_shut and not (self._closed or self._error is not None):
            self._tls_shut = True
            with contextlib.suppress(ssl.SSLError, ValueError):
                self._tls_obj.unwrap()
            await super().write(self._tls_out.read())
        await super().shutdown_write()

    def close(self) -> None:
        """Send ``close_notify`` (best effort, no wait for the peer's) and close."""
        if not (self._closed or self._tls_shut) and self._tls_done and self._error is None:
            self._tls_shut = True
            # Unread records in the kernel would turn our FIN into an RST: discard them.
            with contextlib.suppress(OSError):
                for _ in range(64):
                    if not self.socket.recv(256 * 1024):
                        break
            with contextlib.suppress(ssl.SSLError, ValueError):
                self._tls_obj.unwrap()
            self._send_records()
        super().close()

    # -- handshake ----------------------------------------------------------

    def _step(self) -> None:
        try:
            self._tls_obj.do_handshake()
        except ssl.SSLWantReadError:
            self._send_records()
            return
        except (ssl.SSLError, OSError) as exc:
            self._send_records()  # the alert tells the peer why
            self._tls_finish(exc)
            return
        self._tls_done = True
        self._send_records()
        self._tls_finish(None)
        if self._tls_in.pending:
            self._decrypt()

    def _tls_finish(self, exc: BaseException | None) -> None:
        waiter = self._tls_waiter
        if waiter is None or waiter.done():
            return
        if exc is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(exc)


def _tls_error(exc: BaseException, where: str) -> TLSError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return TLSError(f"TLS with {where}: certificate verification failed: {reason}")
    return TLSError(f"TLS with {where}: handshake failed: {exc}")


async def start_tls(
    conn: Connection,
    ssl_context: Any,
    *,
    server_hostname: str | None,
    timeout: float | None,  # noqa: ASYNC109
) -> None:
    """Upgrade ``conn`` in place; see ``Connection.start_tls``."""
    if conn._closed or conn._eof or conn._error is not None:
        raise conn._broken("start TLS")
    if not isinstance(ssl_context, ssl.SSLContext):
        raise TLSError(f"start_tls() needs an ssl.SSLContext, got {ssl_context!r}")
    if isinstance(conn, TLSConnection):
        raise TLSError(f"the connection to {conn.peer} is already TLS; start_tls() is done once")
    if conn._rbuf:
        raise TLSError(
            f"{len(conn._rbuf)} plaintext bytes from {conn.peer} arrived before the upgrade "
            "and were not read; read the answer to the upgrade request first"
        )
    server_side = conn.initiated_by == "peer"
    try:
        obj_in, obj_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ssl_context.wrap_bio(
            obj_in, obj_out, server_side=server_side, server_hostname=server_hostname
        )
    except (ValueError, ssl.SSLError) as exc:
        conn.close()
        raise TLSError(f"cannot start TLS with {conn.peer}: {exc}") from exc
    conn._pause_reading()  # re-registered below with the TLS reader
    conn.__class__ = TLSConnection
    assert isinstance(conn, TLSConnection)
    conn._tls_in, conn._tls_out, conn._tls_obj = obj_in, obj_out, obj
    conn._tls_done = conn._tls_notified = conn._tls_shut = False
    waiter: Future[None] = Future(conn._sched)
    conn._tls_waiter = waiter
    timer = None
    if timeout is not None:
        message = f"TLS handshake with {conn.peer} did not complete within {timeout!r} s"
        timer = conn._sched.call_later(timeout, _set_timed_out, waiter, message)
    conn._resume_reading()
    try:
        conn._step()
        await waiter
    except Timeout:
        conn.close()
        raise
    except (ssl.SSLError, OSError) as exc:
        conn.close()
        raise _tls_error(exc, conn.peer) from exc
    except BaseException:
        conn.close()
        raise
    finally:
        conn._tls_waiter = None
        if timer is not None:
            timer.cancel()
