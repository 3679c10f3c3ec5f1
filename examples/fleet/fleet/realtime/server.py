"""The realtime server: newline-delimited JSON, full duplex.

Theory of operation: each connection has a reader (the handler: ``sub``,
``pub`` and ``ping`` requests) and a writer task draining a bounded outbox,
so the server pushes whenever something is published or the heartbeat
ticks, while the client may be sending at the same moment. Unread bytes on
such a connection are normal, never a reason to drop it. A slow client
fills its outbox and slows only the publishers that target it.
"""

from __future__ import annotations

import json

from legacy import runtime


class Session:
    """One connected client: its connection, topics and outbox."""

    def __init__(self, conn):
        self.conn = conn
        self.topics = set()
        self.outbox = runtime.Channel(64)

    def push(self, message):
        return self.outbox.put(json.dumps(message).encode() + b"\n")

    async def deliver(self):
        while True:
            data = await self.outbox.get()
            await self.conn.write(data, timeout=10.0)


class RealtimeServer:
    """Accept clients, route published messages to subscribers, push heartbeats."""

    def __init__(self, *, heartbeat=None):
        self.heartbeat = heartbeat
        self.sessions = set()
        self.listener = None
        self._ticker = None

    @runtime.coroutine
    def start(self, host="127.0.0.1", port=0):
        """Listen and return the port."""
        self.listener = yield runtime.listen(host, port, self._handle)
        if self.heartbeat:
            self._ticker = runtime.spawn(self._tick())
        return self.listener.port

    @runtime.coroutine
    def publish(self, topic, data):
        """Push ``data`` to every subscriber of ``topic``; return how many got it."""
        targets = [s for s in self.sessions if topic in s.topics]
        for session in targets:
            yield session.push({"type": "message", "topic": topic, "data": data})
        return len(targets)

    async def _tick(self):
        beat = 0
        while True:
            await runtime.sleep(self.heartbeat)
            beat += 1
            for session in list(self.sessions):
                await session.push({"type": "heartbeat", "beat": beat})

    @runtime.coroutine
    def _handle(self, conn):
        session = Session(conn)
        self.sessions.add(session)
        writer = runtime.spawn(self._deliver(session))
        try:
            while True:
                line = yield conn.read_until(b"\n", limit=65536)
                request = json.loads(line)
                op = request.get("op")
                if op == "sub":
                    session.topics.add(request["topic"])
                    yield session.push({"type": "subscribed", "topic": request["topic"]})
                elif op == "pub":
                    count = yield self.publish(request["topic"], request["data"])
                    yield session.push({"type": "published", "count": count})
                elif op == "ping":
                    yield session.push({"type": "pong", "seq": request.get("seq")})
                else:
                    yield session.push({"type": "error", "message": f"unknown op {op!r}"})
        except (EOFError, ConnectionError, ValueError):
            pass  # client gone, or it sent something that is not JSON: drop it
        finally:
            self.sessions.discard(session)
            writer.cancel()
            conn.close()

    async def _deliver(self, session):
        try:
            await session.deliver()
        except (EOFError, ConnectionError, TimeoutError):
            session.conn.close()  # the reader sees the close and cleans up

    def close(self):
        """Stop accepting, stop the heartbeat and disconnect every client."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self.listener is not None:
            self.listener.close()
        for session in list(self.sessions):
            session.conn.close()
