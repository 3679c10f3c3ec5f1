"""Bounded soak: 100 concurrent clients through a proxy that kills a connection every 100 ms.

The clients call the fleet's (converted) renderer over its RPC pool. Each
request carries a unique key and checks that the answer carries it back.
Outcomes are counted per backend and printed; the invariants are asserted:
every request either succeeds or fails with a typed ``shims`` error, none is
lost (no answer and no error), none gets another request's answer, and no
bare ``EOFError`` (one that is not a typed ``shims`` error) reaches a caller.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any

import pytest
from soak_support import soak

import shims
from shims.testing import FaultProxy

pytestmark = pytest.mark.slow

CLIENTS = 100
DURATION = 4.0  # seconds of load per backend; the whole test stays far under 20 s
KILL_EVERY = 0.1
DRAIN_DEADLINE = 10.0  # after the load stops, every request must have finished by then


def test_soak_kill_a_random_connection_every_100ms(backend: str, fleet: Any) -> None:
    async def main() -> collections.Counter[str]:
        counts: collections.Counter[str] = collections.Counter()
        renderer = fleet.renderer.Renderer()
        port = await renderer.start()
        with FaultProxy("127.0.0.1", port) as proxy:
            client = fleet.client.RenderClient(
                proxy.host, proxy.port, max_size=20, write_timeout=5.0, read_timeout=5.0
            )
            keys = itertools.count()
            stop = shims.Event()

            async def one_client(n: int) -> None:
                while not stop.is_set():
                    key = f"c{n}-{next(keys)}"
                    counts["started"] += 1
                    try:
                        answer = await client.render(f"doc-{n}", pages=1 + n % 3, key=key)
                    except shims.ShimError as exc:
                        counts[f"typed {type(exc).__name__}"] += 1
                    except EOFError as exc:
                        counts[f"bare EOFError {type(exc).__name__}"] += 1
                    except Exception as exc:
                        counts[f"untyped {type(exc).__name__}"] += 1
                    else:
                        counts["ok" if answer["key"] == key else "wrong answer"] += 1
                    counts["finished"] += 1

            async def killer() -> None:
                while not stop.is_set():
                    await shims.sleep(KILL_EVERY)
                    try:
                        proxy.kill_one(rst=counts["kills"] % 2 == 1)
                        counts["kills"] += 1
                    except LookupError:
                        pass  # nothing live at this instant

            await soak(
                one_client, clients=CLIENTS, background=[killer], duration=DURATION,
                drain_deadline=DRAIN_DEADLINE, stop=stop.set, counts=counts,
            )  # fmt: skip
            client.close()
            counts["connections"] = proxy.total_connections
        renderer.close()
        counts["lost"] = counts["started"] - counts["finished"]
        counts["retried"] = client.pool.stats["retried"]
        return counts

    counts = shims.run(main, backend=backend)
    print(f"\nsoak[{backend}]: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    assert counts["kills"] >= DURATION / KILL_EVERY / 2, counts
    assert counts["ok"] >= 1000, counts
    assert counts["lost"] == 0, counts
    assert counts["wrong answer"] == 0, counts
    assert counts["drain timed out"] == 0, counts
    bare = {k: v for k, v in counts.items() if k.startswith(("bare", "untyped"))}
    assert bare == {}, counts
    # The proxy really broke requests in flight, and the pool's retry absorbed most of them.
    assert counts["retried"] >= 1, counts
