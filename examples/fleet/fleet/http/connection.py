"""One keep-alive HTTP/1.1 connection: the runtime's byte stream driven by an h11 state machine.

Theory of operation: h11 decides everything about the protocol (framing by
Content-Length or chunked encoding, ``Connection: close``, whether the
connection can carry another request); this module only moves bytes, with a
deadline on every read and write, and turns what went wrong into the http
client's typed errors:

- the server's end of the stream (FIN, RST, or any connection error) while
  a response is due becomes ``RemoteDisconnected``: on a reused connection
  that is the keep-alive race, which the pool retries for idempotent requests;
- anything h11 rejects becomes ``ProtocolError`` (``HeaderTooLarge`` when the
  header block outgrows ``max_header_bytes``); the connection is then closed,
  since its byte stream is out of step.

After each response, the server's ``Keep-Alive: timeout=N, max=M`` hints are
kept: ``retire_reason()`` tells the pool when the connection must not be
handed out again (the server said close, no requests left, or the idle
timeout the server announced is about to pass: ``KEEPALIVE_MARGIN`` before
it, so our request and the server's close do not cross on the wire).
"""

from __future__ import annotations

import h11
from legacy import runtime

from fleet.http.errors import BodyTooLarge, HeaderTooLarge, ProtocolError, RemoteDisconnected

READ_CHUNK = 65536
KEEPALIVE_MARGIN = 0.5  # seconds before the server's announced idle timeout we stop reusing


class Response:
    """A complete response: ``status``, ``reason``, ``headers`` (lower-cased names), ``body``."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        """Return the first value of header ``name`` (case-insensitive) as text."""
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key == wanted:
                return value.decode("latin-1")
        return default

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {len(self.body)} bytes>"


def keep_alive_hints(value):
    """Return ``(timeout, max)`` from a ``Keep-Alive`` header value (None where absent or bad)."""
    hints = {}
    for part in value.split(","):
        key, _, number = part.strip().partition("=")
        try:
            hints[key.strip().lower()] = int(number.strip())
        except ValueError:
            continue  # a hint we cannot read is a hint we do not follow
    return hints.get("timeout"), hints.get("max")


class HTTPConnection:
    """One connection to one server; requests run one after another on it."""

    def __init__(
        self, conn, *, read_timeout, write_timeout, max_header_bytes=16384, max_body_bytes=None
    ):
        self.conn = conn
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_bytes)
        self.requests = 0
        self.idle_since = runtime.monotonic()
        self.idle_timeout = None  # from Keep-Alive: timeout=
        self.requests_left = None  # from Keep-Alive: max=
        self._received = 0

    def closed(self):
        return self.conn.closed()

    def unread_bytes(self):
        """Bytes the server sent that no response accounts for (buffered by h11 or unread)."""
        return len(self.h11.trailing_data[0]) + self.conn.unread_bytes()

    def close(self):
        self.conn.close()

    def retire_reason(self):
        """Return why this idle connection must not carry another request, or None."""
        if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is h11.MUST_CLOSE:
            return "connection-close"
        if self.requests_left is not None and self.requests_left <= 0:
            return "keep-alive-max"
        idle = runtime.monotonic() - self.idle_since
        if self.idle_timeout is not None and idle >= self.idle_timeout - KEEPALIVE_MARGIN:
            return "keep-alive-timeout"
        return None

    async def exchange(self, method, target, headers, body):
        """Send one request and return its ``Response``.

        Raises ``RemoteDisconnected``, ``ProtocolError`` (``HeaderTooLarge``,
        ``BodyTooLarge``) and the runtime's read/write timeouts.
        """
        self.requests += 1
        self._received = 0
        try:
            data = self.h11.send(h11.Request(method=method, target=target, headers=headers))
            if body:
                data += self.h11.send(h11.Data(data=body))
            data += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise ValueError(f"cannot send {method} {target!r}: {exc}") from exc
        await self._write(data)
        head = await self._next_event()
        while isinstance(head, h11.InformationalResponse):
            head = await self._next_event()  # 100 Continue and friends carry nothing for us
        chunks = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.EndOfMessage):
                break
            chunks.append(bytes(event.data))
            size += len(event.data)
            if self.max_body_bytes is not None and size > self.max_body_bytes:
                self.conn.close()
                raise BodyTooLarge(
                    f"response body to {method} {target!r} is over the "
                    f"{self.max_body_bytes}-byte limit; raise max_body_bytes if that is expected"
                )
        self._finish_cycle(head)
        return Response(
            head.status_code, head.reason.decode("latin-1"), head.headers, b"".join(chunks)
        )

    def _finish_cycle(self, head):
        self.idle_since = runtime.monotonic()
        hint = dict(head.headers).get(b"keep-alive")
        if hint is not None:
            self.idle_timeout, self.requests_left = keep_alive_hints(hint.decode("latin-1"))
        elif self.requests_left is not None:
            self.requests_left -= 1
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            self.conn.close()  # Connection: close (or HTTP/1.0): the server hangs up next

    async def _write(self, data):
        try:
            await self.conn.write(data, timeout=self.write_timeout)
        except (EOFError, ConnectionError) as exc:
            self.conn.close()
            raise RemoteDisconnected(
                f"the server closed the connection before the request was sent: {exc!r}"
            ) from exc

    async def _next_event(self):
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self.conn.close()
                if exc.error_status_hint == 431:
                    raise HeaderTooLarge(
                        f"response header block is over {self.max_header_bytes} "
                        "bytes; raise max_header_bytes if the server really sends that much"
                    ) from exc
                raise ProtocolError(f"malformed response from the server: {exc}") from exc
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.conn.read_some(READ_CHUNK, timeout=self.read_timeout)
            except (EOFError, ConnectionError) as exc:
                self.conn.close()
                raise RemoteDisconnected(
                    f"the server reset the connection after {self._received} bytes of the "
                    f"response: {exc!r}",
                    partial=self._received,
                ) from exc
            if not data and not self._received:
                self.conn.close()
                raise RemoteDisconnected(
                    "the server closed the connection without answering", partial=0
                )
            self._received += len(data)
            self.h11.receive_data(data)
