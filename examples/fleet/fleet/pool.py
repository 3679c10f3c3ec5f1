"""The company's connection pool, shared by the docs, cache, pdf-export and http clients.

Theory of operation: a request borrows a slot (at most ``max_size`` requests
hold a connection at once), takes the most recently returned idle connection,
or dials a new one, runs, and gives the connection back. Two rules keep
callers away from dead connections:

- at checkout, a connection that reports ``closed()`` (the peer's FIN or RST
  arrived while it sat idle) or that holds bytes nobody asked for is
  discarded. This is only as good as ``closed()``: right on the in-house
  runtime and on the shim, wrong on raw asyncio streams (the post-mortem);
- a protocol may say when a connection must not be reused (HTTP's
  ``Connection: close`` and keep-alive hints): ``retire(conn)`` returns the
  reason, checked when the connection comes back and again at checkout;
- a request that fails with ``EOFError`` (or one of ``retry_on``) on a
  *reused* connection ran into a close that raced with checkout; an
  idempotent request is retried once, on a fresh connection.

Any exception inside a request discards its connection: its protocol state is
unknown. ``discards`` counts every discarded connection by reason: ``dead``
(closed at checkout), ``unread``, ``dead-in-use`` (failed with a retryable
error), ``error``, ``closed`` (returned already closed) and
whatever ``retire`` returned.
"""

from __future__ import annotations

from legacy import runtime


class Pool:
    """Hand out live connections made by ``connect()``; retry idempotent requests once."""

    def __init__(self, connect, *, max_size=8, retry_on=(), retire=None):
        self._connect = connect
        self._retry_on = (EOFError, *retry_on)
        self._retire = retire
        self._idle = []
        self._slots = runtime.Channel(max_size)
        self._closed = False
        self.stats = {"opened": 0, "reused": 0, "discarded": 0, "retried": 0}
        self.discards = {}

    async def run(self, request, *, idempotent=False):
        """Return ``await request(conn)`` run on a pooled connection.

        Raises whatever the request or ``connect()`` raised; ``RuntimeError``
        once the pool is closed.
        """
        await self._slots.put(None)
        try:
            conn, reused = await self._checkout()
            try:
                result = await request(conn)
            except self._retry_on:
                self._discard(conn, "dead-in-use")
                if not (reused and idempotent):
                    raise
                self.stats["retried"] += 1
                conn = await self._dial()
                try:
                    result = await request(conn)
                except BaseException:
                    self._discard(conn, "error")
                    raise
            except BaseException:
                self._discard(conn, "error")
                raise
            self._checkin(conn)
            return result
        finally:
            await self._slots.get()  # never waits: our own token is in the channel

    async def _checkout(self):
        while self._idle:
            conn = self._idle.pop()
            reason = self._unfit(conn)
            if reason is not None:
                self._discard(conn, reason)
                continue
            self.stats["reused"] += 1
            return conn, True
        return await self._dial(), False

    async def _dial(self):
        if self._closed:
            raise RuntimeError("the pool is closed; create a new Pool to send more requests")
        conn = await self._connect()
        self.stats["opened"] += 1
        return conn

    def _unfit(self, conn):
        reason = self._retire(conn) if self._retire is not None else None
        if reason is not None:
            return reason
        if conn.closed():
            return "dead"
        if conn.unread_bytes():
            return "unread"
        return None

    def _checkin(self, conn):
        reason = self._retire(conn) if self._retire is not None else None
        if reason is None and conn.closed():
            reason = "closed"
        if reason is not None:
            self._discard(conn, reason)
        elif self._closed:
            conn.close()
        else:
            self._idle.append(conn)

    def _discard(self, conn, reason):
        self.stats["discarded"] += 1
        self.discards[reason] = self.discards.get(reason, 0) + 1
        conn.close()

    def idle(self):
        """Return the connections waiting in the pool (for monitoring)."""
        return tuple(self._idle)

    def close(self):
        """Close every idle connection; connections in use close when returned."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
