"""Bounded soak: many clients over the fleet's pooled HTTP client, through nginx's keep-alive closes.

50 clients fetch static files, chunked and large upstream bodies through a
``FaultProxy`` in front of the real nginx for a fixed time per backend.
Connections die three ways: nginx closes them after ``keepalive_requests``
(``Connection: close``) and after ``keepalive_timeout``, and the proxy
kills them: those that sit idle for longer than ``PROXY_IDLE`` (a load
balancer reaping them with a FIN, unannounced), and, in every other quiet
phase, all of them at once with an RST (a load balancer restarting). Each
client pauses a random moment between requests, and every ``BURST``
seconds all of them pause for ``QUIET`` seconds together, so pooled
connections do sit idle and die in the pool; the next burst checks them
out. The RSTs are sent once no request is in flight: a connection killed
while its first request is on the wire fails that request, by design
(only a reused connection's death is retried). Every
request is idempotent and checks its body against the one the path
defines. Asserted on every backend: 0 failed requests, 0 wrong bodies,
0 EOFError reaching a caller, nothing lost; the pool's discards by reason
are printed.
"""

from __future__ import annotations

import collections
import random
from typing import Any

import pytest
from soak_support import soak

import shims
from shims.testing import FaultProxy

pytestmark = pytest.mark.slow

CLIENTS = 50
DURATION = 5.0  # seconds of load per backend
PROXY_IDLE = 0.4  # the proxy reaps connections idle this long (far above its own scheduling jitter)
DRAIN_DEADLINE = 15.0
BURST = 0.6
THINK = 0.2  # at most this long between one client's requests
QUIET = 2 * PROXY_IDLE
PATHS = {
    "/static/small.txt": 1_000,
    "/static/page.html": 20_000,
    "/up/chunked/30000": 30_000,
    "/up/large/200000": 200_000,
    "/hinted/small.txt": 1_000,
}


def test_soak_http_client_across_keep_alive_closes(backend: str, fleet: Any, nginx: Any) -> None:
    expected = {
        path: fleet.nginx.body(path.replace("/hinted/", "/static/"), size)
        for path, size in PATHS.items()
    }

    async def main() -> tuple[collections.Counter[str], dict[str, int]]:
        counts: collections.Counter[str] = collections.Counter()
        rng = random.Random(14)
        with FaultProxy(nginx.host, nginx.port) as proxy:
            proxy.idle_timeout(PROXY_IDLE)
            client = fleet.http.HTTPClient(proxy.host, proxy.port, max_size=16, read_timeout=10.0)
            stop = shims.Event()
            in_flight = [0]
            load = shims.Event()
            load.set()

            async def conductor() -> None:
                while not stop.is_set():
                    await shims.sleep(BURST)
                    load.clear()
                    counts["quiet phases"] += 1
                    quiet_until = shims.monotonic() + QUIET
                    if counts["quiet phases"] % 2 == 0:
                        while in_flight[0] and shims.monotonic() < quiet_until:
                            await shims.sleep(0.005)
                        if not in_flight[0]:
                            counts["proxy RST kills"] += proxy.live_connections
                            proxy.close_all(rst=True)
                    await shims.sleep(max(0.0, quiet_until - shims.monotonic()))
                    load.set()

            async def one_client(n: int) -> None:
                paths = sorted(PATHS)
                while not stop.is_set():
                    await load.wait()
                    if not load.is_set():
                        continue  # woken, then a quiet phase began before this task ran
                    path = paths[(n + counts["started"]) % len(paths)]
                    counts["started"] += 1
                    in_flight[0] += 1
                    try:
                        response = await client.get(path)
                    except EOFError as exc:
                        counts[f"EOFError {type(exc).__name__}"] += 1
                    except Exception as exc:
                        counts[f"failed {type(exc).__name__}"] += 1
                    else:
                        right = response.status == 200 and response.body == expected[path]
                        counts["ok" if right else "wrong body"] += 1
                    in_flight[0] -= 1
                    counts["finished"] += 1
                    await shims.sleep(rng.random() * THINK)

            def stop_all() -> None:
                stop.set()
                load.set()  # clients parked in a quiet phase wake up and see ``stop``

            await soak(
                one_client, clients=CLIENTS, background=[conductor], duration=DURATION,
                drain_deadline=DRAIN_DEADLINE, stop=stop_all, counts=counts,
            )  # fmt: skip
            client.close()
            counts["connections"] = proxy.total_connections
            counts["proxy idle kills"] = proxy.close_reasons.count("idle_timeout")
        counts["lost"] = counts["started"] - counts["finished"]
        counts["retried"] = client.pool.stats["retried"]
        return counts, dict(client.pool.discards)

    counts, discards = shims.run(main, backend=backend)
    print(
        f"\nsoak-http[{backend}]: "
        + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        + "\n  pool discards by reason: "
        + ", ".join(f"{k}={v}" for k, v in sorted(discards.items()))
    )
    failed = {k: v for k, v in counts.items() if k.startswith(("EOFError", "failed"))}
    assert failed == {}, counts
    assert counts["wrong body"] == 0, counts
    assert counts["lost"] == 0 and counts["drain timed out"] == 0, counts
    assert counts["ok"] >= 500, counts
    # The closes really happened, by nginx and by the proxy, and the pool saw them.
    assert counts["proxy idle kills"] >= 1 and counts["proxy RST kills"] >= 1, counts
    assert discards.get("connection-close", 0) >= 10, discards
    assert discards.get("dead", 0) + discards.get("dead-in-use", 0) >= 1, discards
