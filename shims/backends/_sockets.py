"""Sockets over any selector-style scheduler: a transport, dial and listen.

For a scheduler that offers ``add_reader``/``add_writer`` (and their
``remove_``), ``call_soon``, ``call_soon_threadsafe`` and ``create_future``,
as the legacy runtime does; a company's selector-based scheduler can reuse it.

Theory of operation: ``SocketTransport`` gives the neutral ``Connection``
the same transport contract asyncio's transports give it, so the connection
code is shared. While reading is not paused the socket stays registered with
``add_reader``: a 0-byte ``recv`` is the peer's FIN and becomes ``_on_eof``
at once, an ``OSError`` becomes ``_on_lost(exc)``. ``write`` sends what the
kernel takes right away and queues the rest behind ``add_writer``, telling
the connection ``_on_pause_writing``/``_on_resume_writing`` (the asyncio
transport does the same with a write buffer limit of 0). A send error is
reported on the next turn, as asyncio reports it through ``connection_lost``.

``dial`` never blocks the scheduler: a numeric address needs no lookup,
and a name is resolved by ``getaddrinfo`` in a helper thread that hands the
result back with ``call_soon_threadsafe``; the connect deadline covers the
lookup too. Each resolved address is tried in turn (as asyncio does).
``dial_unix``/``listen_unix`` do the same over ``AF_UNIX`` with the
neutral pieces of ``_unix`` (a full backlog retried under the caller's
deadline, one backlog and one error for every backend).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._errors import ConnectError
from ._facts import Facts, new_connection, peer_address
from ._unix import connect_unix_socket, listen_unix_socket

if TYPE_CHECKING:
    from .._connection import Connection

__all__ = [
    "Scheduler",
    "SocketListener",
    "SocketTransport",
    "dial",
    "dial_unix",
    "listen",
    "listen_unix",
]


class Scheduler(Protocol):
    """What this module needs from a selector-style scheduler."""

    def add_reader(self, sock: socket.socket, callback: Callable[[], object], /) -> Any: ...
    def remove_reader(self, sock: socket.socket, /) -> Any: ...
    def add_writer(self, sock: socket.socket, callback: Callable[[], object], /) -> Any: ...
    def remove_writer(self, sock: socket.socket, /) -> Any: ...
    def call_soon(self, callback: Callable[..., object], /, *args: Any) -> Any: ...
    def call_soon_threadsafe(self, callback: Callable[..., object], /, *args: Any) -> Any: ...
    def create_future(self) -> Any: ...


_RECV_SIZE = 256 * 1024


class SocketTransport:
    """The backend contract's ``Transport`` over a non-blocking socket."""

    def __init__(self, sock: socket.socket, sched: Scheduler) -> None:
        self._sock = sock
        self._sched = sched
        self._conn: Facts | None = None
        self._wbuf = bytearray()
        self._reading = False
        self._closed = False
        self._eof_pending = False
        self._close_pending = False

    def attach(self, conn: Facts) -> None:
        self._conn = conn
        self.resume_reading()

    # -- events from the scheduler ------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        conn = self._conn
        assert conn is not None
        if data:
            conn.data_received(data)
        else:
            self.pause_reading()
            conn.eof_received()

    def _on_writable(self) -> None:
        try:
            sent = self._sock.send(self._wbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._wbuf[:sent]
        if self._wbuf:
            return
        self._sched.remove_writer(self._sock)
        if self._close_pending:
            self._really_close()
            return
        if self._eof_pending:
            self._shutdown()
        if self._conn is not None:
            self._conn.resume_writing()

    def _lost(self, exc: BaseException | None) -> None:
        self._really_close()
        if self._conn is not None:
            self._conn.connection_lost(exc)

    # -- the Transport contract ----------------------------------------------

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        if self._closed or self._close_pending:
            return
        if self._wbuf:
            self._wbuf += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._sched.call_soon(self._lost, exc)
            return
        if sent < len(data):
            self._wbuf += memoryview(data)[sent:]
            self._sched.add_writer(self._sock, self._on_writable)
            if self._conn is not None:
                self._conn.pause_writing()

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):  # already gone: the reader reports it
            self._sock.shutdown(socket.SHUT_WR)

    def write_eof(self) -> None:
        if self._closed:
            return
        if self._wbuf:
            self._eof_pending = True
        else:
            self._shutdown()

    def get_extra_info(self, name: str, default: Any = None, /) -> Any:
        if name == "socket":
            return self._sock
        try:
            if name == "peername":
                return self._sock.getpeername()
            if name == "sockname":
                return self._sock.getsockname()
        except OSError:
            return default
        return default

    def is_closing(self) -> bool:
        return self._closed or self._close_pending

    def pause_reading(self) -> None:
        if self._reading and not self._closed:
            self._reading = False
            self._sched.remove_reader(self._sock)

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._sched.add_reader(self._sock, self._on_readable)

    def close(self) -> None:
        if self._closed:
            return
        if self._wbuf:
            self.pause_reading()
            self._close_pending = True  # flush first, as asyncio's close() does
        else:
            self._really_close()

    def abort(self) -> None:
        self._really_close()

    def _really_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wbuf.clear()
        if self._sock.fileno() >= 0:
            self._sched.remove_reader(self._sock)
            self._sched.remove_writer(self._sock)
        self._sock.close()


def _make_connection(
    sock: socket.socket,
    sched: Scheduler,
    initiated_by: Literal["local", "peer"],
    peer: tuple[str, int],
    duplex: bool,
) -> Connection:
    transport = SocketTransport(sock, sched)
    facts = new_connection(
        transport, initiated_by=initiated_by, peer=peer, fd=sock.fileno(), duplex=duplex
    )
    transport.attach(facts)
    return facts.connection


async def _connect_sock(sched: Scheduler, sock: socket.socket, addr: Any) -> None:
    err = sock.connect_ex(addr)
    if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
        fut = sched.create_future()
        sched.add_writer(sock, lambda: None if fut.done() else fut.set_result(None))
        try:
            await fut
        finally:
            sched.remove_writer(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, errno.errorcode.get(err, str(err)))


def _numeric_address(host: str, port: int) -> tuple[int, tuple[Any, ...]] | None:
    """Return ``(family, sockaddr)`` if ``host`` is a literal IPv4/IPv6 address (no lookup)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family, ((host, port) if family == socket.AF_INET else (host, port, 0, 0))
    return None


async def _resolve(sched: Scheduler, host: str, port: int) -> list[Any]:
    """Run ``getaddrinfo`` in a helper thread; the scheduler keeps running every task meanwhile.

    A lookup that is abandoned (deadline, cancellation) finishes in its thread
    and its result is dropped.
    """
    prepare = getattr(sched, "enable_threads", None)
    if prepare is not None:  # a scheduler that sets call_soon_threadsafe up on demand
        prepare()
    fut = sched.create_future()

    def found(infos: list[Any]) -> None:
        if not fut.done():
            fut.set_result(infos)

    def failed(exc: BaseException) -> None:
        if not fut.done():
            fut.set_exception(exc)

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Exception as exc:
            sched.call_soon_threadsafe(failed, exc)
        else:
            sched.call_soon_threadsafe(found, infos)

    threading.Thread(target=lookup, name=f"shims-resolve {host}", daemon=True).start()
    infos: list[Any] = await fut
    return infos


async def _dial(sched: Scheduler, host: str, port: int) -> tuple[socket.socket, Any]:
    """Resolve (unless numeric) and connect, trying each address in turn; no socket leaks."""
    numeric = _numeric_address(host, port)
    if numeric is not None:
        targets: list[tuple[int, Any]] = [numeric]
    else:
        try:
            infos = await _resolve(sched, host, port)
        except OSError as exc:
            raise ConnectError(f"could not resolve {host!r} port {port!r}: {exc}") from exc
        targets = [(family, addr) for family, _, _, _, addr in infos]
    last: OSError | None = None
    for family, addr in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await _connect_sock(sched, sock, addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock, addr
    assert last is not None  # getaddrinfo never returns an empty list
    raise last


async def dial(sched: Scheduler, host: str, port: int, *, duplex: bool) -> Connection:
    """Dial ``host:port`` on ``sched``; the caller puts its deadline around this call.

    A numeric address is used as is; a name is resolved in a helper thread so
    the scheduler's other tasks keep running. Raises ``ConnectError`` for a
    failed lookup and the native ``OSError`` for a failed connect.
    """
    sock, addr = await _dial(sched, host, port)
    return _make_connection(sock, sched, "local", (str(addr[0]), int(addr[1])), duplex)


async def _pause(sched: Scheduler, seconds: float) -> None:
    fut = sched.create_future()
    later = getattr(sched, "call_later", None)
    wake: Callable[[], object] = lambda: None if fut.done() else fut.set_result(None)  # noqa: E731
    if later is not None:
        later(seconds, wake)
    else:  # a scheduler without timers: give the others one turn
        sched.call_soon(wake)
    await fut


async def dial_unix(sched: Scheduler, path: str, *, duplex: bool) -> Connection:
    """Connect to the Unix socket ``path`` on ``sched``; the caller puts its deadline around it.

    A full backlog is retried (``connect_unix_socket``). Raises the native
    ``OSError`` for a failed connect; no socket leaks.
    """
    sock = await connect_unix_socket(path, lambda seconds: _pause(sched, seconds))
    return _make_connection(sock, sched, "local", (path, 0), duplex)


class SocketListener:
    """The listening half of ``shims.Server`` over a listening socket on ``sched``."""

    def __init__(
        self,
        sock: socket.socket,
        sched: Scheduler,
        duplex: bool,
        on_accept: Callable[[Connection], object],
    ) -> None:
        self._sock = sock
        self._sched = sched
        self._duplex = duplex
        self._on_accept = on_accept
        self.host, self.port = peer_address(sock.getsockname(), lambda: None)
        sched.add_reader(sock, self._accept_ready)

    def _accept_ready(self) -> None:
        for _ in range(64):
            try:
                conn_sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ECONNABORTED: the client gave up; keep listening
            conn_sock.setblocking(False)
            if conn_sock.family != socket.AF_UNIX:
                conn_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _make_connection(
                conn_sock,
                self._sched,
                "peer",
                peer_address(addr, self._sock.getsockname),
                self._duplex,
            )
            self._on_accept(conn)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._sched.remove_reader(self._sock)
            self._sock.close()

    async def wait_closed(self) -> None:
        return None


async def listen(
    sched: Scheduler,
    host: str,
    port: int,
    *,
    duplex: bool,
    on_accept: Callable[[Connection], object],
) -> SocketListener:
    """Listen on ``host:port``; call ``on_accept(conn)`` for each accepted connection."""
    try:
        numeric = _numeric_address(host, port)
        if numeric is not None:
            family = numeric[0]
        else:  # a name: resolved here, once, when the server starts
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=512)
    except OSError as exc:
        raise ConnectError(
            f"could not listen on {host!r} port {port!r}: {exc.strerror or exc}"
        ) from exc
    sock.setblocking(False)
    return SocketListener(sock, sched, duplex, on_accept)


async def listen_unix(
    sched: Scheduler, path: str, *, duplex: bool, on_accept: Callable[[Connection], object]
) -> SocketListener:
    """Listen on the Unix socket ``path``; call ``on_accept(conn)`` for each connection."""
    return SocketListener(listen_unix_socket(path), sched, duplex, on_accept)
