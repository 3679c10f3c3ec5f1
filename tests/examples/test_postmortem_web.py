"""The post-mortem's HTTP pool and websocket cases, on the converted fleet, on every backend.

- "Our HTTP client pool could contain closed clients": nginx closes idle
  keep-alive connections (``keepalive_timeout``) while they sit in the
  fleet's pool. Every one must report ``closed()`` with no read pending,
  the pool must drop them at checkout (none retried), and the next
  requests, a non-idempotent POST first, must succeed. The same client over
  raw asyncio streams (``closed()`` is ``is_closing()``) hands the dead
  connection out and the POST fails: the incident itself.
- "is_connected() was a false negative for server-side connections": a
  real ``websockets`` client connects to the realtime server and idles; the
  accepted connection reports connected, and a push still reaches it.
- "the unread-data check at lock release was wrong for websockets": a
  client's frames wait unread while the server pushes; the send lock's
  release check keeps the connection and the frames are read afterwards.
  The same check on a request/response connection drops it (the check has
  teeth; it only must not apply to full-duplex connections).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from fleet_support import NaiveStreamConnection

import shims

ROUND = 6  # concurrent requests: several pooled keep-alive connections


async def wait(predicate: Any, within: float = 10.0) -> bool:
    """Wait until ``predicate()`` holds; return False after ``within`` seconds."""
    deadline = shims.monotonic() + within
    while not predicate():
        if shims.monotonic() >= deadline:
            return False
        await shims.sleep(0.01)
    return True


async def outcomes(aws: list[Any]) -> list[Any]:
    return list(await shims.gather(*aws, return_exceptions=True))


def test_nginx_closing_idle_pooled_connections_fails_no_request(
    backend: str, fleet: Any, nginx: Any
) -> None:
    async def main() -> dict[str, Any]:
        client = fleet.http.HTTPClient(nginx.host, nginx.port, max_size=ROUND)
        try:
            before = await outcomes([client.get("/static/page.html") for _ in range(ROUND)])
            pooled = client.pool.idle()
            # keepalive_timeout 1 s, announced by no header: nginx closes them unasked.
            all_closed = await wait(lambda: all(conn.closed() for conn in pooled))
            after = await outcomes([client.post("/up/echo", b"not idempotent")])
            after += await outcomes([client.get("/static/page.html") for _ in range(ROUND)])
            return {
                "pooled": len(pooled),
                "idle all closed()": all_closed,
                "before": before,
                "after": after,
                "stats": dict(client.pool.stats),
                "discards": dict(client.pool.discards),
            }
        finally:
            client.close()

    outcome = shims.run(main, backend=backend)
    everything = outcome["before"] + outcome["after"]
    assert [r for r in everything if isinstance(r, BaseException)] == [], outcome
    assert outcome["idle all closed()"], f"a closed pooled connection reported open: {outcome}"
    page = fleet.nginx.body("/static/page.html", fleet.nginx.STATIC["page.html"])
    assert [r.body for r in outcome["after"]] == [b"not idempotent"] + [page] * ROUND
    assert outcome["pooled"] >= 2, outcome
    assert outcome["stats"]["retried"] == 0, outcome
    assert outcome["discards"].get("dead") == outcome["pooled"], outcome


def test_an_idle_websocket_client_is_connected(backend: str, fleet: Any) -> None:
    idle = threading.Event()
    release = threading.Event()

    def idler(conn: Any) -> Any:
        idle.set()
        release.wait(20)  # connected, saying nothing
        return json.loads(conn.recv(timeout=10))

    async def main() -> dict[str, Any]:
        server = fleet.realtime.RealtimeServer()  # no heartbeat: nothing crosses the wire
        port = await server.start()
        peer = fleet.ws_peers.WebsocketsClient(f"ws://127.0.0.1:{port}/", idler)
        try:
            await wait(lambda: idle.is_set() and len(server.sessions) == 1)
            await shims.sleep(1.0)
            (session,) = server.sessions
            conn = session.ws.conn
            seen = {
                "initiated_by": conn.initiated_by,
                "duplex": conn.duplex,
                "is_connected": conn.is_connected(),
                "closed": conn.closed(),
                "state": conn.state.name,
            }
            session.topics.add("news")
            seen["pushed"] = await server.publish("news", "still there?")
            release.set()
            await wait(peer.done.is_set, within=20.0)
            seen["received"] = peer.result
            seen["error"] = repr(peer.error) if peer.error else None
            return seen
        finally:
            release.set()
            server.close()

    seen = shims.run(main, backend=backend)
    assert seen == {
        "initiated_by": "peer",
        "duplex": True,
        "is_connected": True,
        "closed": False,
        "state": "OPEN",
        "pushed": 1,
        "received": {"type": "message", "topic": "news", "data": "still there?"},
        "error": None,
    }


@pytest.mark.parametrize("duplex", [True, False], ids=["websocket", "request-response"])
def test_unread_client_data_at_lock_release(backend: str, fleet: Any, duplex: bool) -> None:
    messages = [f"client message {n}" for n in range(3)]
    accepted: list[Any] = []

    def chatty(conn: Any) -> None:
        for text in messages:
            conn.send(text)
        conn.recv(timeout=10)  # our push, once the server sends it

    async def handler(conn: Any) -> None:
        accepted.append(await fleet.websocket.accept(conn, timeout=10.0))
        await shims.sleep(30.0)  # the test drives the websocket from here on

    async def main() -> dict[str, Any]:
        server = await shims.serve(handler, "127.0.0.1", 0, duplex=duplex)
        peer = fleet.ws_peers.WebsocketsClient(f"ws://127.0.0.1:{server.port}/", chatty)
        try:
            await wait(lambda: bool(accepted) and accepted[0].conn.unread_bytes() > 0)
            ws = accepted[0]
            await wait(lambda: ws.conn.unread_bytes() >= 3 * (len(messages[0]) + 6))
            seen: dict[str, Any] = {"unread before": ws.conn.unread_bytes() > 0}
            try:
                await ws.send("a push while the client talks")  # takes and releases the lock
            except ConnectionError as exc:
                seen["send error"] = type(exc).__name__
            seen["kept"] = not ws.conn.closed()
            seen["unread at release"] = (ws.unread_at_release, ws.dropped_at_release)
            if seen["kept"]:
                seen["read after"] = [await ws.receive(timeout=5.0) for _ in messages]
            await wait(peer.done.is_set, within=20.0)
            return seen
        finally:
            server.close()

    seen = shims.run(main, backend=backend)
    if duplex:
        assert seen == {
            "unread before": True,
            "kept": True,
            "unread at release": (1, 0),
            "read after": messages,
        }
    else:
        # The post-mortem's check, applied where it belongs: the connection is dropped.
        assert seen == {"unread before": True, "kept": False, "unread at release": (0, 1)}


def test_the_http_incident_on_a_naive_asyncio_port(fleet: Any, nginx: Any) -> None:
    """Without the shim, the same client over raw asyncio streams hands out a closed client."""

    async def main() -> dict[str, Any]:
        async def connect() -> Any:
            streams = await asyncio.open_connection(nginx.host, nginx.port)
            return fleet.http.HTTPConnection(
                NaiveStreamConnection(*streams), read_timeout=10.0, write_timeout=10.0
            )

        pool = fleet.http.Pool(
            connect,
            max_size=1,
            retry_on=(fleet.http.RemoteDisconnected,),
            retire=fleet.http.HTTPConnection.retire_reason,
        )
        headers = [("Host", f"{nginx.host}:{nginx.port}"), ("Content-Length", "4")]
        try:
            await pool.run(lambda c: c.exchange("POST", "/up/echo", headers, b"warm"))
            (pooled,) = pool.idle()
            # nginx's keepalive_timeout closes it; the stream saw the FIN...
            seen = {"eof seen": await wait(pooled.conn.reader.at_eof)}
            seen["closed()"] = pooled.closed()  # ...but the naive closed() says open
            seen["after"] = await outcomes(
                [pool.run(lambda c: c.exchange("POST", "/up/echo", headers, b"lost"))]
            )
            return seen
        finally:
            pool.close()

    seen = asyncio.run(main())
    assert seen["eof seen"] is True and seen["closed()"] is False, seen
    (error,) = seen["after"]
    assert isinstance(error, fleet.http.RemoteDisconnected), seen  # the incident, reproduced
