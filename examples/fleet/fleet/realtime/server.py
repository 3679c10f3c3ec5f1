"""The realtime server: JSON messages over WebSocket (RFC 6455), full duplex.

Theory of operation: clients connect (the server accepts with
``duplex=True``: unread data on these connections is normal) and complete
the websocket handshake. Each connection then has a reader (the handler:
``sub``, ``pub``, ``ping`` and ``bye`` requests) and a writer task draining
a bounded outbox, so the server pushes whenever something is published or
the heartbeat ticks (a JSON heartbeat and a websocket ping, which keeps
idle connections alive through proxies), while the client may be sending
at the same moment. A slow client fills its outbox and slows only the
publishers that target it.

However a connection ends (the client's close frame, our close frame, the
client vanishing with a FIN or an RST, a protocol violation) the handler's
``finally`` runs the per-connection cleanup: the session leaves every
topic, and ``cleanups`` counts how it ended.
"""

from __future__ import annotations

import json

from legacy import runtime

from fleet.realtime import websocket
from fleet.realtime.websocket import ConnectionClosed, HandshakeError, ProtocolViolation

GOING_AWAY = 1001


class Session:
    """One connected client: its websocket, topics and outbox."""

    def __init__(self, ws):
        self.ws = ws
        self.topics = set()
        self.outbox = runtime.Channel(64)

    def push(self, message):
        return self.outbox.put(json.dumps(message))

    async def deliver(self):
        while True:
            text = await self.outbox.get()
            await self.ws.send(text)


class RealtimeServer:
    """Accept websocket clients, route published messages, push heartbeats and pings."""

    def __init__(self, *, heartbeat=None, max_message=1 << 20, timeout=10.0):
        self.heartbeat = heartbeat
        self.max_message = max_message
        self.timeout = timeout
        self.sessions = set()
        self.cleanups = {"close-frame": 0, "local": 0, "fin": 0, "reset": 0, "error": 0}
        self.closes = []  # (how, code) per ended session, in order
        self.listener = None
        self._ticker = None

    @runtime.coroutine
    def start(self, host="127.0.0.1", port=0):
        """Listen and return the port."""
        self.listener = yield runtime.listen(host, port, self._handle, duplex=True)
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
                try:
                    await session.ws.ping(b"beat %d" % beat, wait=False)
                except (ConnectionClosed, EOFError, ConnectionError, TimeoutError):
                    session.ws.abort()  # its reader sees the close and cleans up

    @runtime.coroutine
    def _handle(self, conn):
        try:
            ws = yield websocket.accept(conn, timeout=self.timeout, max_message=self.max_message)
        except (HandshakeError, EOFError, ConnectionError, TimeoutError):
            return  # not a websocket client, or gone during the handshake
        session = Session(ws)
        self.sessions.add(session)
        writer = runtime.spawn(self._deliver(session))
        try:
            while True:
                text = yield ws.receive()
                yield self._serve(session, text)
        except (ConnectionClosed, ProtocolViolation, EOFError, ConnectionError, TimeoutError):
            pass  # ended: how is in ws.ended
        finally:
            writer.cancel()
            ws.abort()
            self._cleanup(session)

    @runtime.coroutine
    def _serve(self, session, text):
        try:
            request = json.loads(text)
            op = request.get("op")
        except (ValueError, AttributeError):
            yield session.push({"type": "error", "message": f"not a JSON object: {text[:60]!r}"})
            return
        if op == "sub":
            session.topics.add(request["topic"])
            yield session.push({"type": "subscribed", "topic": request["topic"]})
        elif op == "pub":
            count = yield self.publish(request["topic"], request["data"])
            yield session.push({"type": "published", "count": count})
        elif op == "ping":
            yield session.push({"type": "pong", "seq": request.get("seq")})
        elif op == "bye":
            yield session.ws.close(request.get("code", 1000), request.get("reason", ""))
        else:
            yield session.push({"type": "error", "message": f"unknown op {op!r}"})

    def _cleanup(self, session):
        """The per-connection cleanup: runs once, however the connection ended."""
        self.sessions.discard(session)
        session.topics.clear()
        how = session.ws.ended or "error"
        self.cleanups[how] += 1
        self.closes.append((how, session.ws.close_code))

    async def _deliver(self, session):
        try:
            await session.deliver()
        except (ConnectionClosed, EOFError, ConnectionError, TimeoutError):
            session.ws.abort()  # the reader sees the close and cleans up

    @runtime.coroutine
    def shutdown(self, code=GOING_AWAY, reason="server shutting down"):
        """Send every client a close frame, then stop (``close()``) once they answered."""
        for session in list(self.sessions):
            try:
                yield session.ws.close(code, reason)
            except (ConnectionClosed, EOFError, ConnectionError, TimeoutError):
                session.ws.abort()
        deadline = runtime.monotonic() + self.timeout
        while self.sessions and runtime.monotonic() < deadline:
            yield runtime.sleep(0.01)
        self.close()

    def close(self):
        """Stop accepting, stop the heartbeat and drop every client (no close frame)."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self.listener is not None:
            self.listener.close()
        for session in list(self.sessions):
            session.ws.abort()
