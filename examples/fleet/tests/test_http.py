"""The http client against the real nginx, and against fake servers that misbehave."""

from __future__ import annotations

import pytest
from legacy import runtime

from fleet.http.client import HTTPClient
from fleet.http.errors import BodyTooLarge, HeaderTooLarge, ProtocolError, RemoteDisconnected
from fleet.peers.nginx import body


def checked(response, path, size):
    """Return what a parity recording needs: status, and whether the body is the right one."""
    return response.status, len(response.body), response.body == body(path, size)


@pytest.mark.parity
async def test_static_large_chunked_and_post_bodies_over_keep_alive(nginx, parity):
    client = HTTPClient(nginx.host, nginx.port, max_size=1)
    try:
        small = await client.get("/static/small.txt")
        parity.record("static", checked(small, "/static/small.txt", 1_000))
        parity.record("length header", small.header("Content-Length"))
        big = await client.get("/static/big.bin")
        parity.record("static big", checked(big, "/static/big.bin", 2_000_000))
        chunked = await client.get("/up/chunked/300000")
        parity.record("chunked", checked(chunked, "/up/chunked/300000", 300_000))
        parity.record("framing", chunked.header("Transfer-Encoding"))
        large = await client.get("/up/large/3000000")
        parity.record("large", checked(large, "/up/large/3000000", 3_000_000))
        echo = await client.post("/up/echo", b"x" * 100_000)
        parity.record("echo", (echo.status, echo.body == b"x" * 100_000))
        head = await client.request("HEAD", "/static/page.html")
        parity.record("head", (head.status, head.header("Content-Length"), head.body))
        missing = await client.get("/static/missing.txt")
        parity.record("missing", missing.status)
        parity.record("stats", client.pool.stats)
        parity.record("discards", client.pool.discards)
    finally:
        client.close()


@pytest.mark.parity
async def test_nginx_closing_an_idle_pooled_connection_costs_nothing(nginx, parity, wait_until):
    client = HTTPClient(nginx.host, nginx.port, max_size=1)
    try:
        parity.record("first", (await client.get("/static/small.txt")).status)
        (pooled,) = client.pool.idle()
        # keepalive_timeout 1 s: nginx closes it while it sits in the pool, unannounced.
        await wait_until(pooled.closed, within=10.0)
        parity.record("second", (await client.get("/static/small.txt")).status)
        # Not idempotent, so never retried: only checkout's closed() check saves it.
        await wait_until(lambda: client.pool.idle()[0].closed(), within=10.0)
        parity.record("post", (await client.post("/up/echo", b"after idle")).body)
        parity.record("stats", client.pool.stats)
        parity.record("discards", client.pool.discards)
    finally:
        client.close()


@pytest.mark.parity
async def test_keep_alive_limits_and_hints_are_followed(nginx, parity):
    client = HTTPClient(nginx.host, nginx.port, max_size=1)
    try:
        # keepalive_requests 5: the fifth response says Connection: close.
        statuses = [(await client.get("/static/small.txt")).status for _ in range(6)]
        parity.record("statuses", statuses)
        parity.record("after max", (client.pool.stats, dict(client.pool.discards)))
        hinted = await client.get("/hinted/small.txt")
        parity.record("hint", hinted.header("Keep-Alive"))
        (pooled,) = client.pool.idle()
        parity.record("idle timeout learnt", pooled.idle_timeout)
        # Retired before the announced timeout: nginx never gets to close it under us.
        await runtime.sleep(0.6)
        parity.record("retired", pooled.retire_reason())
        parity.record("after hint", (await client.get("/static/small.txt")).status)
        parity.record("discards", client.pool.discards)
    finally:
        client.close()


class FakeServer:
    """A misbehaving HTTP server: ``replies[path]`` is what it writes back (None: hang up).

    It hangs up after answering a path in ``close_after``, or after
    ``answers_per_connection`` answers on one connection.
    """

    def __init__(self, replies, *, answers_per_connection=None, close_after=()):
        self.replies = replies
        self.answers_per_connection = answers_per_connection
        self.close_after = set(close_after)
        self.requests = []
        self.listener = None

    @runtime.coroutine
    def start(self):
        self.listener = yield runtime.listen("127.0.0.1", 0, self._handle)
        return self.listener.port

    async def _handle(self, conn):
        answered = 0
        try:
            while True:
                head = await conn.read_until(b"\r\n\r\n", timeout=10.0)
                method, path = head.split(b" ")[:2]
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await conn.read_exactly(length, timeout=10.0)
                self.requests.append((method.decode(), path.decode()))
                reply = self.replies[path.decode()]
                if reply is None or answered == self.answers_per_connection:
                    return  # hang up without answering: a keep-alive close racing the request
                if reply == b"silence":
                    await runtime.sleep(30.0)  # a server that never answers
                    return
                await conn.write(reply, timeout=10.0)
                answered += 1
                if path.decode() in self.close_after:
                    return
        except (EOFError, ConnectionError):
            pass

    def close(self):
        self.listener.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parity
async def test_a_dead_reused_connection_is_retried_once_for_get_never_for_post(parity):
    server = FakeServer({"/get": OK, "/post": OK}, answers_per_connection=1)
    port = await server.start()
    client = HTTPClient("127.0.0.1", port, max_size=1)
    try:
        parity.record("first", (await client.get("/get")).body)
        # The server answers once per connection, then hangs up on the next request.
        parity.record("retried get", (await client.get("/get")).body)
        parity.record("retried", client.pool.stats["retried"])
        with pytest.raises(RemoteDisconnected) as post_error:
            await client.post("/post", b"charge the card")
        parity.record("post error", (type(post_error.value).__name__, post_error.value.partial))
        parity.record("post sent once", server.requests.count(("POST", "/post")))
        parity.record("stats", client.pool.stats)
        parity.record("discards", client.pool.discards)
    finally:
        client.close()
        server.close()


BAD = {
    "/bad-status": (b"HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\nok", ProtocolError),
    "/short-body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", ProtocolError),
    "/cut-chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly eight",
        ProtocolError,
    ),
    "/huge-body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"b" * 100_000,
        BodyTooLarge,
    ),
    "/huge-headers": (
        b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"f" * 40_000 + b"\r\n\r\n",
        HeaderTooLarge,
    ),
}


@pytest.mark.parity
@pytest.mark.parametrize("path", sorted(BAD))
async def test_malformed_responses_fail_that_request_only(parity, path):
    reply, error = BAD[path]
    replies = {"/good": OK, path: reply}
    # A cut response only ends when the server hangs up: it closes after writing it.
    server = FakeServer(replies, close_after={path})
    port = await server.start()
    client = HTTPClient(
        "127.0.0.1", port, max_size=2, max_header_bytes=16384, max_body_bytes=50_000
    )
    try:
        parity.record("warm", (await client.get("/good")).body)
        outcomes = await runtime.wait_all(
            [_outcome(client.get(path)), _outcome(client.get("/good"))]
        )
        parity.record("outcomes", outcomes)
        parity.record("typed", outcomes[0][0] == error.__name__)
        parity.record("after", (await client.get("/good")).body)
        parity.record("discards", client.pool.discards)
    finally:
        client.close()
        server.close()


async def _outcome(aw):
    try:
        response = await aw
    except (ProtocolError, RemoteDisconnected) as exc:
        return type(exc).__name__, None
    return "ok", response.body


@pytest.mark.parity
async def test_a_server_that_never_answers_hits_the_read_deadline(parity):
    server = FakeServer({"/good": OK, "/silent": b"silence"})
    port = await server.start()
    client = HTTPClient("127.0.0.1", port, max_size=1, read_timeout=0.3)
    started = runtime.monotonic()
    try:
        with pytest.raises(TimeoutError):
            await client.get("/silent")
        parity.record("at the deadline", 0.25 < runtime.monotonic() - started < 5.0)
        parity.record("after", (await client.get("/good")).body)
        parity.record("discards", client.pool.discards)
    finally:
        client.close()
        server.close()


@pytest.mark.parity
async def test_keep_alive_max_retires_the_connection_before_the_server_does(parity):
    hinted = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=30, max=%d\r\n\r\nok"
    server = FakeServer({"/two": hinted % 1, "/one": hinted % 0}, answers_per_connection=2)
    port = await server.start()
    client = HTTPClient("127.0.0.1", port, max_size=1)
    try:
        # max=1: one more request on this connection, then none (max=0).
        bodies = [(await client.get(path)).body for path in ("/two", "/one", "/two")]
        parity.record("bodies", bodies)
        parity.record("stats", client.pool.stats)
        parity.record("discards", client.pool.discards)
        parity.record("requests seen", len(server.requests))
    finally:
        client.close()
        server.close()
