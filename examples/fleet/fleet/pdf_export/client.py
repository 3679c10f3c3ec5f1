"""The RPC client the web tier uses to ask the renderer for PDFs.

Every write has a deadline: a renderer that stops reading (overloaded) makes
the call fail at ``write_timeout`` instead of hanging (the post-mortem's
RPC bug). A renderer that closes connections is handled by the pool, which
retries an idempotent call once on a fresh connection.
"""

from __future__ import annotations

import itertools

from legacy import runtime
from legacy.runtime import connect

from fleet.pdf_export.protocol import frame as encode_frame
from fleet.pdf_export.protocol import read_frame
from fleet.pool import Pool


class RemoteError(Exception):
    """The renderer answered with an error object."""

    def __init__(self, code, message):
        super().__init__(f"renderer error {code}: {message}")
        self.code = code
        self.message = message


class MismatchedReply(Exception):
    """A reply carried another request's id: the connection's stream was out of step."""


class RenderClient:
    """Call the renderer over pooled connections, with explicit deadlines."""

    def __init__(self, host, port, *, max_size=8, write_timeout=2.0, read_timeout=10.0):
        self.host = host
        self.port = port
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        self._ids = itertools.count(1)
        self.pool = Pool(self._connect, max_size=max_size)

    def _connect(self):
        return connect(self.host, self.port, timeout=self.read_timeout)

    @runtime.coroutine
    def _exchange(self, conn, method, params):
        request_id = next(self._ids)
        message = {"id": request_id, "method": method, "params": params}
        yield conn.write(encode_frame(message), timeout=self.write_timeout)
        reply = yield read_frame(conn, timeout=self.read_timeout)
        if reply.get("id") != request_id:
            raise MismatchedReply(
                f"sent request {request_id}, got the reply to {reply.get('id')!r}"
            )
        if "error" in reply:
            raise RemoteError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    def call(self, method, params, *, idempotent=True):
        """Return the result of ``method``; raises ``RemoteError`` or the runtime's I/O errors."""
        return self.pool.run(
            lambda conn: self._exchange(conn, method, params), idempotent=idempotent
        )

    @runtime.coroutine
    def render(self, doc_id, *, pages=1, body="", key=None):
        """Render a document; ``key`` is echoed back so callers can check the answer is theirs."""
        result = yield self.call(
            "render", {"doc": doc_id, "pages": pages, "body": body, "key": key}
        )
        return result

    def close(self):
        self.pool.close()
