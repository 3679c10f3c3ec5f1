"""The realtime server over WebSocket: our peers and the real ``websockets`` library."""

from __future__ import annotations

import json

import pytest
from legacy import runtime
from websockets.exceptions import ConnectionClosedError

from fleet.peers.ws import RawPeer, WebsocketsClient, WebsocketsServer, frame, text
from fleet.realtime import websocket
from fleet.realtime.client import RealtimeClient
from fleet.realtime.server import RealtimeServer


async def finished(wait_until, peer):
    """Wait for a ``websockets`` client thread; return its result (raising what it raised)."""
    await wait_until(peer.done.is_set, within=20.0)
    peer.join()
    if peer.error is not None:
        raise peer.error
    return peer.result


@pytest.mark.parity
async def test_publish_reaches_subscribers_while_they_talk(parity):
    server = RealtimeServer()
    port = await server.start()
    alice = await RealtimeClient.connect("127.0.0.1", port)
    bob = await RealtimeClient.connect("127.0.0.1", port)
    try:
        await alice.send(op="sub", topic="news")
        parity.record("subscribed", await alice.next_push())
        # Alice pings and Bob publishes at the same time: both directions stay live.
        await alice.send(op="ping", seq=1)
        await bob.send(op="pub", topic="news", data={"headline": "shipped"})
        got = [await alice.next_push(), await alice.next_push()]
        parity.record("alice got", sorted(got, key=lambda m: m["type"]))
        parity.record("bob got", await bob.next_push())
        parity.record("server push", await server.publish("news", "from the server"))
        parity.record("alice pushed", await alice.next_push())
        parity.record("accepted duplex", [s.ws.conn.duplex for s in server.sessions])
    finally:
        alice.close()
        bob.close()
        server.close()


@pytest.mark.parity
async def test_heartbeats_and_pings_arrive_unasked_and_shutdown_sends_1001(parity, wait_until):
    server = RealtimeServer(heartbeat=0.05)
    port = await server.start()
    client = await RealtimeClient.connect("127.0.0.1", port)
    try:
        beats = [await client.next_of("heartbeat"), await client.next_of("heartbeat")]
        parity.record("beats in order", beats[0]["beat"] < beats[1]["beat"])
        (session,) = server.sessions
        # Our client answered the server's websocket pings by itself.
        await wait_until(lambda: session.ws.pongs >= 2)
        parity.record("client ping answered", await client.ping() >= 1)
        await server.shutdown()
        parity.record("after shutdown", await client.next_of("end-of-stream"))
        parity.record("client saw", (client.ws.ended, client.ws.close_code))
        parity.record("server cleanups", server.cleanups)
    finally:
        client.close()
        server.close()


@pytest.mark.parity
async def test_the_websockets_library_as_client(parity, wait_until):
    server = RealtimeServer(heartbeat=0.05)
    port = await server.start()
    listener = await RealtimeClient.connect("127.0.0.1", port)
    uri = f"ws://127.0.0.1:{port}/"

    def talk(conn):
        conn.send(json.dumps({"op": "sub", "topic": "news"}))
        seen = {}
        while not {"message", "pong"} <= seen.keys():  # what the listener publishes, our pong
            message = json.loads(conn.recv(timeout=10))
            seen.setdefault(message["type"], message)
            if message["type"] == "subscribed":
                conn.send(json.dumps({"op": "ping", "seq": 7}))
        pong = conn.ping(b"are you there")
        answered = pong.wait(10)
        conn.close(4000, "done here")
        return [seen[kind] for kind in ("subscribed", "message", "pong")], answered

    def kicked(conn):
        conn.send(json.dumps({"op": "bye", "code": 4001, "reason": "kicked"}))
        try:
            for _ in conn:  # until the server's close frame
                pass
        except ConnectionClosedError:
            pass  # a close code other than 1000 or 1001 ends iteration with this

    try:
        peer = WebsocketsClient(uri, talk)
        await wait_until(
            lambda: peer.done.is_set() or any("news" in s.topics for s in server.sessions),
            within=20.0,
        )
        await listener.send(op="pub", topic="news", data="hello websockets")
        seen, answered = await finished(wait_until, peer)
        parity.record("websockets got", seen)
        parity.record("our pong reached it", answered)
        parity.record("its close", (peer.close_code, peer.close_reason))
        other = WebsocketsClient(uri, kicked)
        await finished(wait_until, other)
        parity.record("our close reached it", (other.close_code, other.close_reason))
        await wait_until(lambda: len(server.closes) == 2)
        parity.record("server closes", server.closes)
        parity.record("listener unaffected", await listener.next_of("published"))
    finally:
        listener.close()
        server.close()


@pytest.mark.parity
async def test_our_client_against_the_websockets_library_server(parity, wait_until):
    with WebsocketsServer() as peer:
        client = await RealtimeClient.connect("127.0.0.1", peer.port, "/feed")
        try:
            parity.record("greeting", await client.next_push())
            await client.send(op="hello", n=1)
            parity.record("echo", await client.next_push())
            parity.record("pong", await client.ping())
            await client.send(op="close", code=4002, reason="server says bye")
            parity.record("server closed", await client.next_push())
            parity.record("how", (client.ws.ended, client.ws.close_code, client.ws.close_reason))
        finally:
            client.close()
        leaving = await RealtimeClient.connect("127.0.0.1", peer.port, "/other")
        try:
            await leaving.next_push()
            parity.record("we closed", await leaving.disconnect(4003, "client says bye"))
            with pytest.raises(websocket.ConnectionClosed) as late:
                await leaving.send(op="too late")
            parity.record("send after close", (late.value.code, late.value.how))
        finally:
            leaving.close()
        await wait_until(lambda: len(peer.closes) == 2)
        parity.record("server saw", peer.closes)


@pytest.mark.parity
@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
async def test_a_client_vanishing_without_a_close_frame_runs_the_cleanup(parity, wait_until, rst):
    server = RealtimeServer()
    port = await server.start()
    other = await RealtimeClient.connect("127.0.0.1", port)
    raw = RawPeer("127.0.0.1", port)
    try:
        raw.send(text({"op": "sub", "topic": "news"}))
        # Read all it will get first: a FIN from a socket with unread data is sent as an RST.
        await wait_until(lambda: b"subscribed" in raw.received())
        raw.vanish(rst=rst)
        await wait_until(lambda: len(server.sessions) == 1)
        parity.record("cleanup", server.closes)
        parity.record("subscribers left", await server.publish("news", "anyone?"))
        await other.send(op="ping", seq=2)
        parity.record("other client unaffected", await other.next_push())
    finally:
        other.close()
        server.close()


BAD_FRAMES = {
    "reserved opcode": (frame(0x3, b"?"), websocket.ProtocolViolation, 1002),
    "unmasked client frame": (frame(0x1, b"hi", masked=False), websocket.ProtocolViolation, 1002),
    "invalid utf-8": (frame(0x1, b"\xff\xfe"), websocket.ProtocolViolation, 1007),
    "over the size limit": (frame(0x2, b"z" * 5000), websocket.MessageTooBig, 1009),
}


@pytest.mark.parity
@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
async def test_a_bad_frame_closes_that_connection_only(parity, wait_until, kind):
    data, _error, code = BAD_FRAMES[kind]
    server = RealtimeServer(max_message=1000)
    port = await server.start()
    other = await RealtimeClient.connect("127.0.0.1", port)
    raw = RawPeer("127.0.0.1", port)
    try:
        raw.send(data)
        await wait_until(lambda: len(server.closes) == 1)
        parity.record("cleanup", server.closes)
        parity.record("close code sent", raw.close_code() == code)
        await other.send(op="ping", seq=3)
        parity.record("other client unaffected", await other.next_push())
    finally:
        raw.vanish()
        other.close()
        server.close()


class BadServer:
    """A websocket server that completes the handshake, then sends ``data`` raw."""

    def __init__(self, data):
        self.data = data
        self.listener = None

    @runtime.coroutine
    def start(self):
        self.listener = yield runtime.listen("127.0.0.1", 0, self._handle, duplex=True)
        return self.listener.port

    async def _handle(self, conn):
        await websocket.accept(conn, timeout=10.0)
        await conn.write(self.data, timeout=10.0)
        await runtime.sleep(10.0)  # the client must act on the frame, not on our close

    def close(self):
        self.listener.close()


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["masked server frame", "over the size limit"])
async def test_our_client_rejects_a_bad_frame_from_the_server(parity, kind):
    if kind == "masked server frame":
        data, code = frame(0x1, b"hi", masked=True), 1002
    else:
        data, code = frame(0x2, b"z" * 5000, masked=False), 1009
    server = BadServer(data)
    port = await server.start()
    client = await RealtimeClient.connect("127.0.0.1", port, max_message=1000)
    try:
        parity.record("end of stream", await client.next_push())
        parity.record("error", (type(client.error).__name__, client.error.code == code))
        parity.record("closed", client.ws.conn.closed())
    finally:
        client.close()
        server.close()
