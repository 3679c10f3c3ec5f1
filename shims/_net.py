"""``connect``, ``serve``, their Unix-socket twins and ``Server``: backend-neutral, over each backend.

Theory of operation: the backend accepts and hands over a ready
``Connection`` (``initiated_by="peer"``, usable from the first instant); the
``Server`` here runs the handler as a task, closes the connection when the
handler returns or raises, and on ``close()`` stops accepting, cancels the
handlers and closes every live connection, so their ``on_close`` callbacks
run with ``close_reason == "local"``. A handler that raises (other than
after ``close()`` began) is logged and recorded in the diagnostics.

TLS is neutral code on top of the backend's plain connection (``_tls``):
``connect(ssl=...)`` dials, then handshakes, under one deadline; a TLS
server puts the layer on each accepted connection before the scheduler can
deliver a byte, and runs the handler only once the handshake succeeded (a
failed client handshake is logged at debug level, never a handler error).
So every registered backend that moves bytes gets TLS. Unix paths are checked
here (missing, not a socket, longer than ``sun_path``) so every backend
reports them the same way; the backend only dials and listens
(``Backend.dial_unix``/``listen_unix``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl as _ssl
import stat
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

from . import _diagnostics, _runtime
from ._connection import Connection
from ._contract import Listener
from ._errors import ConnectError, ShimError, TLSError
from ._tls_setup import begin, check_context, finish

__all__ = ["Server", "connect", "connect_unix", "serve", "serve_unix"]

logger = logging.getLogger("shims")
#: How long an accepted TLS connection may take to complete its handshake.
SERVER_HANDSHAKE_TIMEOUT = 60.0
# sun_path is 108 bytes on Linux (104 on the BSDs), including the terminating NUL.
SUN_PATH_MAX = 107

Handler = Callable[[Connection], Awaitable[Any]]


def _client_tls(
    ssl: object, server_hostname: str | None, default_name: str | None, what: str
) -> tuple[_ssl.SSLContext | None, str | None]:
    context = check_context(ssl, what)
    if context is None:
        if server_hostname is not None:
            raise TLSError(f"{what}: server_hostname={server_hostname!r} needs ssl=... too")
        return None, None
    name = server_hostname if server_hostname is not None else default_name
    if name is None and context.check_hostname:
        raise TLSError(
            f"{what}: this context checks host names, so pass server_hostname=... (the name "
            "in the server's certificate)"
        )
    return context, name


async def _secure(
    conn: Connection,
    context: _ssl.SSLContext | None,
    name: str | None,
    timeout: float | None,  # noqa: ASYNC109
    start: float,
    what: str,
) -> Connection:
    if context is not None:
        remaining = None if timeout is None else max(0.0, timeout - (monotonic() - start))
        begin(conn, context, name, what)
        await finish(conn, remaining, what, timeout)
    return conn


async def connect(
    host: str,
    port: int,
    *,
    timeout: float | None = None,  # noqa: ASYNC109
    duplex: bool = False,
    ssl: _ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
) -> Connection:
    """Open a TCP connection to ``host:port`` (``initiated_by == "local"``), over TLS with ``ssl``.

    ``ssl`` is an ``ssl.SSLContext`` or True (the default client context);
    the certificate is checked against ``server_hostname`` (default:
    ``host``). ``timeout`` bounds connect plus handshake.

    Raises ``ConnectError`` (cause: the native error) when it cannot connect,
    ``TLSError`` (a ``ConnectError``, carrying the verification message) when
    the handshake or the certificate fails, and ``ConnectTimeout`` when
    ``timeout`` seconds pass first; no socket is left open on any failure.
    """
    what = f"connect to {host!r} port {port!r}"
    context, name = _client_tls(ssl, server_hostname, host, what)
    start = monotonic()
    conn = await _runtime._selected()[1].dial(host, port, timeout=timeout, duplex=duplex)
    return await _secure(conn, context, name, timeout, start, what)


def _unix_path(path: str | os.PathLike[str], what: str) -> str:
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise ConnectError(f"{what}: a Unix socket path must be a non-empty str, got {path!r}")
    size = len(os.fsencode(text))
    if size > SUN_PATH_MAX:
        raise ConnectError(
            f"{what}: the path is {size} bytes, longer than a Unix socket address holds "
            f"({SUN_PATH_MAX}); use a shorter path (e.g. under /run or /tmp)"
        )
    return text


async def connect_unix(
    path: str | os.PathLike[str],
    *,
    timeout: float | None = None,  # noqa: ASYNC109
    duplex: bool = False,
    ssl: _ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
) -> Connection:
    """Open a Unix-socket connection to ``path``; see ``connect`` for ``ssl`` and ``timeout``.

    With a context that checks host names, ``server_hostname`` is required.
    Raises ``ConnectError`` when the path is missing, is not a socket, is
    too long, or nobody listens there; ``TLSError`` and ``ConnectTimeout``
    as ``connect``.
    """
    what = f"connect_unix({os.fspath(path)!r})"
    text = _unix_path(path, what)
    context, name = _client_tls(ssl, server_hostname, None, what)
    try:
        mode = os.stat(text).st_mode
    except OSError as exc:
        raise ConnectError(f"{what}: {exc.strerror}; is the server running?") from exc
    if not stat.S_ISSOCK(mode):
        raise ConnectError(f"{what}: the path exists but is not a Unix socket")
    start = monotonic()
    conn = await _runtime._selected()[1].dial_unix(text, timeout=timeout, duplex=duplex)
    return await _secure(conn, context, name, timeout, start, what)


def _server_tls(ssl: object, what: str) -> _ssl.SSLContext | None:
    if ssl is True:
        raise TLSError(
            f"{what}: ssl=True is the client default; a server needs an ssl.SSLContext with "
            "its certificate (ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and "
            "load_cert_chain(...))"
        )
    return check_context(ssl, what)


async def serve(
    handler: Handler,
    host: str,
    port: int,
    *,
    duplex: bool = False,
    ssl: _ssl.SSLContext | None = None,
) -> Server:
    """Listen on ``host:port`` (0: any free port) and run ``handler(conn)`` per connection.

    With ``ssl`` (a server ``ssl.SSLContext``) each connection handshakes
    first; the handler sees it only once the handshake succeeded.
    Raises ``ConnectError`` if the address cannot be bound, ``TLSError``
    for an ``ssl`` value that is not a context.
    """
    server = Server(handler, ssl=_server_tls(ssl, f"serve on {host!r} port {port!r}"))
    backend = _runtime._selected()[1]
    listener = await backend.listen(host, port, duplex=duplex, on_accept=server._accepted)
    return server._started(listener, backend.clock())


async def serve_unix(
    handler: Handler,
    path: str | os.PathLike[str],
    *,
    duplex: bool = False,
    ssl: _ssl.SSLContext | None = None,
) -> Server:
    """Listen on the Unix socket ``path`` and run ``handler(conn)`` per connection.

    A stale socket file at ``path`` is replaced; ``close()`` removes the
    file. Raises ``ConnectError`` when ``path`` is too long, exists and is
    not a socket, or cannot be bound; ``TLSError`` as ``serve``.
    """
    what = f"serve_unix({os.fspath(path)!r})"
    text = _unix_path(path, what)
    server = Server(handler, ssl=_server_tls(ssl, what))
    try:
        mode: int | None = os.stat(text).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConnectError(f"{what}: {exc.strerror}") from exc
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise ConnectError(f"{what}: the path exists and is not a socket; remove it first")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(text)  # a socket left by a server that is gone (as asyncio does)
    backend = _runtime._selected()[1]
    listener = await backend.listen_unix(text, duplex=duplex, on_accept=server._accepted)
    server._unix = (text, os.stat(text).st_ino)
    return server._started(listener, backend.clock())


class Server:
    """A listening server; ``port``, ``close()``, ``await wait_closed()``."""

    def __init__(self, handler: Handler, *, ssl: _ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl
        self._unix: tuple[str, int] | None = None
        self._listener: Listener | None = None
        self._clock: object = None
        self._conns: set[Connection] = set()
        self._tasks: set[_runtime.Task[None]] = set()
        self._closing = False

    def _started(self, listener: Listener, clock: object) -> Server:
        self._listener = listener
        self._clock = clock
        _diagnostics.track_server(self)
        return self

    @property
    def port(self) -> int:
        """The port the server listens on (useful after ``serve(..., port=0)``)."""
        assert self._listener is not None
        return self._listener.port

    @property
    def host(self) -> str:
        """The address the server listens on."""
        assert self._listener is not None
        return self._listener.host

    def connections(self) -> list[Connection]:
        """Return the accepted connections whose handler is still running."""
        return list(self._conns)

    def _accepted(self, conn: Connection) -> None:
        if self._closing:
            conn.close()
            return
        if self._ssl is not None:
            try:
                begin(conn, self._ssl, None, f"TLS accept of {conn!r}")
            except TLSError as exc:
                logger.warning("%s", exc)
                return
        self._conns.add(conn)
        task = _runtime.spawn(self._serve_one(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_one(self, conn: Connection) -> None:
        try:
            if self._ssl is not None:
                try:
                    await finish(conn, SERVER_HANDSHAKE_TIMEOUT, f"TLS accept of {conn!r}")
                except ShimError as exc:  # the client's problem, not a handler error
                    logger.debug("%s", exc)
                    return
            await self._handler(conn)
        except ShimError as exc:
            if not self._closing:
                _diagnostics.record_unhandled(exc, "handler of %r raised", conn)
        except Exception as exc:
            _diagnostics.record_unhandled(exc, "handler of %r raised", conn)
        finally:
            conn.close()
            self._conns.discard(conn)

    def close(self) -> None:
        """Stop accepting, cancel running handlers and close their connections; idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._listener is not None:
            self._listener.close()
        if self._unix is not None:
            path, inode = self._unix
            try:
                if os.stat(path).st_ino == inode:  # still ours, not a newer server's
                    os.unlink(path)
            except OSError:
                pass
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._conns):
            conn.close()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has finished."""
        if self._listener is not None:
            await self._listener.wait_closed()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await _runtime.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    def __repr__(self) -> str:
        if self._listener is None:
            where = "unbound"
        elif self._unix is not None:
            where = f"unix:{self._unix[0]}"
        else:
            where = f"{self.host}:{self.port}"
        if self._ssl is not None:
            where += " tls"
        state = "closed" if self._closing else f"serving {len(self._conns)} connections"
        return f"<Server {where} {state}>"

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()
