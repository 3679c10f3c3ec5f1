"""``shims.connect``, ``shims.serve`` and ``Server``: backend-neutral, over each backend's sockets.

Theory of operation: the backend accepts and hands over a ready
``Connection`` (``initiated_by="peer"``, usable from the first instant); the
``Server`` here runs the handler as a task, closes the connection when the
handler returns or raises, and on ``close()`` stops accepting, cancels the
handlers and closes every live connection, so their ``on_close`` callbacks
run with ``close_reason == "local"``. A handler that raises (other than
after ``close()`` began) is logged and recorded in the diagnostics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import _diagnostics, _runtime
from ._connection import Connection
from ._contract import Listener
from ._errors import ShimError

__all__ = ["Server", "connect", "serve"]

Handler = Callable[[Connection], Awaitable[Any]]


async def connect(
    host: str,
    port: int,
    *,
    timeout: float | None = None,  # noqa: ASYNC109
    duplex: bool = False,
) -> Connection:
    """Open a TCP connection to ``host:port`` (``initiated_by == "local"``).

    Raises ``ConnectError`` (cause: the native error) when it cannot connect
    and ``ConnectTimeout`` when ``timeout`` seconds pass first; no socket
    is left open either way.
    """
    return await _runtime._selected()[1].dial(host, port, timeout=timeout, duplex=duplex)


async def serve(handler: Handler, host: str, port: int, *, duplex: bool = False) -> Server:
    """Listen on ``host:port`` (0: any free port) and run ``handler(conn)`` per connection.

    Raises ``ConnectError`` if the address cannot be bound.
    """
    server = Server(handler)
    backend = _runtime._selected()[1]
    server._listener = await backend.listen(host, port, duplex=duplex, on_accept=server._accepted)
    server._clock = backend.clock()
    _diagnostics.track_server(server)
    return server


class Server:
    """A listening server; ``port``, ``close()``, ``await wait_closed()``."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener: Listener | None = None
        self._clock: object = None
        self._conns: set[Connection] = set()
        self._tasks: set[_runtime.Task[None]] = set()
        self._closing = False

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
        self._conns.add(conn)
        task = _runtime.spawn(self._serve_one(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_one(self, conn: Connection) -> None:
        try:
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
        where = f"{self.host}:{self.port}" if self._listener is not None else "unbound"
        state = "closed" if self._closing else f"serving {len(self._conns)} connections"
        return f"<Server {where} {state}>"

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()
