"""The renderer: an RPC server that turns documents into (pretend) PDFs.

When more than ``max_active`` connections are open it is overloaded and, by
``overload`` policy, either closes the new connection at once ("close") or
leaves it unread until load drops ("stop_reading"): clients then see the
kernel's backpressure, and only a write deadline saves them.
"""

from __future__ import annotations

import hashlib

from legacy.runtime import Event, listen
from legacy.runtime import sleep as pause

from fleet.pdf_export.protocol import FrameError, frame, read_frame


def render(params):
    """Return the (pretend) rendering of one document."""
    text = f"{params['doc']}:{params['pages']}:{params.get('body', '')}"
    return {
        "doc": params["doc"],
        "key": params.get("key"),
        "pages": params["pages"],
        "bytes": len(params.get("body", "")),
        "digest": hashlib.sha256(text.encode()).hexdigest()[:16],
    }


class Renderer:
    """Serve ``render`` and ``ping`` requests; see the module doc for overload."""

    def __init__(self, *, max_active=256, overload="close", work_seconds=0.0):
        if overload not in ("close", "stop_reading"):
            raise ValueError(f"overload must be 'close' or 'stop_reading', not {overload!r}")
        self.max_active = max_active
        self.overload = overload
        self.work_seconds = work_seconds
        self.active = 0
        self.served = 0
        self.listener = None
        self._conns = set()
        self._stopped = Event()

    async def start(self, host="127.0.0.1", port=0):
        """Listen and return the port."""
        self.listener = await listen(host, port, self._handle)
        return self.listener.port

    async def _handle(self, conn):
        self.active += 1
        self._conns.add(conn)
        try:
            if self.active > self.max_active:
                if self.overload == "stop_reading":
                    await self._stopped.wait()
                return
            await self._serve(conn)
        except (EOFError, ConnectionError, FrameError, TimeoutError):
            pass  # the client went away or spoke garbage: drop it
        finally:
            self.active -= 1
            self._conns.discard(conn)
            conn.close()

    async def _serve(self, conn):
        while True:
            request = await read_frame(conn)
            if self.work_seconds:
                await pause(self.work_seconds)
            if request.get("method") == "render":
                reply = {"id": request.get("id"), "result": render(request["params"])}
            elif request.get("method") == "ping":
                reply = {"id": request.get("id"), "result": "pong"}
            else:
                error = {
                    "code": "unknown-method",
                    "message": f"no method {request.get('method')!r}",
                }
                reply = {"id": request.get("id"), "error": error}
            await conn.write(frame(reply), timeout=10.0)
            self.served += 1

    def close(self):
        """Stop accepting and close every connection, served or held unread."""
        self._stopped.set()
        if self.listener is not None:
            self.listener.close()
        for conn in list(self._conns):
            conn.close()
