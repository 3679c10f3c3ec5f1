"""The ``asyncio`` backend (and, with a loop factory, ``uvloop`` or any asyncio-compatible loop).

Theory of operation: connections use a plain ``asyncio.Protocol``, not
``StreamReader``/``StreamWriter``. Its callbacks push facts into the neutral
``Connection`` the moment the loop sees them: ``eof_received`` records the
peer's FIN even when no read is pending (and returns True so a half-closed
connection can still be written to), ``connection_lost`` records RST/errors.
``is_closing()`` is never used as a liveness signal.

The transport's write buffer limit is set to 0, so ``pause_writing`` means
"the kernel did not take everything" and ``resume_writing`` means "every byte
is in the kernel": the neutral write waits for the latter under a deadline.
The transport is passed to the ``Connection`` as is (it already has the
contract's methods), the running loop is the ``Clock``, and the protocol's
callbacks are bound straight to the connection's facts, so a 64-byte
request/response costs what raw asyncio streams cost. That is why this
bundled backend builds its ``Connection`` directly instead of going through
``new_connection``: it is the only place that may.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from asyncio.events import _get_running_loop
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Literal, TypeVar, cast

from ... import _runtime
from ..._connection import Connection
from ..._errors import ConnectError, ConnectTimeout
from .. import (
    UNIX_BACKLOG,
    Backend,
    Clock,
    Listener,
    Task,
    Transport,
    connect_unix_socket,
    listen_unix_socket,
    peer_address,
    register,
    unix_listen_error,
)

__all__ = ["AsyncioBackend"]

T = TypeVar("T")
_tasks: set[asyncio.Task[Any]] = set()


def _fd_and_peer(transport: asyncio.BaseTransport) -> tuple[int, tuple[str, int]]:
    sock = transport.get_extra_info("socket")
    fd = sock.fileno() if sock is not None else -1
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sockname = lambda: transport.get_extra_info("sockname")  # noqa: E731
    return fd, peer_address(transport.get_extra_info("peername"), sockname)


class _ShimProtocol(asyncio.Protocol):
    """Forward every transport event to the neutral ``Connection`` as a fact."""

    def __init__(
        self,
        initiated_by: Literal["local", "peer"],
        duplex: bool,
        on_made: Callable[[Connection], object] | None = None,
    ) -> None:
        self._initiated_by: Literal["local", "peer"] = initiated_by
        self._duplex = duplex
        self._on_made = on_made
        self.conn: Connection | None = None
        # The Connection object exists from here on (initialised in connection_made), so
        # the hot callback can be bound straight to it now: uvloop looks data_received
        # up once, when it builds the transport, before connection_made runs.
        self._blank = Connection.__new__(Connection)
        self.data_received = self._blank._on_data  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)
        tr.set_write_buffer_limits(high=0, low=0)
        loop = asyncio.get_running_loop()
        fd, peer = _fd_and_peer(tr)
        conn = self._blank
        Connection.__init__(
            conn,
            cast(Transport, tr),
            cast(Clock, loop),
            backend=_runtime.current_backend(),
            initiated_by=self._initiated_by,
            peer=peer,
            fd=fd,
            duplex=self._duplex,
        )
        self.conn = conn
        # Bind the other callbacks straight to the connection: no extra hop per event.
        self.pause_writing = conn._on_pause_writing  # type: ignore[method-assign]
        self.resume_writing = conn._on_resume_writing  # type: ignore[method-assign]
        if self._on_made is not None:
            self._on_made(conn)

    def data_received(self, data: bytes) -> None:  # shadowed per instance in __init__
        self._blank._on_data(data)

    def eof_received(self) -> bool:
        if self.conn is not None:
            self.conn._on_eof()
        return True  # keep the transport: the peer may only have half-closed

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn._on_lost(exc)

    def pause_writing(self) -> None:  # replaced per instance above
        assert self.conn is not None
        self.conn._on_pause_writing()

    def resume_writing(self) -> None:  # replaced per instance above
        assert self.conn is not None
        self.conn._on_resume_writing()


async def _dial(
    open_: Callable[[Callable[[], asyncio.Protocol]], Awaitable[object]],
    proto: _ShimProtocol,
    timeout: float | None,  # noqa: ASYNC109
    where: str,
) -> Connection:
    try:
        async with asyncio.timeout(timeout):
            await open_(lambda: proto)
    except TimeoutError as exc:
        raise ConnectTimeout(
            f"connect to {where} did not complete within timeout={timeout!r} s"
        ) from exc
    except OSError as exc:
        raise ConnectError(f"could not connect to {where}: {exc.strerror or exc}") from exc
    conn = proto.conn
    assert conn is not None
    return conn


class _Listener:
    """The listening half of ``shims.Server`` on asyncio."""

    def __init__(self, server: asyncio.Server) -> None:
        self._server = server
        name = server.sockets[0].getsockname()
        self.host: str
        self.port: int
        self.host, self.port = (os.fsdecode(name), 0) if isinstance(name, str | bytes) else name[:2]

    def close(self) -> None:
        self._server.close()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()


class AsyncioBackend(Backend):
    """The shim on an asyncio event loop: ``loop_factory`` picks the loop (None: asyncio's).

    Subclass it (or pass ``loop_factory``) to run the shim on another
    asyncio-compatible loop; ``loop_module`` is the module prefix of that
    loop's class, used to tell which backend runs an asyncio loop that
    ``shims.run`` did not start (pytest-asyncio, an application's own loop).
    """

    asyncio_based = True
    cancelled = asyncio.CancelledError

    def __init__(
        self,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
        *,
        loop_module: str = "asyncio",
    ) -> None:
        self._loop_factory = loop_factory
        self._loop_module = loop_module

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        """Return the factory of a fresh loop for ``run`` (None: asyncio's default loop)."""
        return self._loop_factory

    def run(
        self, main: Coroutine[Any, Any, T], *, on_unhandled: Callable[[BaseException], None]
    ) -> T:
        with asyncio.Runner(loop_factory=self.loop_factory()) as runner:
            loop = runner.get_loop()

            def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
                exc = context.get("exception")
                if isinstance(exc, BaseException):
                    on_unhandled(exc)
                loop.default_exception_handler(context)

            loop.set_exception_handler(handler)
            return runner.run(main)

    def running(self) -> bool:
        loop = _get_running_loop()
        return loop is not None and type(loop).__module__.startswith(self._loop_module)

    def clock(self) -> Clock:
        return cast(Clock, asyncio.get_running_loop())

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> Task[T]:
        task = asyncio.ensure_future(coro)
        _tasks.add(task)  # kept alive until it finishes even if the caller drops it
        task.add_done_callback(_tasks.discard)
        return task

    def current_task(self) -> Task[Any] | None:
        return asyncio.current_task()

    def gather(
        self, aws: Iterable[Awaitable[Any]], return_exceptions: bool
    ) -> Awaitable[list[Any]]:
        return asyncio.gather(*aws, return_exceptions=return_exceptions)

    def wait_for(self, aw: Awaitable[T], seconds: float | None) -> Awaitable[T]:
        return asyncio.wait_for(aw, seconds)

    def timeout(self, seconds: float | None) -> Any:
        return asyncio.timeout(seconds)

    async def dial(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,  # noqa: ASYNC109
        duplex: bool,
    ) -> Connection:
        loop = asyncio.get_running_loop()
        return await _dial(
            lambda f: loop.create_connection(f, host, port),
            _ShimProtocol("local", duplex),
            timeout,
            f"{host!r} port {port!r}",
        )

    async def dial_unix(
        self,
        path: str,
        *,
        timeout: float | None,  # noqa: ASYNC109
        duplex: bool,
    ) -> Connection:
        loop = asyncio.get_running_loop()

        async def open_(factory: Callable[[], asyncio.Protocol]) -> object:
            # Our own socket, closed on every failure: uvloop's create_unix_connection(path)
            # leaks the descriptor of a refused connect, and a full backlog must be retried.
            sock = await connect_unix_socket(path, asyncio.sleep)
            try:
                return await loop.create_unix_connection(factory, sock=sock)
            except BaseException:
                sock.close()
                raise

        return await _dial(open_, _ShimProtocol("local", duplex), timeout, f"Unix socket {path!r}")

    async def listen_unix(
        self, path: str, *, duplex: bool, on_accept: Callable[[Connection], object]
    ) -> Listener:
        loop = asyncio.get_running_loop()
        sock = listen_unix_socket(path)
        try:
            server = await loop.create_unix_server(
                lambda: _ShimProtocol("peer", duplex, on_accept), sock=sock, backlog=UNIX_BACKLOG
            )
        except OSError as exc:
            sock.close()
            raise unix_listen_error(path, exc) from exc
        except BaseException:
            sock.close()
            raise
        return _Listener(server)

    async def listen(
        self, host: str, port: int, *, duplex: bool, on_accept: Callable[[Connection], object]
    ) -> Listener:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: _ShimProtocol("peer", duplex, on_accept), host, port, reuse_address=True
            )
        except OSError as exc:
            raise ConnectError(
                f"could not listen on {host!r} port {port!r}: {exc.strerror or exc}"
            ) from exc
        return _Listener(server)


register("asyncio", AsyncioBackend())
