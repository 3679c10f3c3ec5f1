"""The company's HTTP/1.1 client: keep-alive connections in the company pool.

Every request borrows a connection from ``fleet.pool.Pool``. What keeps
callers away from connections the server already gave up on:

- at checkout the pool drops a connection that ``closed()`` (the server's
  FIN arrived while it sat idle: nginx's ``keepalive_timeout``, a load
  balancer's reaper), that holds unread bytes, or that the server told us
  to retire (``Connection: close``, ``Keep-Alive: max=``, the idle timeout
  announced in ``Keep-Alive: timeout=``), each counted by reason in
  ``pool.discards``;
- a request that finds a reused connection dead (``RemoteDisconnected``) is
  retried once on a fresh connection when its method is idempotent (RFC 9110
  section 9.2.2); POST and PATCH never are, unless the caller says so.

Every read and write has a deadline (``read_timeout``, ``write_timeout``).
"""

from __future__ import annotations

from legacy import runtime

from fleet.http.connection import HTTPConnection
from fleet.http.errors import RemoteDisconnected
from fleet.pool import Pool

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


class HTTPClient:
    """Send requests to one server (``host:port``) over pooled keep-alive connections."""

    def __init__(
        self,
        host,
        port,
        *,
        max_size=8,
        connect_timeout=5.0,
        read_timeout=10.0,
        write_timeout=10.0,
        max_header_bytes=16384,
        max_body_bytes=64 * 1024 * 1024,
    ):
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.authority = f"{host}:{port}"
        self.pool = Pool(
            self._connect,
            max_size=max_size,
            retry_on=(RemoteDisconnected,),
            retire=HTTPConnection.retire_reason,
        )

    @runtime.coroutine
    def _connect(self):
        conn = yield runtime.connect(self.host, self.port, timeout=self.connect_timeout)
        return HTTPConnection(
            conn,
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
            max_header_bytes=self.max_header_bytes,
            max_body_bytes=self.max_body_bytes,
        )

    def request(self, method, target, *, headers=(), body=b"", idempotent=None):
        """Return the ``Response`` to ``method target``.

        ``idempotent`` defaults to what the method is (GET, HEAD, PUT, DELETE,
        OPTIONS, TRACE). Raises ``RemoteDisconnected``, ``ProtocolError``,
        ``ConnectError`` from the runtime, and read/write timeouts.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT
        fields = [("Host", self.authority), ("User-Agent", "fleet-http/1.0"), *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", str(len(body))))
        return self.pool.run(
            lambda conn: conn.exchange(method, target, fields, body), idempotent=idempotent
        )

    @runtime.coroutine
    def get(self, target, *, headers=()):
        """GET ``target``; return the ``Response``."""
        response = yield self.request("GET", target, headers=headers)
        return response

    def post(self, target, body, *, headers=(), idempotent=False):
        """POST ``body`` to ``target``; never retried unless ``idempotent`` says it may be."""
        return self.request("POST", target, headers=headers, body=body, idempotent=idempotent)

    def close(self):
        self.pool.close()
