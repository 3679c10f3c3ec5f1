"""The post-mortem, reproduced on the converted fleet against the real MariaDB and Redis.

A proxy between the fleet's pools and the servers closes every pooled
connection between two rounds of queries: first as a DB proxy's maximum
connection lifetime (plain FIN), then as a server does before it drops a
connection (a real MySQL ERR packet, then FIN), and for Redis with RST too.
On every backend, the next queries must succeed and no EOFError may reach
the caller: the pool sees the dead connections at checkout (``closed()`` is
right on the shim) or, at worst, retries an idempotent read once.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import pytest

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


async def gather_outcomes(aws: list[Any]) -> list[Any]:
    """Run ``aws`` concurrently; return results, with exceptions in place."""
    return list(await shims.gather(*aws, return_exceptions=True))


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
                before = await gather_outcomes([docs.get(doc_id) for _ in range(ROUND)])
                pooled = proxy.live_connections
                opened = proxy.total_connections
                close_pooled(proxy, fault)
                await proxy.until(lambda p: p.live_connections == 0, timeout=10.0)
                proxy.clear()
                after = await gather_outcomes([docs.get(doc_id) for _ in range(ROUND)])
                after.append(await docs.healthy())
                return {
                    "before": before,
                    "after": after,
                    "pooled": pooled,
                    "new connections": proxy.total_connections - opened,
                    "stats": dict(pool.stats),
                }
            finally:
                await docs.delete(doc_id)
                pool.close()

    outcome = shims.run(main, backend=backend)
    eofs = [r for r in outcome["before"] + outcome["after"] if isinstance(r, EOFError)]
    assert eofs == [], f"EOFError reached the caller on {backend}: {eofs!r}"
    errors = [r for r in outcome["after"] if isinstance(r, BaseException)]
    assert errors == [], f"queries failed after the proxy closed the pool on {backend}: {errors!r}"
    assert all(doc["title"] == "post-mortem" for doc in outcome["after"][:-1])
    assert outcome["after"][-1] is True
    # The scenario really happened: pooled connections died and were replaced.
    assert outcome["pooled"] >= 2, outcome
    assert outcome["new connections"] >= 1, outcome
    assert outcome["stats"]["discarded"] >= outcome["pooled"] - 1, outcome


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
                await client.set(key, "v", ex=30)
                before = await gather_outcomes([client.get(key) for _ in range(ROUND)])
                pooled = len(client.live)
                close_pooled(proxy, fault)
                await proxy.until(lambda p: p.live_connections == 0, timeout=10.0)
                proxy.clear()
                after = await gather_outcomes([client.get(key) for _ in range(ROUND)])
                after.append(await client.ping())
                cleanups_before_close = dict(client.cleanups)
                await client.delete(key)
            finally:
                client.close()
            return {
                "before": before,
                "after": after,
                "pooled": pooled,
                "cleanups": cleanups_before_close,
                "live after close": len(client.live),
            }

    outcome = shims.run(main, backend=backend)
    results = outcome["before"] + outcome["after"]
    eofs = [r for r in results if isinstance(r, EOFError)]
    assert eofs == [], f"EOFError reached the caller on {backend}: {eofs!r}"
    assert outcome["after"] == [b"v"] * ROUND + [True], outcome
    assert outcome["pooled"] >= 2, outcome
    # Every connection the proxy killed was cleaned up as closed by the peer.
    assert outcome["cleanups"]["peer"] == outcome["pooled"], outcome
    assert outcome["live after close"] == 0, outcome
