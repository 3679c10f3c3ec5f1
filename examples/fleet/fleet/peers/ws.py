"""The real ``websockets`` library as a peer, in threads, plus a raw-socket websocket peer.

Theory of operation: the library's threaded (``websockets.sync``) client and
server run in daemon threads, so they behave the same whichever scheduler
runs the code under test; tests wait for ``done``/counters by polling with
their own runtime's sleep. ``RawPeer`` is a plain blocking socket that
writes handshakes and frames byte by byte: it never waits for the server
(that would block the test's own event loop), so it can send what no
library would: invalid frames, oversized frames, a vanishing act without a
close frame (FIN, or RST through ``SO_LINGER`` 0).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve


class WebsocketsServer:
    """A ``websockets`` server: greets with ``{"type": "hello"}``, echoes JSON, closes on request.

    A message ``{"op": "close", "code": C, "reason": R}`` makes it close
    with that code. ``closes`` lists ``(code, reason)`` for every client
    that sent a close frame; ``received`` every message it got.
    """

    def __init__(self):
        self.closes = []
        self.received = []
        self._lock = threading.Lock()
        self._server = serve(self._handler, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handler(self, conn):
        conn.send(json.dumps({"type": "hello", "path": conn.request.path}))
        try:
            for text in conn:
                request = json.loads(text)
                with self._lock:
                    self.received.append(request)
                if request.get("op") == "close":
                    conn.close(request["code"], request.get("reason", ""))
                    break
                conn.send(json.dumps({"type": "echo", "data": request}))
        except ConnectionClosed:
            pass
        finally:
            rcvd = conn.protocol.close_rcvd
            if rcvd is not None:
                with self._lock:
                    self.closes.append((rcvd.code, rcvd.reason))

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


class WebsocketsClient:
    """Run ``script(conn)`` with a ``websockets`` client connected to ``uri``, in a thread.

    ``result`` is what the script returned, ``error`` what it raised;
    ``done`` is set when it finished, ``close_code``/``close_reason`` tell
    how the connection closed (None while open or if no close frame came).
    """

    def __init__(self, uri, script):
        self.uri = uri
        self.script = script
        self.result = None
        self.error = None
        self.close_code = None
        self.close_reason = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            with connect(self.uri, open_timeout=10, close_timeout=5) as conn:
                self.result = self.script(conn)
                rcvd = conn.protocol.close_rcvd
                if rcvd is None:
                    conn.close()  # normal closure from our side
                    rcvd = conn.protocol.close_rcvd
                if rcvd is not None:
                    self.close_code, self.close_reason = rcvd.code, rcvd.reason
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def join(self):
        self._thread.join(timeout=10.0)


def frame(opcode, payload, *, fin=True, masked=True, length=None):
    """Return one websocket frame; ``length`` overrides the declared length (lies)."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", size)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(message):
    """Return a masked text frame carrying ``message`` (a str, or an object sent as JSON)."""
    data = message if isinstance(message, str) else json.dumps(message)
    return frame(0x1, data.encode())


class RawPeer:
    """A websocket client made of a blocking socket; it sends, it never waits for the server."""

    def __init__(self, host, port, path="/"):
        self.sock = socket.create_connection((host, port), timeout=10.0)
        self.data = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def send(self, data):
        self.sock.sendall(data)

    def received(self):
        """Return everything the server sent so far (never waits)."""
        self.sock.setblocking(False)
        try:
            while chunk := self.sock.recv(65536):
                self.data += chunk
        except BlockingIOError:
            pass
        return self.data

    def close_code(self):
        """Return the code of the close frame the server sent, or None."""
        data = self.received()
        _head, _, rest = data.partition(b"\r\n\r\n")
        while len(rest) >= 2:
            opcode, size = rest[0] & 0x0F, rest[1] & 0x7F
            start = 2 + {126: 2, 127: 8}.get(size, 0)
            if size >= 126:
                size = int.from_bytes(rest[2:start], "big")
            if opcode == 0x8:
                return struct.unpack(">H", rest[start : start + 2])[0]
            rest = rest[start + size :]
        return None

    def vanish(self, *, rst=False):
        """Disappear without a close frame: FIN, or RST with ``rst``.

        For a FIN, what the server sent is read first: closing a socket with
        unread data makes the kernel send an RST instead.
        """
        if rst:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.received()
            self.sock.shutdown(socket.SHUT_WR)
        self.sock.close()
