"""A Redis client (RESP2) whose per-connection cleanup runs however the connection ends.

Theory of operation: a request is one RESP array of bulk strings; a reply is
a simple string, an error, an integer, a bulk string or an array of replies.
Every connection is registered in ``client.live`` while usable; its cleanup
(unregister, drop its subscriptions, count why it ended) runs exactly once,
whether we closed it, the server closed it (a read saw EOF, or the pool found
it closed at checkout), or it was reset. The post-mortem's Redis bug was a
cleanup wired to local close only.
"""

from __future__ import annotations

from legacy import runtime
from legacy.runtime import connect

from fleet.pool import Pool


class RedisError(Exception):
    """The server answered with an error reply, e.g. ``WRONGTYPE ...``."""

    def __init__(self, message):
        super().__init__(message)
        self.kind = message.split(" ", 1)[0]
        self.message = message


class ProtocolError(Exception):
    """The server sent a reply this client cannot parse."""


def encode(*args):
    """Return the RESP array of bulk strings for one command."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RedisConnection:
    """One connection; ``close()`` and every way of losing it run the cleanup once."""

    def __init__(self, client, conn, timeout):
        self.client = client
        self.conn = conn
        self.timeout = timeout
        self.channels = set()
        self.ended = None  # why it ended: "local" or "peer"
        client.live.add(self)

    def closed(self):
        return self.conn.closed()

    def unread_bytes(self):
        return self.conn.unread_bytes()

    def close(self):
        self._end("peer" if self.conn.closed() else "local")

    def _end(self, reason):
        if self.ended is not None:
            return
        self.ended = reason
        self.conn.close()
        self.client.cleanup(self, reason)

    @runtime.coroutine
    def read_reply(self, timeout=None):
        """Read one reply; an error reply is returned (not raised) so arrays stay whole."""
        line = yield self.conn.read_until(b"\r\n", timeout=timeout or self.timeout)
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = yield self.conn.read_exactly(int(rest) + 2, timeout=self.timeout)
            return data[:-2]
        if kind == b"*":
            items = []
            for _ in range(max(int(rest), 0)):
                item = yield self.read_reply()
                items.append(item)
            return items if int(rest) >= 0 else None
        raise ProtocolError(f"unexpected RESP reply {line[:40]!r}")

    @runtime.coroutine
    def call(self, *args):
        """Send one command and return its reply; raises ``RedisError`` for an error reply."""
        try:
            yield self.conn.write(encode(*args), timeout=self.timeout)
            reply = yield self.read_reply()
        except (EOFError, ConnectionError):
            self._end("peer")
            raise
        if isinstance(reply, RedisError):
            raise reply
        return reply


class Redis:
    """GET, SET, DEL, INCR and PING over the company pool; SUBSCRIBE on its own connection.

    ``ssl`` (an ``ssl.SSLContext``, or True for the default one) makes every
    connection TLS, as a managed Redis or a Redis with ``tls-port`` wants;
    ``server_hostname`` is the name its certificate carries (default: ``host``).
    """

    def __init__(self, host, port, *, max_size=8, timeout=5.0, ssl=None, server_hostname=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.live = set()
        self.cleanups = {"local": 0, "peer": 0}
        self.pool = Pool(self._open, max_size=max_size)

    @runtime.coroutine
    def _open(self):
        conn = yield connect(
            self.host,
            self.port,
            timeout=self.timeout,
            ssl=self.ssl,
            server_hostname=self.server_hostname,
        )
        return RedisConnection(self, conn, self.timeout)

    def cleanup(self, rconn, reason):
        """Forget a connection that stopped being usable (runs once per connection)."""
        self.live.discard(rconn)
        rconn.channels.clear()
        self.cleanups[reason] += 1

    def _run(self, *args, idempotent=True):
        return self.pool.run(lambda rconn: rconn.call(*args), idempotent=idempotent)

    @runtime.coroutine
    def ping(self):
        reply = yield self._run("PING")
        return reply == "PONG"

    def get(self, key):
        return self._run("GET", key)

    @runtime.coroutine
    def set(self, key, value, *, ex=None):
        args = ("SET", key, value) if ex is None else ("SET", key, value, "EX", ex)
        reply = yield self._run(*args)
        return reply == "OK"

    def delete(self, *keys):
        return self._run("DEL", *keys)

    def incr(self, key):
        # Not idempotent: a retry after a lost reply could count twice.
        return self._run("INCR", key, idempotent=False)

    def publish(self, channel, message):
        """Send ``message`` to ``channel``'s subscribers; return how many received it."""
        return self._run("PUBLISH", channel, message, idempotent=False)

    @runtime.coroutine
    def subscribe(self, *channels, name=None):
        """Return a ``Subscription`` on a new connection the server pushes messages to.

        ``name`` labels the connection in ``CLIENT LIST`` (operators find it there).
        """
        rconn = yield self._open()
        try:
            if name is not None:
                yield rconn.call("CLIENT", "SETNAME", name)
            yield rconn.conn.write(encode("SUBSCRIBE", *channels), timeout=self.timeout)
            for _ in channels:
                reply = yield rconn.read_reply()
                if not (isinstance(reply, list) and reply[0] == b"subscribe"):
                    raise ProtocolError(f"expected a subscribe confirmation, got {reply!r}")
                rconn.channels.add(reply[1].decode())
        except BaseException:
            rconn.close()
            raise
        return Subscription(rconn)

    def close(self):
        """Close every pooled connection (subscriptions are closed by their owners)."""
        self.pool.close()


class Subscription:
    """Messages pushed on subscribed channels, read with ``next_message()``."""

    def __init__(self, rconn):
        self.rconn = rconn

    @property
    def channels(self):
        return set(self.rconn.channels)

    @runtime.coroutine
    def next_message(self, timeout=None):
        """Return ``(channel, data)``; raises ``EOFError`` once the connection ended."""
        while True:
            try:
                reply = yield self.rconn.read_reply(timeout=timeout)
            except (EOFError, ConnectionError):
                self.rconn._end("peer")
                raise
            if isinstance(reply, list) and reply[0] == b"message":
                return reply[1].decode(), reply[2]

    def close(self):
        self.rconn.close()
