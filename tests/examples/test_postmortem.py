"""The post-mortem, reproduced on the converted fleet against the real MariaDB and Redis.

A proxy between the fleet's pools and the servers closes every pooled
connection between two rounds of queries: as a DB proxy's maximum connection
lifetime (plain FIN), as a server does before it drops a connection (a real
MySQL ERR packet, then FIN), and for Redis with RST too. On every backend:

- every idle pooled connection reports ``closed()`` without any read pending
  (on raw asyncio streams it never did: the post-mortem's root cause);
- the next queries succeed, a non-idempotent write included (nothing may be
  retried: the pool must have discarded every dead connection at checkout),
  and no EOFError reaches the caller.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fleet_support import NaiveStreamConnection

import shims
from shims.testing import FaultProxy

pytestmark = pytest.mark.services

ROUND = 6  # concurrent requests per round: several pooled connections


def mysql_err_packet(code: int, sqlstate: str, message: str) -> bytes:
    """Return an unsolicited ERR packet (sequence id 0), as a server sends before closing."""
    payload = b"\xff" + struct.pack("<H", code) + b"#" + sqlstate.encode() + message.encode()
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


KILLED = mysql_err_packet(1927, "70100", "Connection was killed")
INACTIVE = mysql_err_packet(
    4031,
    "HY000",
    "The client was disconnected by the server because of inactivity. "
    "See wait_timeout and interactive_timeout for configuring this behavior.",
)


def close_pooled(proxy: FaultProxy, fault: str) -> None:
    """Apply ``fault`` to every live proxied connection."""
    if fault == "max_lifetime":
        proxy.max_lifetime(0.0)
    elif fault == "err_1927_then_fin":
        proxy.inject_and_close(KILLED)
    elif fault == "err_4031_then_fin":
        proxy.inject_and_close(INACTIVE)
    elif fault == "rst":
        proxy.close_all(rst=True)
    else:
        raise AssertionError(f"unknown fault {fault!r}")


async def all_closed(conns: Any, within: float = 5.0) -> bool:
    """Wait until every connection reports ``closed()``; return False after ``within`` s."""
    deadline = shims.monotonic() + within
    while not all(conn.closed() for conn in conns):
        if shims.monotonic() >= deadline:
            return False
        await shims.sleep(0.005)
    return True


async def outcomes(aws: list[Any]) -> list[Any]:
    """Run ``aws`` concurrently; return results, with exceptions in place."""
    return list(await shims.gather(*aws, return_exceptions=True))


async def kill_pooled(proxy: FaultProxy, fault: str, idle: Callable[[], Any]) -> dict[str, Any]:
    """Close every pooled connection through the proxy; report what the client saw."""
    pooled = proxy.live_connections
    close_pooled(proxy, fault)
    await proxy.until(lambda p: p.live_connections == 0, timeout=10.0)
    proxy.clear()
    return {"pooled": pooled, "idle all closed()": await all_closed(idle())}


def assert_no_eof(results: list[Any], backend: str) -> None:
    eofs = [r for r in results if isinstance(r, EOFError)]
    assert eofs == [], f"EOFError reached the caller on {backend}: {eofs!r}"


@pytest.mark.parametrize("fault", ["max_lifetime", "err_1927_then_fin", "err_4031_then_fin"])
def test_docs_survive_the_proxy_closing_pooled_connections(
    backend: str, mariadb: Any, fleet: Any, fault: str
) -> None:
    doc_id = f"pm-{uuid.uuid4().hex[:12]}"

    async def main() -> dict[str, Any]:
        with FaultProxy(mariadb.host, mariadb.port) as proxy:
            pool = fleet.docs.make_pool(mariadb, host=proxy.host, port=proxy.port, max_size=ROUND)
            docs = fleet.docs.Docs(pool)
            try:
                await docs.ensure_schema()
                await docs.save(doc_id, "post-mortem", "body")
                before = await outcomes([docs.get(doc_id) for _ in range(ROUND)])
                seen = await kill_pooled(proxy, fault, pool.idle)
                opened = proxy.total_connections
                # Not idempotent, so never retried: only a right closed() saves it.
                after = await outcomes([docs.save(doc_id, "after", "body")])
                after += await outcomes([docs.get(doc_id) for _ in range(ROUND)])
                after.append(await docs.healthy())
                return {
                    **seen,
                    "before": before,
                    "after": after,
                    "new connections": proxy.total_connections - opened,
                    "stats": dict(pool.stats),
                }
            finally:
                await docs.delete(doc_id)
                pool.close()

    outcome = shims.run(main, backend=backend)
    assert_no_eof(outcome["before"] + outcome["after"], backend)
    assert outcome["idle all closed()"], f"a dead pooled connection reported open: {outcome}"
    assert outcome["after"][0] == 2, outcome
    assert [doc["title"] for doc in outcome["after"][1:-1]] == ["after"] * ROUND, outcome
    assert outcome["after"][-1] is True
    # The scenario really happened: pooled connections died, were dropped at checkout
    # (none had to be retried) and were replaced by new ones.
    assert outcome["pooled"] >= 2, outcome
    assert outcome["stats"]["retried"] == 0, outcome
    assert outcome["stats"]["discarded"] == outcome["pooled"], outcome
    assert outcome["new connections"] >= 1, outcome


@pytest.mark.parametrize("fault", ["max_lifetime", "rst"])
def test_cache_survives_the_proxy_closing_pooled_connections(
    backend: str, redis: Any, fleet: Any, fault: str
) -> None:
    key = f"fleet:pm:{uuid.uuid4().hex[:12]}"

    async def main() -> dict[str, Any]:
        with FaultProxy(redis.host, redis.port) as proxy:
            client = fleet.cache.make_client(
                redis, host=proxy.host, port=proxy.port, max_size=ROUND
            )
            try:
                await client.set(key, "41", ex=30)
                before = await outcomes([client.get(key) for _ in range(ROUND)])
                seen = await kill_pooled(proxy, fault, client.pool.idle)
                # INCR is not idempotent, so never retried: only a right closed() saves it.
                after = await outcomes([client.incr(key)])
                after += await outcomes([client.get(key) for _ in range(ROUND)])
                after.append(await client.ping())
                cleanups = dict(client.cleanups)
                await client.delete(key)
            finally:
                client.close()
            return {
                **seen,
                "before": before,
                "after": after,
                "cleanups": cleanups,
                "stats": dict(client.pool.stats),
                "live after close": len(client.live),
            }

    outcome = shims.run(main, backend=backend)
    assert_no_eof(outcome["before"] + outcome["after"], backend)
    assert outcome["idle all closed()"], f"a dead pooled connection reported open: {outcome}"
    assert outcome["after"] == [42] + [b"42"] * ROUND + [True], outcome
    assert outcome["pooled"] >= 2, outcome
    assert outcome["stats"]["retried"] == 0, outcome
    # The per-connection cleanup ran for every connection the peer closed or reset...
    assert outcome["cleanups"] == {"local": 0, "peer": outcome["pooled"]}, outcome
    # ...and for the rest when the client closed them.
    assert outcome["live after close"] == 0, outcome


def test_the_incident_on_a_naive_asyncio_port(mariadb: Any, fleet: Any) -> None:
    """Without the shim, the same pool over raw asyncio streams lets EOFError through."""

    async def main() -> dict[str, Any]:
        with FaultProxy(mariadb.host, mariadb.port) as proxy:

            async def connect() -> Any:
                streams = await asyncio.open_connection(proxy.host, proxy.port)
                session = fleet.mysql.MySQLConnection(NaiveStreamConnection(*streams), timeout=10.0)
                await session.handshake(mariadb.user, mariadb.password, mariadb.database)
                return session

            pool = fleet.pool.Pool(connect, max_size=1)
            try:
                await pool.run(lambda db: db.query("SELECT 1"))
                seen = await kill_pooled(proxy, "max_lifetime", pool.idle)
                seen["idle all closed()"] = await all_closed(pool.idle(), within=0.5)
                seen["after"] = await outcomes([pool.run(lambda db: db.query("SELECT 1"))])
            finally:
                pool.close()
            return seen

    outcome = asyncio.run(main())
    assert outcome["idle all closed()"] is False, outcome
    (error,) = outcome["after"]
    assert isinstance(error, EOFError), outcome  # asyncio.IncompleteReadError, as in production
