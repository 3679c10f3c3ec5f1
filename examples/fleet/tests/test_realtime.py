"""The realtime server: client-initiated connections, pushes at any time."""

from __future__ import annotations

import pytest

from fleet.realtime.client import RealtimeClient
from fleet.realtime.server import RealtimeServer


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
    finally:
        alice.close()
        bob.close()
        server.close()


@pytest.mark.parity
async def test_heartbeats_arrive_unasked_and_close_ends_the_stream(parity):
    server = RealtimeServer(heartbeat=0.05)
    port = await server.start()
    client = await RealtimeClient.connect("127.0.0.1", port)
    try:
        beats = [await client.next_of("heartbeat"), await client.next_of("heartbeat")]
        parity.record("beats in order", beats[0]["beat"] < beats[1]["beat"])
        server.close()
        parity.record("after server close", await client.next_of("end-of-stream"))
    finally:
        client.close()
        server.close()
