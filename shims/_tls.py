"""TLS for every backend: one layer over ``ssl.MemoryBIO``/``SSLObject``, between transport and connection.

Theory of operation: a backend only moves bytes. When a connection goes TLS
(``connect(ssl=...)``, ``serve(ssl=...)`` or ``start_tls``), a ``TLSLayer``
is put in two places at once: it becomes the connection's transport (the
connection writes plaintext into it; it encrypts and writes records to the
backend's transport), and the connection's byte facts are handed to it
(``Connection._on_data`` and ``_on_eof`` divert to ``feed`` and
``raw_eof`` while a layer is set). So any backend that pushes facts and
offers the ``Transport`` methods gets TLS from this module, with the same
close semantics everywhere (docs/shims.md, "TLS close semantics"):

- ``close()`` sends ``close_notify`` (one ``SSL_shutdown``) then closes the
  socket at once: it never waits for the peer's ``close_notify``
  (aiohttp#11091: a TLS 1.3 peer need not answer it);
- the peer's ``close_notify`` is the orderly end of its stream (a FIN fact:
  ``PEER_CLOSED``, ``close_reason == "peer"``), whether or not its TCP FIN
  follows;
- a TCP FIN with no ``close_notify`` before it is a truncation: the
  connection's ``_on_truncated`` fact (``close_reason == "truncated"``, reads
  raise ``TLSTruncatedError``), never silently a clean close;
- a record that does not decrypt is a fatal ``error`` fact.

Reading never raises ``SSLWantReadError`` on the hot path: after a record is
decrypted, ``pending()`` and the BIO's byte count tell whether more can come
out of what arrived. Post-handshake records that carry no application data
(TLS 1.3 session tickets, key updates) are consumed here and produce no
plaintext, which is what lets the pool's liveness probe keep such a
connection (``Connection._probe`` feeds kernel bytes through ``feed``).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import TYPE_CHECKING, Any

from ._contract import Handle, Transport, Waiter
from ._errors import ConnectTimeout, TLSError

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["TLSInfo", "TLSLayer"]

_READ_SIZE = 256 * 1024
# One TLS record holds at most 16 KiB of plaintext: read a record at a time, so each
# read allocates a small buffer (a 256 KiB one would cost an mmap per record).
_RECORD_SIZE = 16 * 1024


class TLSInfo:
    """What a TLS connection negotiated (``conn.tls``), for logging."""

    __slots__ = ("_obj",)

    def __init__(self, obj: ssl.SSLObject) -> None:
        self._obj = obj

    @property
    def version(self) -> str | None:
        """The protocol version, e.g. ``"TLSv1.3"``."""
        return self._obj.version()

    @property
    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)`` of the negotiated cipher."""
        return self._obj.cipher()

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's certificate as ``SSLSocket.getpeercert()`` decodes it (None if it sent none)."""
        cert = self._obj.getpeercert()
        return dict(cert) if cert else None

    @property
    def server_hostname(self) -> str | None:
        """The name the client checked the certificate against (None on the server side)."""
        return self._obj.server_hostname

    @property
    def alpn_protocol(self) -> str | None:
        """The ALPN protocol both sides agreed on, if any."""
        return self._obj.selected_alpn_protocol()

    def __repr__(self) -> str:
        cipher = self.cipher
        return f"<TLSInfo {self.version} {cipher[0] if cipher else '?'}>"


class TLSLayer:
    """``Transport`` towards the connection, record layer towards the backend's transport."""

    __slots__ = (
        "_conn",
        "_done",
        "_expired",
        "_fd",
        "_fin",
        "_incoming",
        "_notified",
        "_obj",
        "_outgoing",
        "_raw",
        "_shut",
        "_timer",
        "_waiter",
        "info",
    )

    def __init__(
        self,
        conn: Connection,
        raw: Transport,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None,
        fd: int,
    ) -> None:
        self._conn = conn
        self._raw = raw
        self._fd = fd
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
        )
        self._done = False  # handshake finished
        self._notified = False  # the peer's close_notify arrived
        self._shut = False  # we sent close_notify
        self._expired = False
        self._fin = False  # the peer's TCP FIN arrived
        self._waiter: Waiter | None = None
        self._timer: Handle | None = None
        self.info = TLSInfo(self._obj)

    # -- handshake -----------------------------------------------------------

    async def handshake(
        self,
        timeout: float | None,  # noqa: ASYNC109
        what: str,
        budget: float | None = None,
    ) -> None:
        """Run the handshake to completion; the caller closes the connection on error.

        ``budget`` is the caller's whole deadline (connect plus handshake),
        named in the timeout message; ``timeout`` is what is left of it.

        Raises ``TLSError`` (handshake, certificate or hostname failure, the
        peer closing first, bytes that are not TLS) and ``ConnectTimeout`` when
        ``timeout`` passes first.
        """
        clock = self._conn._clock
        waiter = self._waiter = clock.create_future()
        if timeout is not None:
            self._timer = clock.call_later(timeout, self._on_deadline)
        try:
            self._step()
            await waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._expired:
            raise ConnectTimeout(
                f"{what}: the TLS handshake did not complete within "
                f"timeout={timeout if budget is None else budget!r} s "
                "(the peer sent nothing, or is not speaking TLS)"
            )
        exc = waiter.result()
        if exc is not None:
            raise self._handshake_error(exc, what) from exc

    def _on_deadline(self) -> None:
        self._expired = True
        self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(exc)

    def _step(self) -> None:
        """Advance the handshake with what arrived so far; flush what it wrote."""
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # the alert tells the peer why
            self._finish(exc)
            return
        self._done = True
        self._flush()
        self._finish(None)
        if self._incoming.pending:
            self._decrypt()  # application data that came with the last handshake flight

    @staticmethod
    def _handshake_error(exc: BaseException, what: str) -> TLSError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or exc.reason or str(exc)
            return TLSError(
                f"{what}: certificate verification failed: {reason} (verify code "
                f"{exc.verify_code}); check the CA in the context (cafile=...) and "
                "server_hostname",
                verify_message=reason,
            )
        if isinstance(exc, ssl.SSLError):
            reason = exc.reason or str(exc)
            return TLSError(
                f"{what}: TLS handshake failed: {reason} ({exc}); is the peer speaking TLS "
                "with a protocol version and cipher this context allows?",
                verify_message=None,
            )
        return TLSError(f"{what}: TLS handshake failed: {exc}", verify_message=None)

    # -- bytes from the backend ---------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take records from the backend; hand the plaintext to the connection."""
        self._incoming.write(data)
        if self._done:
            self._decrypt()
        elif self._waiter is not None:
            self._step()

    def _decrypt(self) -> None:
        obj = self._obj
        incoming = self._incoming
        conn = self._conn
        while True:
            try:
                chunk = obj.read(_RECORD_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self._on_close_notify()
                return
            except ssl.SSLError as exc:
                conn._on_lost(exc)
                return
            if not chunk:  # OpenSSL 3 reports a clean close this way too
                self._on_close_notify()
                return
            conn._plain_data(chunk)
            if not incoming.pending and not obj.pending():
                break
        if self._outgoing.pending:
            self._flush()  # e.g. the answer to a key update

    def _on_close_notify(self) -> None:
        if not self._notified:
            self._notified = True
            self._conn._plain_eof()

    def raw_eof(self) -> None:
        """The backend saw the peer's TCP FIN (idempotent: the probe may see it first)."""
        if self._fin:
            return
        self._fin = True
        if not self._done:
            self._finish(
                ConnectionResetError("the peer closed the connection during the TLS handshake")
            )
            self._conn._plain_eof()
            return
        if self._incoming.pending:
            self._decrypt()
        if not self._notified:
            self._conn._on_truncated()

    def raw_lost(self, exc: BaseException | None) -> None:
        """The backend's transport went away (RST, error, or after our close)."""
        if not self._done:
            self._finish(
                exc or ConnectionResetError("the connection was lost during the handshake")
            )

    # -- the Transport contract towards the connection ----------------------

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._raw.write(data)

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        if self._shut:
            return
        try:
            self._obj.write(data)
        except ssl.SSLError as exc:
            self._conn._on_lost(exc)
            return
        self._raw.write(self._outgoing.read())

    def _send_close_notify(self) -> None:
        if self._shut or not self._done:
            return
        self._shut = True
        # One SSL_shutdown: our close_notify, no wait for theirs (SSLWantReadError says
        # it has not come; we do not wait for it).
        with contextlib.suppress(ssl.SSLError, OSError, ValueError):
            self._obj.unwrap()
        self._flush()

    def write_eof(self) -> None:
        """End our side: ``close_notify`` then the TCP FIN (TLS 1.3 allows half-close)."""
        self._send_close_notify()
        if self._fd >= 0 and not self._raw.is_closing():
            try:
                sock = socket.socket(fileno=self._fd)
                try:
                    sock.shutdown(socket.SHUT_WR)
                finally:
                    sock.detach()
                return
            except OSError:
                pass
        self._raw.write_eof()

    def is_closing(self) -> bool:
        return self._raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None, /) -> Any:
        """The raw transport's answers, plus ``"ssl_object"`` (the ``ssl.SSLObject``)."""
        if name == "ssl_object":
            return self._obj
        return self._raw.get_extra_info(name, default)

    def close(self) -> None:
        """Send ``close_notify`` and close the socket now; never waits for the peer's.

        Records already in the kernel (session tickets, data nobody will
        read) are discarded first: closing over unread bytes would turn the
        FIN into an RST and could destroy the close_notify in flight.
        """
        self._discard_kernel()
        self._send_close_notify()
        self._raw.close()

    def _discard_kernel(self) -> None:
        # A closing transport may have closed the descriptor (and its number be reused).
        if self._fd < 0 or self._raw.is_closing():
            return
        sock = socket.socket(fileno=self._fd)
        try:
            for _ in range(64):  # bounded: never a wait, never an endless peer
                if not sock.recv(_READ_SIZE, socket.MSG_DONTWAIT):
                    break
        except OSError:
            pass  # EAGAIN (nothing more), or the socket is already gone
        finally:
            sock.detach()

    def abort(self) -> None:
        self._raw.abort()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def drain_kernel(self) -> int:
        """Read what the kernel holds for this socket now and feed it; return the byte count.

        Used by the liveness probe: the backend's reader would read the same
        bytes on its next turn and find nothing (EAGAIN), which every backend
        handles. A 0-byte read is the peer's FIN (``raw_eof``).
        """
        if self._fd < 0:
            return 0
        sock = socket.socket(fileno=self._fd)
        total = 0
        try:
            while True:
                try:
                    data = sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    self._conn._on_lost(exc)
                    break
                if not data:
                    self._conn._on_eof()
                    break
                total += len(data)
                self._conn._on_data(data)
        finally:
            sock.detach()
        return total
