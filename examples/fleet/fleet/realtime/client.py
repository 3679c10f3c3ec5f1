"""A client for the realtime server (or any websocket server speaking JSON): pushes as they come."""

from __future__ import annotations

import json

from legacy import runtime

from fleet.realtime import websocket
from fleet.realtime.websocket import ConnectionClosed, ProtocolViolation


class RealtimeClient:
    """One websocket; a reader task queues every message in ``inbox`` (None at the end)."""

    def __init__(self, ws):
        self.ws = ws
        self.inbox = runtime.Channel(256)
        self.error = None
        self._reader = runtime.spawn(self._read_loop())

    @classmethod
    async def connect(cls, host, port, path="/", *, timeout=5.0, max_message=1 << 20):
        ws = await websocket.connect(host, port, path, timeout=timeout, max_message=max_message)
        return cls(ws)

    async def _read_loop(self):
        try:
            while True:
                text = await self.ws.receive()
                await self.inbox.put(json.loads(text))
        except (ConnectionClosed, EOFError, ConnectionError, TimeoutError):
            pass
        except (ProtocolViolation, ValueError) as exc:
            self.error = exc  # the server broke the protocol: this connection is gone
            self.ws.abort()
        await self.inbox.put(None)  # the server hung up

    def send(self, **request):
        return self.ws.send(json.dumps(request))

    def ping(self, timeout=5.0):
        """Send a websocket ping; return once the pong arrived."""
        return self.ws.ping(timeout=timeout)

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

    @runtime.coroutine
    def disconnect(self, code=1000, reason="", timeout=5.0):
        """Close with a close frame and wait for the server's answer; return how it ended."""
        yield self.ws.close(code, reason)
        while True:
            message = yield self.next_push(timeout)
            if message is None:
                return self.ws.ended, self.ws.close_code

    def close(self):
        self._reader.cancel()
        self.ws.abort()
