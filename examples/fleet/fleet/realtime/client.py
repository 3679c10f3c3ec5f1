"""A client for the realtime server: send requests, receive pushes as they come."""

from __future__ import annotations

import json

from legacy import runtime


class RealtimeClient:
    """One connection; a reader task queues every push in ``inbox``."""

    def __init__(self, conn):
        self.conn = conn
        self.inbox = runtime.Channel(256)
        self._reader = runtime.spawn(self._read_loop())

    @classmethod
    async def connect(cls, host, port, *, timeout=5.0):
        conn = await runtime.connect(host, port, timeout=timeout)
        return cls(conn)

    async def _read_loop(self):
        try:
            while True:
                line = await self.conn.read_until(b"\n", limit=65536)
                await self.inbox.put(json.loads(line))
        except (EOFError, ConnectionError):
            await self.inbox.put(None)  # the server hung up

    def send(self, **request):
        return self.conn.write(json.dumps(request).encode() + b"\n", timeout=5.0)

    @runtime.coroutine
    def next_push(self, timeout=5.0):
        """Return the next pushed message, or None when the server hung up.

        Raises ``runtime.Timeout`` when nothing arrives within ``timeout``.
        """
        message = yield runtime.with_timeout(timeout, self.inbox.get())
        return message

    @runtime.coroutine
    def next_of(self, kind, timeout=5.0):
        """Return the next push of type ``kind``, skipping others (e.g. heartbeats)."""
        while True:
            message = yield self.next_push(timeout)
            if message is None or message["type"] == kind:
                return message

    def close(self):
        self._reader.cancel()
        self.conn.close()
