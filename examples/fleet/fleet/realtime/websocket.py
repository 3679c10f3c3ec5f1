"""WebSocket (RFC 6455) over the runtime's connections, with the sans-IO ``wsproto`` library.

Theory of operation: ``wsproto`` turns bytes into events and events into
bytes; a ``WebSocket`` moves those bytes over one full-duplex connection.
One task reads (``receive()``), any number of tasks send: every frame is
encoded and written under one lock, so frames never interleave. A ping
from the peer is answered at once by the reader; a pong wakes ``ping()``.

At lock release the company's connection code asks "is there unread data
on the connection?". For a request/response protocol that means the stream
is out of step and the connection must go; on a websocket the peer talks
whenever it likes, so unread data is normal. The check therefore follows
``conn.duplex`` (both ends here open their connections with
``duplex=True``), and ``unread_at_release`` counts the times it saw
unread data and rightly kept the connection (the post-mortem's bug was to
drop it).

How a connection ended is ``ended``: ``"close-frame"`` (the peer sent a
close frame, answered per section 5.5.1), ``"local"`` (we sent ours first),
``"fin"`` or ``"reset"`` (the peer vanished without a close frame: code
1006), ``"error"`` (the peer broke the protocol or sent a message over
``max_message``: we send close code 1002/1007 or 1009 and raise).
"""

from __future__ import annotations

import contextlib
from collections import deque

from legacy import runtime
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

READ_CHUNK = 65536
MESSAGE_TOO_BIG = 1009
MAX_HANDSHAKE = 16384


class WebSocketError(Exception):
    """Base of the websocket errors."""


class HandshakeError(WebSocketError):
    """The opening handshake failed (not a websocket request, or the server refused)."""


class ProtocolViolation(WebSocketError):
    """The peer sent an invalid frame; we answered with close ``code`` and dropped it."""

    def __init__(self, message, *, code):
        super().__init__(message)
        self.code = code


class MessageTooBig(ProtocolViolation):
    """The peer sent a message over ``max_message`` bytes (close code 1009)."""


class ConnectionClosed(WebSocketError):
    """The websocket is closed: ``code``, ``reason`` and ``how`` it ended (see the module doc)."""

    def __init__(self, code, reason, how):
        super().__init__(f"websocket closed ({how}): code {code} {reason!r}")
        self.code = code
        self.reason = reason
        self.how = how


class WebSocket:
    """An open websocket: ``send()``, ``receive()``, ``ping()``, ``close()``."""

    def __init__(self, conn, ws, *, path="/", max_message=1 << 20, timeout=10.0):
        self.conn = conn
        self.ws = ws
        self.path = path
        self.max_message = max_message
        self.timeout = timeout
        self.ended = None
        self.close_code = None
        self.close_reason = ""
        self.pongs = 0
        self.unread_at_release = 0
        self.dropped_at_release = 0
        self._lock = runtime.Lock()
        self._pong = runtime.Event()
        self._messages = deque()
        self._pending = deque()
        self._parts = []
        self._size = 0
        self._linger = None

    # -- sending -------------------------------------------------------------

    async def _send(self, event):
        async with self._lock:
            try:
                try:
                    data = self.ws.send(event)
                except LocalProtocolError as exc:  # our close frame went out already
                    raise ConnectionClosed(
                        self.close_code, self.close_reason, self.ended or "local"
                    ) from exc
                await self.conn.write(data, timeout=self.timeout)
            finally:
                self._released()

    def _released(self):
        if not self.conn.unread_bytes():
            return
        if self.conn.duplex:
            self.unread_at_release += 1  # the peer is talking while we send: normal
        else:
            self.dropped_at_release += 1  # request/response: out of step, drop it
            self.conn.close()

    def send(self, data):
        """Send one message: text for ``str``, binary for ``bytes``.

        Raises ``ConnectionClosed`` once a close frame went out, and the
        runtime's write errors and write timeout.
        """
        if isinstance(data, str):
            return self._send(TextMessage(data=data))
        return self._send(BytesMessage(data=bytes(data)))

    @runtime.coroutine
    def ping(self, payload=b"ping", *, wait=True, timeout=None):
        """Send a ping; with ``wait``, wait for a pong (another task must be reading).

        Returns the number of pongs received so far; raises the runtime's
        ``Timeout`` when no pong comes within ``timeout``.
        """
        limit = timeout or self.timeout
        self._pong.clear()
        yield self._send(Ping(payload=payload))
        if wait:
            yield runtime.with_timeout(limit, self._pong.wait())
        return self.pongs

    async def close(self, code=1000, reason=""):
        """Send a close frame; the reader finishes the closing handshake.

        The connection itself is closed when the peer's close frame arrives,
        or ``timeout`` seconds later at the latest.
        """
        if self.ws.state is not ConnectionState.OPEN:
            return
        self.ended = self.ended or "local"
        self.close_code, self.close_reason = code, reason
        await self._send(CloseConnection(code=code, reason=reason))
        self._linger = runtime.call_later(self.timeout, self.abort)

    def abort(self):
        """Drop the connection without a close frame."""
        if self._linger is not None:
            self._linger.cancel()
        self.conn.close()

    # -- receiving -----------------------------------------------------------

    async def receive(self, *, timeout=None):
        """Return the next message (``str`` or ``bytes``); answer pings on the way.

        Raises ``ConnectionClosed`` once the websocket is closed (however it
        ended), ``ProtocolViolation``/``MessageTooBig`` when the peer broke
        the protocol (the connection is then closed), and the runtime's
        read timeout.
        """
        while not self._messages:
            if self._pending:
                await self._on_event(self._pending.popleft())
            elif self.ended is not None and self.ws.state is ConnectionState.CLOSED:
                raise ConnectionClosed(self.close_code, self.close_reason, self.ended)
            else:
                await self._pump(timeout)
        return self._messages.popleft()

    async def _pump(self, timeout):
        how = None
        try:
            data = await self.conn.read_some(READ_CHUNK, timeout=timeout or None)
        except (EOFError, ConnectionError):
            data, how = None, "reset"
        else:
            if not data:
                data, how = None, "fin"
        if self.ws.state is ConnectionState.CLOSED:
            self.abort()
            return
        self.ws.receive_data(data)
        if how is not None and self.ended is None:
            self.ended = how
        self._pending.extend(self.ws.events())

    async def _on_event(self, event):
        if isinstance(event, (TextMessage, BytesMessage)):
            self._parts.append(event.data)
            self._size += len(event.data)
            if self._size > self.max_message:
                await self._fail(MESSAGE_TOO_BIG, f"message over {self.max_message} bytes")
            if event.message_finished:
                empty = "" if isinstance(event, TextMessage) else b""
                self._messages.append(empty.join(self._parts))
                self._parts, self._size = [], 0
        elif isinstance(event, Ping):
            if self.ws.state is ConnectionState.OPEN:  # no pong once our close frame is out
                await self._send(event.response())
        elif isinstance(event, Pong):
            self.pongs += 1
            self._pong.set()
        elif isinstance(event, CloseConnection):
            await self._on_close(event)

    async def _on_close(self, event):
        if self.ws.state is ConnectionState.OPEN:
            # wsproto reports a frame it could not parse as a close it wants us to send.
            await self._fail(event.code, event.reason)
        if self.ended is None:
            self.ended = "close-frame"
            self.close_code, self.close_reason = int(event.code), event.reason or ""
            await self._send(event.response())  # echo the code (RFC 6455 section 5.5.1)
        elif self.ended in ("fin", "reset"):
            self.close_code = int(event.code)  # 1006: no close frame came
        self.abort()

    async def _fail(self, code, reason):
        self.ended = "error"
        self.close_code, self.close_reason = code, reason
        with contextlib.suppress(EOFError, ConnectionError, TimeoutError):
            await self._send(CloseConnection(code=code, reason=reason[:100]))  # best effort
        self.abort()
        if code == MESSAGE_TOO_BIG:
            raise MessageTooBig(f"the peer sent a {reason}; closed with {code}", code=code)
        raise ProtocolViolation(f"the peer sent an invalid frame: {reason}", code=code)


@runtime.coroutine
def _handshake(conn, ws, timeout):
    # Read exactly the HTTP head (neither side sends a body): frames the peer
    # sends right behind it stay in the connection for the WebSocket to read.
    try:
        head = yield conn.read_until(b"\r\n\r\n", timeout=timeout, limit=MAX_HANDSHAKE)
    except ValueError as exc:
        raise HandshakeError(f"handshake over {MAX_HANDSHAKE} bytes: {exc}") from exc
    except EOFError as exc:
        raise HandshakeError("the peer closed the connection during the handshake") from exc
    try:
        ws.receive_data(head)
        events = list(ws.events())
    except RemoteProtocolError as exc:
        raise HandshakeError(f"not a websocket handshake: {exc}") from exc
    if len(events) != 1:
        raise HandshakeError(f"expected one handshake event, got {events!r}")
    return events[0]


@runtime.coroutine
def accept(conn, *, timeout=10.0, max_message=1 << 20):
    """Complete a client's opening handshake on an accepted connection; return the WebSocket."""
    ws = WSConnection(ConnectionType.SERVER)
    event = yield _handshake(conn, ws, timeout)
    if not isinstance(event, Request):
        raise HandshakeError(f"expected a websocket request, got {event!r}")
    yield conn.write(ws.send(AcceptConnection()), timeout=timeout)
    return WebSocket(conn, ws, path=event.target, max_message=max_message, timeout=timeout)


async def connect(host, port, path="/", *, timeout=10.0, max_message=1 << 20):
    """Open a websocket to ``ws://host:port/path``; return the WebSocket.

    Raises ``HandshakeError`` when the server refuses, and the runtime's
    connect errors and timeouts.
    """
    conn = await runtime.connect(host, port, timeout=timeout, duplex=True)
    try:
        ws = WSConnection(ConnectionType.CLIENT)
        await conn.write(ws.send(Request(host=f"{host}:{port}", target=path)), timeout=timeout)
        event = await _handshake(conn, ws, timeout)
        if isinstance(event, RejectConnection):
            raise HandshakeError(f"the server refused the websocket: HTTP {event.status_code}")
        if not isinstance(event, AcceptConnection):
            raise HandshakeError(f"expected the server's accept, got {event!r}")
    except BaseException:
        conn.close()
        raise
    return WebSocket(conn, ws, path=path, max_message=max_message, timeout=timeout)
