"""TCP entry points: ``connect`` and ``listen`` (a ``Listener`` running one task per connection).

Theory of operation
-------------------
``connect`` resolves the name (blocking ``getaddrinfo``, as the in-house
runtime's default resolver did; numeric addresses never block), then tries
each address with a non-blocking ``connect`` and waits for writability under
one deadline for the whole call. Every socket that does not become a
``Connection`` is closed on every path (error, timeout, cancellation).

``Listener`` watches the listening socket; each readiness event accepts up to
``_ACCEPT_BATCH`` connections and starts ``handler(conn)`` as a task. The
connection is closed when the handler returns or fails; a failing handler is
reported to the scheduler's exception handler like any unretrieved task
failure. Out of file descriptors (``EMFILE``), accepting pauses for a second
instead of spinning on a listening socket that stays readable.
"""

from __future__ import annotations

import errno
import functools
import inspect
import socket
import ssl as _ssl
from collections.abc import Callable
from typing import Any

from ._connection import Connection
from ._coroutines import _as_coroutine
from ._errors import ConnectError, ConnectRefusedError, Timeout, TLSError
from ._futures import Future
from ._scheduler import Scheduler, get_scheduler, monotonic
from ._tasks import Task

__all__ = ["Listener", "connect", "listen"]

_ACCEPT_BATCH = 64
_ACCEPT_RETRY_DELAY = 1.0
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


def _resolve(host: str, port: int, *, passive: bool) -> list[Any]:
    flags = socket.AI_PASSIVE if passive else 0
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
    except socket.gaierror as exc:
        raise ConnectError(
            f"cannot resolve {host!r} (port {port!r}): {exc.strerror}; check the host name",
            host=host,
            port=port,
        ) from exc


def _connect_error(host: str, port: int, exc: OSError) -> ConnectError:
    where = f"{host}:{port}"
    if exc.errno == errno.ECONNREFUSED:
        return ConnectRefusedError(
            f"connection to {where} refused: nothing is listening there (is the service up?)",
            host=host,
            port=port,
        )
    if exc.errno in _UNREACHABLE:
        reason = "host or network unreachable"
    else:
        reason = exc.strerror or str(exc)
    return ConnectError(f"cannot connect to {where}: {reason}", host=host, port=port)


async def _wait_connected(
    sched: Scheduler, sock: socket.socket, deadline: float | None, where: str, limit_s: float | None
) -> None:
    fut: Future[None] = Future(sched)

    def on_writable() -> None:
        if not fut.done():
            fut.set_result(None)

    def on_deadline() -> None:
        if not fut.done():
            fut.set_exception(Timeout(f"connect to {where} timed out after {limit_s!r} s"))

    fd = sock.fileno()
    sched.add_writer(fd, on_writable)
    timer = sched.call_at(deadline, on_deadline) if deadline is not None else None
    try:
        await fut
    finally:
        sched.remove_writer(fd)
        if timer is not None:
            timer.cancel()


async def connect(
    host: str,
    port: int,
    *,
    timeout: float | None = None,  # noqa: ASYNC109
    duplex: bool = False,
    ssl: _ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
) -> Connection:
    """Open a TCP connection to ``host:port`` within ``timeout`` seconds (None: no deadline).

    ``duplex`` marks the connection full duplex (``Connection.duplex``).
    With ``ssl`` (an ``ssl.SSLContext``, or True for the default client
    context) the connection is TLS from the start (``Connection.start_tls``);
    the certificate is checked against ``server_hostname`` (default: ``host``)
    and ``timeout`` covers the handshake too.

    Raises ``ConnectRefusedError`` (a ``ConnectionRefusedError``) when nothing
    listens, ``ConnectError`` (a ``ConnectionError``) when the host is
    unreachable or cannot be resolved, ``TLSError`` (a ``ConnectError``) when
    the handshake or the certificate fails, ``Timeout`` (a ``TimeoutError``) at
    the deadline. No socket is left open on any failure.
    """
    if ssl is True:
        ssl = _ssl.create_default_context()
    if ssl is not None and ssl is not False and not isinstance(ssl, _ssl.SSLContext):
        raise TLSError(f"connect(ssl={ssl!r}): pass an ssl.SSLContext, True, or None")
    started = monotonic()
    conn = await _connect_tcp(host, port, timeout, duplex)
    if isinstance(ssl, _ssl.SSLContext):
        await conn.start_tls(
            ssl,
            server_hostname=server_hostname if server_hostname is not None else host,
            timeout=None if timeout is None else max(0.0, timeout - (monotonic() - started)),
        )
    return conn


async def _connect_tcp(
    host: str,
    port: int,
    timeout: float | None,  # noqa: ASYNC109
    duplex: bool,
) -> Connection:
    sched = get_scheduler()
    deadline = None if timeout is None else monotonic() + timeout
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    last: OSError | None = None
    for family, kind, proto, _name, address in _resolve(host, port, passive=False):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(address)
            if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                await _wait_connected(sched, sock, deadline, where, timeout)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, errno.errorcode.get(err, str(err)))
            return Connection(sock, sched, initiated_by="local", duplex=duplex)
        except OSError as exc:
            sock.close()
            if isinstance(exc, Timeout):
                raise
            last = exc
        except BaseException:
            sock.close()  # Cancelled, KeyboardInterrupt: never leak the socket
            raise
    assert last is not None
    raise _connect_error(host, port, last) from last


class Listener:
    """A listening TCP socket; ``port`` is the bound port, ``close()`` stops it.

    ``handler(conn)`` (a coroutine function or ``@coroutine`` generator
    function) runs as a task per accepted connection, which is closed when the
    handler returns or fails.
    """

    def __init__(
        self,
        sock: socket.socket,
        scheduler: Scheduler,
        handler: Callable[[Connection], Any],
        *,
        duplex: bool = False,
    ) -> None:
        self.socket = sock
        self.duplex = duplex
        self.host, self.port = sock.getsockname()[:2]
        self._sched = scheduler
        self._handler = handler
        self._fd = sock.fileno()
        self._connections: set[Connection] = set()
        self._tasks: set[Task[Any]] = set()
        self._closed = False
        scheduler._resources.add(self)
        scheduler.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        sched = self._sched
        for _ in range(_ACCEPT_BATCH):
            try:
                conn_sock, _address = self.socket.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    sched.remove_reader(self._fd)
                    sched.call_later(_ACCEPT_RETRY_DELAY, self._resume)
                sched._report(exc, None)
                return
            try:
                conn_sock.setblocking(False)
                conn_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = Connection(conn_sock, sched, initiated_by="peer", duplex=self.duplex)
            except OSError:
                conn_sock.close()  # the peer vanished between accept and setup
                continue
            self._connections.add(conn)
            task: Task[Any] = Task(self._serve(conn), sched, name=f"handler {conn.peer}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _resume(self) -> None:
        if not self._closed:
            self._sched.add_reader(self._fd, self._on_readable)

    async def _serve(self, conn: Connection) -> None:
        try:
            result = self._handler(conn)
            if inspect.isawaitable(result) or inspect.isgenerator(result):
                await _as_coroutine(result)
        finally:
            self._connections.discard(conn)
            conn.close()

    def close(self) -> None:
        """Stop accepting and close every connection it accepted; idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._sched._closed:
            self._sched.remove_reader(self._fd)
        self.socket.close()
        self._sched._resources.discard(self)
        for conn in list(self._connections):
            conn.close()

    async def wait_closed(self) -> None:
        """Wait until every handler task has finished (call after ``close()``)."""
        while self._tasks:
            done: Future[None] = Future(self._sched)
            next(iter(self._tasks)).add_done_callback(functools.partial(_resolve_none, done))
            await done

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening"
        return f"<Listener {self.host}:{self.port} {state} connections={len(self._connections)}>"


def _resolve_none(fut: Future[None], _task: object) -> None:
    if not fut.done():
        fut.set_result(None)


async def listen(
    host: str,
    port: int,
    handler: Callable[[Connection], Any],
    *,
    backlog: int = 128,
    duplex: bool = False,
) -> Listener:
    """Listen on ``host:port`` (port 0: any free port) and serve each connection with ``handler``.

    ``duplex`` marks every accepted connection full duplex (``Connection.duplex``).

    Raises ``OSError`` (e.g. ``EADDRINUSE``) if the address cannot be bound.
    """
    sched = get_scheduler()
    family, kind, proto, _name, address = _resolve(host, port, passive=True)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
        return Listener(sock, sched, handler, duplex=duplex)
    except BaseException:
        sock.close()
        raise
