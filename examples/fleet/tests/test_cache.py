"""The cache service against the real Redis."""

from __future__ import annotations

import uuid

import pytest

from fleet.cache import redis as resp
from fleet.cache.service import cached, count_view, make_client

pytestmark = pytest.mark.services


def unique(name):
    return f"fleet:test:{name}:{uuid.uuid4().hex[:12]}"


@pytest.mark.parity
async def test_commands(redis, parity):
    client = make_client(redis)
    key = unique("k")
    try:
        parity.record("ping", await client.ping())
        parity.record("get missing", await client.get(key))
        parity.record("set", await client.set(key, "v\r\n1", ex=30))
        parity.record("get", await client.get(key))
        with pytest.raises(resp.RedisError) as not_int:
            await client.incr(key)
        parity.record("incr on text", not_int.value.kind)
        parity.record("del", await client.delete(key, unique("none")))
        parity.record("views", [await count_view(client, key) for _ in range(3)])
        calls = []

        async def compute():
            calls.append(1)
            return {"answer": 42}

        first = await cached(client, key, compute)
        second = await cached(client, key, compute)
        parity.record("cached", (first, second, len(calls)))
        await client.delete(f"fleet:views:{key}", f"fleet:cache:{key}")
    finally:
        client.close()
    parity.record("cleanups after close", client.cleanups)
    parity.record("live after close", len(client.live))


@pytest.mark.parity
async def test_subscribe_receives_pushes_and_cleans_up_on_peer_close(redis, parity):
    client = make_client(redis)
    channel = unique("chan")
    sub = await client.subscribe(channel, name=channel.replace(":", "-"))
    try:
        parity.record("channels", sorted(sub.channels) == [channel])
        parity.record("receivers", await client.publish(channel, "hello"))
        got_channel, data = await sub.next_message(timeout=5.0)
        parity.record("message", (got_channel == channel, data))
        # The server drops the subscriber: the cleanup must run on this peer close too.
        listing = await client.pool.run(lambda c: c.call("CLIENT", "LIST", "TYPE", "pubsub"))
        (sub_id,) = [
            line.split()[0].split(b"=")[1]
            for line in listing.splitlines()
            if f" name={channel.replace(':', '-')} ".encode() in line
        ]
        parity.record(
            "killed", await client.pool.run(lambda c: c.call("CLIENT", "KILL", "ID", sub_id))
        )
        with pytest.raises(EOFError):
            await sub.next_message(timeout=5.0)
        parity.record("cleanup reason", sub.rconn.ended)
        parity.record("channels after", sorted(sub.channels))
    finally:
        sub.close()
        client.close()
    parity.record("cleanups", client.cleanups)


@pytest.mark.parity
async def test_pooled_connection_closed_by_server_is_cleaned_up_and_replaced(
    redis, parity, wait_until
):
    client = make_client(redis, max_size=1)
    try:
        await client.ping()
        (rconn,) = client.live
        client_id = await client.pool.run(lambda c: c.call("CLIENT", "ID"))
        await client.pool.run(lambda c: c.call("CLIENT", "KILL", "ID", client_id, "SKIPME", "no"))
        await wait_until(rconn.closed)
        # Idle in the pool and dead: checkout must notice, clean it up and dial anew.
        parity.record("ping", await client.ping())
        parity.record("ended", rconn.ended)
        parity.record("cleanups before close", dict(client.cleanups))
        parity.record("stats", client.pool.stats)
    finally:
        client.close()
    parity.record("cleanups", client.cleanups)
